import Foundation
import Store
import Testing

/// A reviewer's first full-text search indexes everything recorded so far. On a big store it
/// runs while people work: it must never hold the write lock long enough to refuse a login or
/// to end a streaming session as `recording-failed`.
extension SessionTests {
    @Test func aFirstFullTextSearchOnA500MBStoreRefusesAndEndsNobody() throws {
        try h.grant(role: "e2e-escapes")
        // 500 MB of recordings as the recorder writes them (zlib, frames), text that barely
        // compresses; 256 distinct chunks spread over 2,600 sessions of 4 chunks each.
        let copied = try StoreCopy(of: h, "search") { copy in
            try Harness.run("/usr/bin/python3", ["-c", """
                import base64, os, sqlite3, uuid, zlib
                def varint(v):
                    out = bytearray()
                    while v >= 0x80:
                        out.append((v & 0x7F) | 0x80); v >>= 7
                    out.append(v)
                    return bytes(out)
                pool = []
                for k in range(256):
                    text = b"".join(b"log " + base64.b64encode(os.urandom(54)) + (b" needle%d" % k if k % 64 == 0 else b"") + b"\\r\\n" for _ in range(880))
                    raw = bytes([1]) + varint(k) + varint(len(text)) + text
                    pool.append((len(raw), zlib.compress(raw, 1)))
                db = sqlite3.connect("\(copy)", isolation_level=None)
                db.execute("BEGIN")
                start = 1790000000000000
                for s in range(2600):
                    sid = str(uuid.uuid4())
                    db.execute("INSERT INTO sessions (id, identity, login, role, grant_id, host, client, mode, command, started_at) VALUES (?, 'old', 'old', 'e2e-escapes', NULL, 'old-host', '10.0.0.1', 'exec', 'cat big', ?)", (sid, start + s))
                    for seq in range(4):
                        raw, data = pool[(s * 4 + seq) % 256]
                        db.execute("INSERT INTO chunks (session_id, seq, started_at, frames, raw_bytes, data, prev_hash, hash) VALUES (?, ?, ?, 1, ?, ?, ?, ?)", (sid, seq, start + s + seq, raw, data, b"\\0" * 32, b"\\0" * 32))
                db.execute("COMMIT")
                """])
        }
        defer { copied.remove() }
        let (dir, copy, config) = (copied.dir, copied.path, copied.config)
        var st = stat()
        #expect(stat(copy, &st) == 0 && st.st_size > 500_000_000, "the store is \(st.st_size) bytes")
        let before = Set(try SQLiteStore(path: copy).allSessionIDs())
        // 20 sessions streaming about 20 KB/s each for 10 s, as sshd starts them: half before the
        // search starts, half logging in while it indexes.
        func session(_ k: Int) throws -> (Process, Pipe) {
            try forcedCommand("python3 -c 'import base64, os, time\nfor i in range(1, 101): print(\"s\(k) line %d %s\" % (i, base64.b64encode(os.urandom(1500)).decode()), flush=True); time.sleep(0.1)'",
                              config: config, shown: dir + "/shown-\(k)")
        }
        var sessions = try (0..<10).map(session)
        usleep(1_000_000)
        // The reviewer's first full-text search, as root.
        let search = Process()
        search.executableURL = URL(fileURLWithPath: h.binary)
        search.arguments = ["audit", "search", "--text", "needle128", "--config", config]
        let found = Pipe(), complaint = Pipe()
        search.standardOutput = found
        search.standardError = complaint
        let searchStarted = Date()
        try search.run()
        usleep(1_000_000)
        sessions += try (10..<20).map(session)
        // The sessions take about 10 s; the search has until they are done and 2 s more (a
        // debug build renders a few MB of recordings a second: it is still indexing then).
        let deadline = Date().addingTimeInterval(40)
        while sessions.contains(where: { $0.0.isRunning }) && Date() < deadline { usleep(50_000) }
        let searchDeadline = Date().addingTimeInterval(2)
        while search.isRunning && Date() < searchDeadline { usleep(50_000) }
        let searchTook = search.isRunning ? nil : Date().timeIntervalSince(searchStarted)
        for p in [search] + sessions.map(\.0) where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        search.waitUntilExit()
        var failures: [String] = []
        for (k, (job, err)) in sessions.enumerated() {
            job.waitUntilExit()
            let shown = (try? String(contentsOfFile: dir + "/shown-\(k)", encoding: .utf8)) ?? ""
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            if job.terminationStatus != 0 || !shown.contains("s\(k) line 100 ") { failures.append("session \(k): exit \(job.terminationStatus) \(stderr)") }
        }
        #expect(failures.isEmpty, "\(failures.count) of 20 sessions failed: \(failures.prefix(3))")
        let store = try SQLiteStore(path: copy)
        let ends = try Set(store.allSessionIDs()).subtracting(before).map { try store.sessionEnd($0)?.exitReason ?? "none" }
        #expect(ends.count == 20 && ends.allSatisfy { $0 == "exit" }, "\(ends)")
        let output = String(decoding: found.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: complaint.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let indexed = Int(try Harness.run("/usr/bin/python3", ["-c", "import sqlite3; print(sqlite3.connect('\(copy)').execute('SELECT count(*) FROM recording_index').fetchone()[0])"])
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        // At least one batch was written while the sessions streamed: they met the indexer.
        #expect(indexed >= 200, "the search indexed only \(indexed) chunks while the sessions streamed")
        print("\(indexed) chunks indexed; first full-text search on \(st.st_size) bytes with 20 sessions streaming: \(searchTook.map { "\($0) s" } ?? "still indexing when the sessions were done")")
        if searchTook != nil {
            #expect(search.terminationStatus == 0, "\(stderr)")
            let chunks = (0..<2600 * 4).filter { $0 % 256 == 128 }.count
            #expect(output.components(separatedBy: "[needle128]").count - 1 == chunks, "\(output.suffix(500))")
        }
    }
}
