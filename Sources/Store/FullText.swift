import Crypto
import Foundation
import GRDB

/// What `audit search --text` gives SQLite's full-text MATCH.
public enum FullTextQuery {
    public struct SyntaxError: Error, CustomStringConvertible, Equatable {
        public var text: String
        public var description: String {
            "the full-text query \(text) is not valid: put text with punctuation in double quotes (\"rm -rf\"), "
                + "and use AND, OR, NOT between words"
        }
    }

    /// Each word a quoted phrase (FTS5 reads `-rf` or `a:b` as syntax); AND, OR, NOT and a `*`
    /// suffix kept. Text with quotes, parentheses or NEAR is the user's own FTS5 syntax.
    public static func match(_ text: String) -> String {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        if text.contains(where: { "\"()".contains($0) }) || words.contains(where: { $0 == "NEAR" || $0.hasPrefix("NEAR(") }) {
            return text
        }
        return words.map { w -> String in
            if ["AND", "OR", "NOT"].contains(w) { return String(w) }
            if w.count > 1, w.hasSuffix("*") { return "\"\(w.dropLast())\"*" }
            return "\"\(w)\""
        }.joined(separator: " ")
    }

    /// SQLite's words for a MATCH it cannot read (the store reports them as `… failed: MESSAGE`).
    static func isSyntaxError(_ message: String) -> Bool {
        ["failed: fts5: ", "failed: no such column", "failed: unterminated string", "malformed MATCH"].contains { message.contains($0) }
    }
}

/// A full-text hit: where in which recording to replay from.
public struct TextHit: Sendable, Equatable {
    public var sessionID: String
    public var seq: Int64
    /// Microseconds since the session started.
    public var offset: Int64
    public var snippet: String

    public init(sessionID: String, seq: Int64, offset: Int64, snippet: String) {
        self.sessionID = sessionID
        self.seq = seq
        self.offset = offset
        self.snippet = snippet
    }
}

/// The full-text index of recordings holds words only (a contentless FTS5 table): the text is
/// in the chunks already, so keeping a second copy doubled what a busy store grew by. A hit's
/// snippet is made from its chunk, rendered again, when it is shown.
extension SQLiteStore {
    static func registerFullText(_ m: inout DatabaseMigrator) {
        // The index of v2 kept every chunk's text beside its words. Its words are indexed again
        // at the next search; `recording_index` numbers them for good (AUTOINCREMENT), so the
        // words of a pruned chunk can never be taken for a later chunk's.
        m.registerMigration("v7 contentless full-text index") { db in
            try db.execute(sql: """
                DROP TABLE recording_text;
                DROP TABLE recording_index;
                CREATE TABLE recording_index (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    session_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    text_hash BLOB,
                    UNIQUE (session_id, seq)
                );
                CREATE VIRTUAL TABLE recording_words USING fts5(text, content='', columnsize=0);
                """)
        }
    }

    /// Indexes what was recorded since the last call; returns how many chunks it added. The
    /// rendering (the slow part) happens outside any transaction, and the rows go in in short
    /// transactions (~50 ms each), so a first search over a big store never holds the write lock
    /// long enough to make a session wait on its chunks.
    @discardableResult
    public func indexRecordings(batch: Int = 200, transactionMicroseconds: Int64 = 50_000) throws -> Int {
        var total = 0
        while true {
            let pending: [Chunk] = try database.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT c.* FROM chunks c LEFT JOIN recording_index i ON i.session_id = c.session_id AND i.seq = c.seq
                    WHERE i.seq IS NULL ORDER BY c.id LIMIT ?
                    """, arguments: [batch]).map(Self.chunk)
            }
            if pending.isEmpty { return total }
            let rows = pending.map { c in (chunk: c, text: Transcript.searchableText(c.decodedFrames() ?? [])) }
            var next = 0
            while next < rows.count {
                try database.write { db in
                    let started = DispatchTime.now().uptimeNanoseconds
                    repeat {
                        let (c, text) = rows[next]
                        // Another search may be indexing the same chunks: the first one's words stand.
                        let hash: Data? = text.isEmpty ? nil : Data(Self.textHash(text))
                        try db.execute(sql: "INSERT OR IGNORE INTO recording_index (session_id, seq, text_hash) VALUES (?, ?, ?)",
                                       arguments: [c.sessionID, c.seq, hash])
                        if db.changesCount > 0 && !text.isEmpty {
                            try db.execute(sql: "INSERT INTO recording_words (rowid, text) VALUES (?, ?)", arguments: [db.lastInsertedRowID, text])
                        }
                        next += 1
                    } while next < rows.count && Int64((DispatchTime.now().uptimeNanoseconds - started) / 1000) < transactionMicroseconds
                }
            }
            total += pending.count
        }
    }

    /// Full-text search: words (each a phrase, so `rm -rf` is two words, not a column filter),
    /// prefix*, AND/OR/NOT; with quotes, parentheses or NEAR the text is FTS5 syntax as written.
    /// The oldest hits first, or the newest (the web app's order).
    public func searchRecordings(_ text: String, limit: Int = 100) throws -> [TextHit] {
        try searchRecordings(text, limit: limit, newestFirst: false)
    }

    public func searchRecordings(_ text: String, limit: Int, newestFirst: Bool) throws -> [TextHit] {
        let match = FullTextQuery.match(text)
        do { return try hits(match, limit: limit, newestFirst: newestFirst) } catch let e as StoreError where e.kind == .other && FullTextQuery.isSyntaxError(e.message) {
            throw FullTextQuery.SyntaxError(text: text)
        }
    }

    func hits(_ match: String, limit: Int, newestFirst: Bool) throws -> [TextHit] {
        let order = newestFirst ? "DESC" : ""
        let found: [(chunk: Chunk, offset: Int64)] = try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT c.*, c.started_at - s.started_at AS offset
                FROM recording_words w JOIN recording_index i ON i.id = w.rowid
                JOIN chunks c ON c.session_id = i.session_id AND c.seq = i.seq JOIN sessions s ON s.id = c.session_id
                WHERE recording_words MATCH ? ORDER BY c.started_at \(order) LIMIT ?
                """, arguments: [match, limit]).map { (Self.chunk($0), $0["offset"]) }
        }
        let snippets = try Self.snippets(match, found.map { Transcript.searchableText($0.chunk.decodedFrames() ?? []) })
        return found.enumerated().map { k, hit in
            TextHit(sessionID: hit.chunk.sessionID, seq: hit.chunk.seq, offset: hit.offset, snippet: snippets[k] ?? "")
        }
    }

    /// FTS5's own snippets (the words found in [brackets], about 12 words around them), made
    /// over the hits' texts alone in a table of their own in memory.
    static func snippets(_ match: String, _ texts: [String]) throws -> [Int: String] {
        guard !texts.isEmpty else { return [:] }
        do {
            return try DatabaseQueue().write { db in
                try db.execute(sql: "CREATE VIRTUAL TABLE hit USING fts5(text)")
                for (k, text) in texts.enumerated() {
                    try db.execute(sql: "INSERT INTO hit (rowid, text) VALUES (?, ?)", arguments: [k, text])
                }
                let rows = try Row.fetchAll(db, sql: "SELECT rowid, snippet(hit, 0, '[', ']', '…', 12) AS s FROM hit WHERE hit MATCH ?",
                                            arguments: [match])
                return Dictionary(rows.map { (($0["rowid"] as Int), ($0["s"] as String)) }, uniquingKeysWith: { a, _ in a })
            }
        } catch {
            throw StoreError.from(error, path: ":memory:")
        }
    }

    /// Takes a pruned session's words out of the index, where its text renders as it did when
    /// indexed (FTS5 needs the very words to delete them); words left behind match no chunk.
    static func unindex(session id: String, _ db: GRDB.Database) throws {
        let rows = try Row.fetchAll(db, sql: """
            SELECT i.id, i.text_hash, c.* FROM recording_index i JOIN chunks c ON c.session_id = i.session_id AND c.seq = i.seq
            WHERE i.session_id = ? AND i.text_hash IS NOT NULL
            """, arguments: [id])
        for row in rows {
            let text = Transcript.searchableText(chunk(row).decodedFrames() ?? [])
            guard Array(row["text_hash"] as Data) == textHash(text) else { continue }
            try db.execute(sql: "INSERT INTO recording_words (recording_words, rowid, text) VALUES ('delete', ?, ?)",
                           arguments: [row["id"] as Int64, text])
        }
        try db.execute(sql: "DELETE FROM recording_index WHERE session_id = ?", arguments: [id])
    }

    static func textHash(_ text: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(text.utf8)).prefix(16))
    }
}
