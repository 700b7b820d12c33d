import Crypto
import Foundation
import GRDB
import Policy
@testable import Store
import Testing

/// Review over a store written here: verification against each kind of tampering, prune with
/// tombstones, search expressions, full-text search, transcripts.
@Suite struct ReviewTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-review-\(UUID().uuidString.prefix(8))")
    let store: SQLiteStore
    let key = SigningKey(privateKey: .init())
    let start: Int64 = 1_790_000_000_000_000

    init() throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        store = try SQLiteStore(path: dir.appendingPathComponent("jitsh.db").path, create: true)
    }

    /// A session with `chunks` chunks of output, ended and signed unless `end` is false.
    @discardableResult
    func record(_ id: String, identity: String = "alice", role: String = "operator", chunks: Int = 3, end: Bool = true,
                lines: [(String, String, String)] = [], shown: [String]? = nil) throws -> String {
        try store.startSession(SessionRecord(id: id, identity: identity, login: identity, role: role, grantID: nil, host: "prod-1",
                                             client: "10.0.0.1", mode: "interactive", command: "", startedAt: start),
                               event: AuditEvent(at: start, sessionID: id, identity: identity, host: "prod-1", kind: .sessionStart))
        var head = Chunk.genesis(id)
        for k in 0..<(shown?.count ?? chunks) {
            var raw: [UInt8] = []
            let text = shown?[k] ?? "chunk \(k) says needle\(k)\r\n"
            FrameCodec.encode(Frame(.output, offset: UInt64(k) * 1_000_000, data: Array(text.utf8)), into: &raw)
            FrameCodec.encode(Frame(.marker, offset: UInt64(k) * 1_000_000 + 1, data: Array("{\"event\":\"decided\",\"line\":\"ls\"}".utf8)), into: &raw)
            let c = Chunk(sessionID: id, seq: Int64(k), startedAt: start + Int64(k) * 1_000_000, frames: 2, rawBytes: raw.count,
                          data: Deflate.compress(raw), previousHash: head)
            try store.appendChunk(c)
            head = c.hash
        }
        for (k, (line, decision, cwd)) in lines.enumerated() {
            let argv0 = line.split(separator: " ").first.map(String.init) ?? ""
            try store.appendAudit([AuditEvent(at: start + Int64(k) * 1_000, sessionID: id, identity: identity, host: "prod-1", kind: .line,
                                              line: line, decision: AuditDecision(rawValue: decision) ?? .none, rule: "roles/\(role).yaml:3", reason: "r",
                                              data: "{\"commands\":[{\"argv\":[\"\(argv0)\"]}],\"cwd\":\"\(cwd)\"}")])
        }
        if end {
            var e = SessionEnd(sessionID: id, endedAt: start + 10_000_000, exitReason: "exit", exitStatus: 0, chunks: Int64(shown?.count ?? chunks),
                               chainHead: head)
            e.signature = Array(try key.sign(e.signedMessage))
            e.keyID = key.id
            try store.endSession(e, event: AuditEvent(at: e.endedAt, sessionID: id, identity: identity, host: "prod-1", kind: .sessionEnd))
        }
        return id
    }

    /// What an attacker with the database file can do: the append-only triggers do not stop them.
    func tamper(_ sql: String) throws {
        let q = try DatabaseQueue(path: dir.appendingPathComponent("jitsh.db").path)
        try q.write { db in
            for t in ["chunks_append_only_update", "session_ends_append_only_update"] { try db.execute(sql: "DROP TRIGGER IF EXISTS \(t)") }
            try db.execute(sql: sql)
        }
    }

    func problems(_ id: String) throws -> [String] { try store.verify(id, key: key.publicKey).problems }

    @Test func anIntactRecordingVerifies() throws {
        try record("s1")
        let v = try store.verify("s1", key: key.publicKey)
        #expect(v.ok, "\(v.problems)")
        #expect(v.summary.hasPrefix("3 chunks, hash chain and signature"))
    }

    @Test func aChangedByteIsFound() throws {
        try record("s1")
        try tamper("UPDATE chunks SET data = zeroblob(length(data)) WHERE session_id = 's1' AND seq = 1")
        #expect(try problems("s1").contains("altered chunk 1: its content does not match its hash"))
    }

    @Test func aDroppedChunkIsFound() throws {
        try record("s1")
        try tamper("DELETE FROM chunks WHERE session_id = 's1' AND seq = 1")
        let p = try problems("s1")
        #expect(p.contains("missing chunk 1"), "\(p)")
        #expect(p.contains("missing chunk: the end says 3 chunks, 2 are stored"))
    }

    @Test func aReorderedChunkIsFound() throws {
        try record("s1")
        try tamper("UPDATE chunks SET seq = seq + 10 WHERE session_id = 's1' AND seq IN (0, 1)")
        try tamper("UPDATE chunks SET seq = 1 WHERE session_id = 's1' AND seq = 10")
        try tamper("UPDATE chunks SET seq = 0 WHERE session_id = 's1' AND seq = 11")
        #expect(try problems("s1").contains { $0.contains("does not follow the chunk before it") })
    }

    @Test func aReplacedSignatureIsFound() throws {
        try record("s1")
        let other = SigningKey(privateKey: .init())
        try tamper("UPDATE session_ends SET signature = x'\(Array(try other.sign(Data("x".utf8))).map { String(format: "%02x", $0) }.joined())' WHERE session_id = 's1'")
        #expect(try problems("s1").contains { $0.hasPrefix("bad signature") })
    }

    @Test func aKilledSessionIsUnsignedButItsChainChecks() throws {
        try record("s1", end: false)
        #expect(try problems("s1") == ["unsigned: the session has no end (jitsh was killed, or it is still running); 3 chunks chain correctly up to there"])
    }

    @Test func pruningLeavesASignedTombstoneThatVerifies() throws {
        try record("old")
        #expect(try store.prunable(before: start + 1) == ["old"])
        let t = try store.prune("old", actor: "root", key: key, now: 1_800_000_000)
        #expect(t.chunks == 3)
        #expect(try store.chunks(session: "old").isEmpty)
        let v = try store.verify("old", key: key.publicKey)
        #expect(v.ok, "\(v.problems)")
        #expect(v.summary.contains("3 chunks accounted for"))
        #expect(try store.prunable(before: start + 1).isEmpty)
        #expect(!(try store.verify("old", key: SigningKey(privateKey: .init()).publicKey).ok))
    }

    static let queries: [(String, [String])] = [
        ("command rm", ["rm -rf /tmp/x"]),
        ("command rm and user alice", ["rm -rf /tmp/x"]),
        ("command rm and user bob", []),
        ("decision deny", ["cat /etc/shadow"]),
        ("decision deny or command rm", ["rm -rf /tmp/x", "cat /etc/shadow"]),
        ("not decision allow and kind line", ["rm -rf /tmp/x", "cat /etc/shadow"]),
        ("cwd /var/lib/*", ["ls"]),
        ("(role operator) and line 'ls*'", ["ls"]),
        ("since '2 hours ago'", ["ls", "rm -rf /tmp/x", "cat /etc/shadow"]),
        ("until '2 hours ago'", []),
        ("until 2030-01-01", ["ls", "rm -rf /tmp/x", "cat /etc/shadow"]),
    ]

    @Test(arguments: queries)
    func searchExpressions(_ expression: String, _ expected: [String]) throws {
        try record("s1", lines: [("ls", "allow", "/var/lib/app"), ("rm -rf /tmp/x", "confirm", "/tmp"), ("cat /etc/shadow", "deny", "/")])
        let q = try AuditQuery([expression], now: start / 1_000_000 + 60)
        #expect(try store.auditEvents(matching: q).filter { $0.kind == "line" }.map(\.line) == expected, "\(expression)")
    }

    @Test func malformedExpressionsSayWhy() {
        for (e, message) in [("colour red", "unknown field `colour`"), ("user", "`user` needs a value"), ("(user a", "a `(` without its `)`"),
                             ("decision maybe", "decision is allow, deny or confirm"), ("since yesterdayish", "is not a time")] {
            #expect(throws: AuditQuery.SyntaxError.self) { try AuditQuery([e], now: 0) }
            do { _ = try AuditQuery([e], now: 0) } catch { #expect(error.description.contains(message), "\(e): \(error)") }
        }
    }

    @Test func fullTextFindsWhatWasShownWithItsOffset() throws {
        try record("s1")
        try record("s2", identity: "bob")
        #expect(try store.indexRecordings() == 6)
        #expect(try store.indexRecordings() == 0)
        let hits = try store.searchRecordings("needle2")
        #expect(hits.count == 2)
        #expect(hits.first?.offset == 2_000_000)
        #expect(hits.first?.snippet.contains("[needle2]") == true)
    }

    /// `--text` as people type it: punctuation is text, FTS5 operators still work (issue 18).
    static let textQueries: [(String, Int)] = [
        ("rm -rf", 1),
        ("rm -rf /tmp/x", 1),
        ("-rf", 1),
        ("/tmp/x", 1),
        ("rm -r*", 1),
        ("need*", 2),
        ("\"rm -rf\"", 1),
        ("\"rf rm\"", 0),
        ("rm OR needle1", 2),
        ("rm AND needle1", 0),
        ("needle1 NOT rm", 1),
        ("NEAR(rm tmp, 3)", 1),
        ("x:y", 0),
        ("C:\\", 0),
    ]

    @Test(arguments: textQueries)
    func fullTextTakesTextAsTyped(_ text: String, _ expected: Int) throws {
        try record("s1", shown: ["$ rm -rf /tmp/x\r\n", "chunk 1 says needle1\r\n", "chunk 2 says needle2\r\n"])
        try store.indexRecordings()
        #expect(try store.searchRecordings(text).count == expected, "\(text)")
    }

    @Test(arguments: ["NOT rm", "\"rm -rf", "rm AND", "(rm"])
    func invalidFullTextSaysWhatToDo(_ text: String) throws {
        try record("s1", shown: ["$ rm -rf /tmp/x\r\n"])
        try store.indexRecordings()
        #expect(throws: FullTextQuery.SyntaxError(text: text)) { try store.searchRecordings(text) }
    }

    /// Indexing in many short transactions (here one row each) indexes every chunk once, in
    /// batches smaller than the backlog, with sessions' chunks arriving between two calls.
    @Test func indexingInShortTransactionsMissesAndRepeatsNothing() throws {
        for k in 0..<5 { try record("t\(k)", chunks: 7) }
        #expect(try store.indexRecordings(batch: 4, transactionMicroseconds: 0) == 35)
        try record("late", chunks: 2)
        #expect(try store.indexRecordings(batch: 4, transactionMicroseconds: 0) == 2)
        #expect(try store.indexRecordings() == 0)
        #expect(try store.searchRecordings("needle6").count == 5)
        #expect(try store.searchRecordings("needle1").count == 6)
    }

    /// A pruned recording's words go with it: no hit points at a chunk that is gone, and a
    /// later session with the same words is found once.
    @Test func pruningTakesARecordingsWordsOutOfTheIndex() throws {
        try record("old")
        try store.indexRecordings()
        #expect(try store.searchRecordings("needle1").map(\.sessionID) == ["old"])
        _ = try store.prune("old", actor: "root", key: key, now: 1_800_000_000)
        #expect(try store.searchRecordings("needle1").isEmpty)
        try record("new")
        try store.indexRecordings()
        #expect(try store.searchRecordings("needle1").map(\.sessionID) == ["new"])
        #expect(try store.searchRecordings("needle1").first?.snippet == "chunk 1 says [needle1]")
    }

    /// The index holds words, not a second copy of the text: indexing 2 MB of text that does
    /// not compress grows the store by less than the text.
    @Test func theIndexKeepsNoCopyOfTheText() throws {
        var generator = SystemRandomNumberGenerator()
        let words = (0..<4000).map { _ in String((0..<7).map { _ in "abcdefghijklmnopqrstuvwxyz".randomElement(using: &generator)! }) }
        let shown = (0..<64).map { _ in (0..<4000).map { _ in words.randomElement(using: &generator)! }.joined(separator: " ") + "\r\n" }
        try record("big", shown: shown)
        let text = shown.reduce(0) { $0 + $1.utf8.count }
        // The database's own size, wherever its pages are (the file or the -wal).
        func size() throws -> Int {
            try store.database.read { db in try Int.fetchOne(db, sql: "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()") ?? 0 }
        }
        let before = try size()
        try store.indexRecordings()
        let grown = try size() - before
        #expect(try store.searchRecordings(words[17]).count > 0)
        print("full-text index: \(text) bytes of text grew the store by \(grown)")
        #expect(grown < text, "indexing \(text) bytes of text grew the store by \(grown)")
    }

    static let renders: [(String, String)] = [
        ("plain\r\n", "plain\n"),
        ("abc\rX\r\n", "Xbc\n"),
        ("prompt$ ls\u{1B}[K\rprompt$ ls -l\u{1B}[K\r\n", "prompt$ ls -l\n"),
        ("ab\u{8}\u{8}cd\r\n", "cd\n"),
        ("\u{1B}[31mred\u{1B}[0m\r\n", "red\n"),
        ("before\r\n\u{1B}[?1049hFULL SCREEN\r\nmore\u{1B}[?1049lafter\r\n",
         "before\n── full screen ──\nFULL SCREEN\nmore\n── end of full screen ──\nafter\n"),
        // `tput smcup` and never back: every later line is still in the text.
        ("$ tput smcup\r\n\u{1B}[?1049h\u{1B}[H\u{1B}[2J$ cat /etc/shadow\r\nroot:x:0\r\n$ ",
         "$ tput smcup\n── full screen ──\n$ cat /etc/shadow\nroot:x:0\n$\n── end of full screen ──\n"),
        // A program that clears and redraws the same screen adds it once; a new screen adds itself.
        ("\u{1B}[?1049h\u{1B}[HA\u{1B}[2J\u{1B}[HA\u{1B}[2J\u{1B}[1;3HB\u{1B}[?1049l", "── full screen ──\nA\n  B\n── end of full screen ──\n"),
        ("\u{1B}[?1049h\u{1B}[?1049l", ""),
        // C1 and bidirectional controls are shown, not passed on.
        ("a\u{9B}b\u{202E}c\r\n", "a\\u009bb\\u202ec\n"),
        ("\u{1B}]0;title\u{7}text\r\n", "text\n"),
        ("tab\there\r\n", "tab     here\n"),
        ("é ✓ 漢\r\n", "é ✓ 漢\n"),
    ]

    @Test(arguments: renders)
    func transcriptsResolveControlSequences(_ output: String, _ text: String) {
        // Fed byte by byte too: a sequence or a character may be split between frames.
        let whole = [Frame(.output, offset: 0, data: Array(output.utf8))]
        let split = Array(output.utf8).enumerated().map { Frame(.output, offset: UInt64($0.offset), data: [$0.element]) }
        #expect(Transcript.render(whole) == text)
        #expect(Transcript.render(split) == text)
    }

    @Test func whatScrollsOffTheAlternateScreenIsInTheTextInOrder() {
        let frames = [Frame.resize(rows: 3, cols: 20, offset: 0),
                      Frame(.output, offset: 1, data: Array("\u{1B}[?1049h1\r\n2\r\n3\r\n4\r\n5\u{1B}[?1049l".utf8))]
        #expect(Transcript.render(frames) == "── full screen ──\n1\n2\n3\n4\n5\n── end of full screen ──\n")
    }

    @Test func execModeStandardInputIsASectionOfTheTextAndSearchable() {
        let frames = [Frame(.stdin, offset: 0, data: Array("DROP TABLE users;\n\u{1B}]52;c;eA==\u{7}".utf8)),
                      Frame(.stdin, offset: 1, data: Array("\n".utf8)),
                      Frame(.output, offset: 2, data: Array("DROP TABLE\n".utf8))]
        let text = Transcript.render(frames)
        #expect(text == "── standard input, 31 bytes ──\nDROP TABLE users;\n\\e]52;c;eA==\\x07\n── end of standard input ──\nDROP TABLE\n", "\(text)")
        #expect(Transcript.searchableText(frames).contains("DROP TABLE users;"))
        let r = SessionRecord(id: "s", identity: "a", login: "a", role: "r", grantID: nil, host: "h", client: "c", mode: "exec",
                              command: "psql", startedAt: 0)
        #expect(Transcript.asciicast(r, frames).contains(",\"i\",\"DROP TABLE users;\\n"))
        #expect(Transcript.jsonLines(frames).contains("\"kind\":\"stdin\""))
    }

    @Test func asciicastHasAHeaderAndEventsWithSplitCharactersWhole() throws {
        let r = SessionRecord(id: "s", identity: "alice", login: "alice", role: "ops", grantID: 1, host: "h", client: "c", mode: "interactive",
                              command: "", startedAt: 1_700_000_000_000_000, width: 100, height: 30)
        let e = Array("é".utf8)
        let frames = [Frame(.output, offset: 500_000, data: [e[0]]), Frame(.output, offset: 600_000, data: [e[1]]),
                      Frame(.input, offset: 700_000, data: Array("ls\r".utf8)), Frame.resize(rows: 40, cols: 120, offset: 800_000),
                      Frame(.marker, offset: 900_000, data: Array("{\"event\":\"decided\",\"decision\":\"deny\",\"line\":\"rm -rf /\"}".utf8))]
        let lines = Transcript.asciicast(r, frames).split(separator: "\n").map(String.init)
        let header = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(header["version"] as? Int == 2 && header["width"] as? Int == 100 && header["height"] as? Int == 30)
        #expect(lines[1] == "[0.6,\"o\",\"é\"]")
        #expect(lines[2] == "[0.7,\"i\",\"ls\\r\"]")
        #expect(lines[3] == "[0.8,\"r\",\"120x40\"]")
        #expect(lines[4] == "[0.9,\"m\",\"decided deny: rm -rf /\"]")
    }

    @Test func jsonTextIsJSONThatReadsBackToTheSameValues() throws {
        let tricky = "quote \" backslash \\ newline \n tab \t bell \u{7} é ✓ \u{1F600}"
        let value: JSONText = ["z": .string(tricky), "a": [1, true, .null, ["k": "v"]], "m": .int(-42)]
        #expect(value.text.hasPrefix("{\"a\":[1,true,null,{\"k\":\"v\"}],\"m\":-42,\"z\":"))
        let back = try #require(try JSONSerialization.jsonObject(with: Data(value.text.utf8)) as? [String: Any])
        #expect(back["z"] as? String == tricky)
        #expect(back["m"] as? Int == -42)
    }
}

extension ReviewTests {
    /// A store written before chunks moved to a rowid table: opening it moves them, in order, and
    /// every recording still verifies.
    @Test func aStoreFromBeforeTheRowidChunksUpgradesAndStillVerifies() throws {
        try record("before-1", chunks: 4)
        try record("before-2", chunks: 2)
        // The same rows in a store of the v2 shape, as an installed earlier jitsh wrote them.
        let path = dir.appendingPathComponent("v2.db").path
        let old = try DatabaseQueue(path: path)
        try Database.migrator.migrate(old, upTo: "v2 tombstones, full-text index of recordings")
        try old.writeWithoutTransaction { db in
            try db.execute(sql: "ATTACH DATABASE ? AS now", arguments: [dir.appendingPathComponent("jitsh.db").path])
            try db.execute(sql: """
                INSERT INTO sessions SELECT * FROM now.sessions;
                INSERT INTO chunks SELECT session_id, seq, started_at, frames, raw_bytes, data, prev_hash, hash FROM now.chunks;
                INSERT INTO session_ends SELECT * FROM now.session_ends;
                DETACH DATABASE now;
                """)
        }
        try old.close()
        let upgraded = try SQLiteStore(path: path)
        for id in ["before-1", "before-2"] {
            let v = try upgraded.verify(id, key: key.publicKey)
            #expect(v.ok, "\(v.problems)")
        }
        #expect(try upgraded.chunks(session: "before-1").map(\.seq) == [0, 1, 2, 3])
        let shape = try DatabaseQueue(path: path).read { db in
            try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'chunks'") ?? ""
        }
        #expect(!shape.contains("WITHOUT ROWID") && shape.contains("id INTEGER PRIMARY KEY"), "\(shape)")
    }
}
