import Crypto
import Foundation
import GRDB

/// One stored change of a watched path: the images before and after a line, chained to the
/// image before it by hash like recording chunks. The snapshot marker the session records
/// after each line carries the chain's head, so the signed recording covers the images too.
public struct SnapshotImage: Sendable, Equatable {
    public var sessionID: String
    public var seq: Int64
    /// The line's number in the session (as `sessions show` counts them).
    public var line: Int
    /// Microseconds since the epoch.
    public var at: Int64
    public var path: String
    public var before: FileImage?
    public var after: FileImage?
    public var previousHash: [UInt8]
    public var hash: [UInt8]

    public init(sessionID: String, seq: Int64, line: Int, at: Int64, path: String, before: FileImage?, after: FileImage?, previousHash: [UInt8]) {
        self.sessionID = sessionID
        self.seq = seq
        self.line = line
        self.at = at
        self.path = path
        self.before = before
        self.after = after
        self.previousHash = previousHash
        hash = SnapshotImage.hash(sessionID: sessionID, seq: seq, line: line, at: at, path: path, before: before?.json.text ?? "",
                                  after: after?.json.text ?? "", previousHash: previousHash)
    }

    public var change: FileChange { FileChange(path: path, before: before, after: after) }

    static func hash(sessionID: String, seq: Int64, line: Int, at: Int64, path: String, before: String, after: String, previousHash: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(data: previousHash)
        for field in [sessionID, String(seq), String(line), String(at), path, before, after] {
            h.update(data: Array(field.utf8) + [0])
        }
        return Array(h.finalize())
    }

    /// The first link of a session's image chain.
    public static func genesis(_ sessionID: String) -> [UInt8] {
        Array(SHA256.hash(data: Array("jitsh-snapshot:\(sessionID)".utf8)))
    }

    public static func digest(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    public static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }
}

/// A watched file's content as stored: deflated, keyed by session and the SHA-256 of its bytes.
public struct SnapshotContent: Sendable, Equatable {
    public var sessionID: String
    public var digest: String
    /// The content's length before deflate.
    public var size: Int
    public var deflated: [UInt8]

    public init(sessionID: String, digest: String, size: Int, deflated: [UInt8]) {
        (self.sessionID, self.digest, self.size, self.deflated) = (sessionID, digest, size, deflated)
    }

    /// The content, when it inflates to `size` bytes that match the digest.
    public var bytes: [UInt8]? {
        guard let bytes = Deflate.decompress(deflated, expectedLength: size), SnapshotImage.digest(bytes) == digest else { return nil }
        return bytes
    }
}

/// Where the images of a session's watched files are read back: the host's store or spool, and
/// the central store they are shipped to, so both verify them the same way.
public protocol SnapshotImageReader: Sendable {
    /// The session's images in order, with their stored hashes; with `line`, only that line's.
    func images(session id: String, line: Int?) throws -> [SnapshotImage]
    /// A stored content by its digest; nil when it is not stored or does not match its digest.
    func imageContent(session id: String, digest: String) throws -> [UInt8]?
}

extension SnapshotImageReader {
    public func images(session id: String) throws -> [SnapshotImage] { try images(session: id, line: nil) }

    /// What is wrong with a session's images: a broken chain, a content that does not match
    /// its digest, a chain whose head the recording's last snapshot marker does not name.
    public func verifyImages(_ id: String, frames: [Frame]) throws -> (problems: [String], count: Int) {
        let images = try images(session: id)
        var problems: [String] = []
        var head = SnapshotImage.genesis(id)
        for (k, image) in images.enumerated() {
            if image.seq != Int64(k) { problems.append("snapshot image \(k) is missing or out of order") }
            if image.previousHash != head { problems.append("snapshot image \(image.seq) does not follow the one before it") }
            if image.recomputedHash != image.hash { problems.append("altered snapshot image \(image.seq): it does not match its hash") }
            head = image.hash
            for digest in [image.before?.digest, image.after?.digest].compactMap({ $0 }) where !digest.isEmpty {
                if try imageContent(session: id, digest: digest) == nil {
                    problems.append("the content of snapshot image \(image.seq) (\(image.path)) is missing or altered")
                }
            }
        }
        var covered: (head: String, count: Int)?
        for f in frames where f.kind == .marker {
            guard let o = try? JSONSerialization.jsonObject(with: Data(f.data)) as? [String: Any], o["event"] as? String == "snapshot",
                  let h = o["images"] as? String, let n = o["count"] as? Int else { continue }
            covered = (h, n)
        }
        if !images.isEmpty || covered != nil {
            if covered?.count != images.count || covered?.head != SnapshotImage.hex(head) {
                problems.append("the snapshot images (\(images.count)) are not the ones the recording names (\(covered?.count ?? 0))")
            }
        }
        return (problems, images.count)
    }
}

extension SnapshotImage {
    /// The hash of the image's fields as stored: equal to `hash` unless the row was altered.
    public var recomputedHash: [UInt8] {
        SnapshotImage.hash(sessionID: sessionID, seq: seq, line: line, at: at, path: path, before: before?.json.text ?? "",
                           after: after?.json.text ?? "", previousHash: previousHash)
    }
}

extension SQLiteStore: SnapshotImageReader {
    /// Appends one line's changes and the contents they name that the session has not stored
    /// yet, in one transaction. Returns the chain's head and length after them.
    public func appendImages(session id: String, line: Int, at: Int64, changes: [FileChange],
                             contents: [String: [UInt8]]) throws -> (head: [UInt8], count: Int64) {
        try database.checkFile()
        return try database.write { db in
            let last = try Row.fetchOne(db, sql: "SELECT seq, hash FROM snapshot_images WHERE session_id = ? ORDER BY seq DESC LIMIT 1",
                                        arguments: [id])
            var seq: Int64 = last.map { ($0["seq"] as Int64) + 1 } ?? 0
            var head = last.map { Array($0["hash"] as Data) } ?? SnapshotImage.genesis(id)
            for (digest, bytes) in contents {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO snapshot_contents (session_id, digest, size, data) VALUES (?, ?, ?, ?)
                    """, arguments: [id, digest, bytes.count, Data(Deflate.compress(bytes))])
            }
            for c in changes {
                let image = SnapshotImage(sessionID: id, seq: seq, line: line, at: at, path: c.path, before: c.before, after: c.after,
                                          previousHash: head)
                try db.execute(sql: """
                    INSERT INTO snapshot_images (session_id, seq, line, at, path, before, after, prev_hash, hash)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [id, seq, line, at, c.path, c.before?.json.text ?? "", c.after?.json.text ?? "", Data(head),
                                     Data(image.hash)])
                head = image.hash
                seq += 1
            }
            return (head, seq)
        }
    }

    public func images(session id: String, line: Int?) throws -> [SnapshotImage] {
        try database.read { db in try Self.images(db, session: id, line: line, after: -1, limit: -1) }
    }

    static func images(_ db: GRDB.Database, session id: String, line: Int?, after seq: Int64, limit: Int) throws -> [SnapshotImage] {
        let rows = try Row.fetchAll(db, sql: """
            SELECT * FROM snapshot_images WHERE session_id = ? AND (? IS NULL OR line = ?) AND seq > ? ORDER BY seq LIMIT ?
            """, arguments: [id, line, line, seq, limit])
        return rows.map { r in
            var image = SnapshotImage(sessionID: r["session_id"], seq: r["seq"], line: r["line"], at: r["at"], path: r["path"],
                                      before: FileImage(json: r["before"]), after: FileImage(json: r["after"]),
                                      previousHash: Array(r["prev_hash"] as Data))
            // The stored hash, so verification compares it with the recomputed one.
            image.hash = Array(r["hash"] as Data)
            return image
        }
    }

    public func imageContent(session id: String, digest: String) throws -> [UInt8]? {
        try database.read { db in try Self.contents(db, session: id, digests: [digest]).first?.bytes }
    }

    static func contents(_ db: GRDB.Database, session id: String, digests: [String]) throws -> [SnapshotContent] {
        guard !digests.isEmpty else { return [] }
        return try Row.fetchAll(db, sql: """
            SELECT digest, size, data FROM snapshot_contents WHERE session_id = ? AND digest IN (\(digests.map { _ in "?" }.joined(separator: ",")))
            ORDER BY digest
            """, arguments: StatementArguments([id] + digests)).map { r in
            SnapshotContent(sessionID: id, digest: r["digest"], size: r["size"], deflated: Array(r["data"] as Data))
        }
    }
}

extension Database {
    static func registerSnapshots(_ m: inout DatabaseMigrator) {
        m.registerMigration("v4 snapshot images and contents") { db in
            try db.execute(sql: """
                CREATE TABLE snapshot_images (
                    session_id TEXT NOT NULL REFERENCES sessions(id),
                    seq INTEGER NOT NULL,
                    line INTEGER NOT NULL,
                    at INTEGER NOT NULL,
                    path TEXT NOT NULL,
                    before TEXT NOT NULL,
                    after TEXT NOT NULL,
                    prev_hash BLOB NOT NULL,
                    hash BLOB NOT NULL,
                    PRIMARY KEY (session_id, seq)
                ) WITHOUT ROWID;
                CREATE TABLE snapshot_contents (
                    session_id TEXT NOT NULL REFERENCES sessions(id),
                    digest TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    data BLOB NOT NULL,
                    PRIMARY KEY (session_id, digest)
                ) WITHOUT ROWID;
                CREATE TRIGGER snapshot_images_append_only_update BEFORE UPDATE ON snapshot_images
                BEGIN SELECT RAISE(ABORT, 'snapshot images are append-only'); END;
                CREATE TRIGGER snapshot_contents_append_only_update BEFORE UPDATE ON snapshot_contents
                BEGIN SELECT RAISE(ABORT, 'snapshot contents are append-only'); END;
                """)
        }
    }
}
