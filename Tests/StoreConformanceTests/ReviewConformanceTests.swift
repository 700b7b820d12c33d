import Crypto
import Foundation
import Store
import Testing
import TestSupport

/// Review reads the same on every back end: one host's SQLite file, the fleet's PostgreSQL, the
/// memory store. Sessions of three hosts, each with decided lines, searched and listed.
@Suite(.timeLimit(.minutes(2)))
struct ReviewConformanceTests {
    static let key = SigningKey(privateKey: .init())

    /// Lines (line, decision, cwd) of one session of `identity` as `role` on `host`, ended and signed.
    static func record(_ store: any ConformingStore, _ id: String, identity: String, role: String, host: String, start: Int64,
                       lines: [(String, String, String)], guarded: String? = nil, grant: Int64? = nil) throws {
        try store.startSession(SessionRecord(id: id, identity: identity, login: identity, role: role, grantID: grant,
                                             host: host, client: "10.0.0.1", mode: "interactive", command: "", startedAt: start),
                               event: AuditEvent(at: start, sessionID: id, identity: identity, host: host, kind: .sessionStart))
        let chunk = Fixture.chunk(id, 0, "output of \(id)\r\n", after: Chunk.genesis(id))
        try store.appendChunk(chunk)
        for (k, (line, decision, cwd)) in lines.enumerated() {
            let argv0 = line.split(separator: " ").first.map(String.init) ?? ""
            try store.appendAudit([AuditEvent(at: start + Int64(k + 1) * 1_000, sessionID: id, identity: identity, host: host, kind: .line,
                                              line: line, decision: AuditDecision(rawValue: decision) ?? .none, rule: "roles/\(role).yaml:\(k + 3)",
                                              reason: decision == "deny" ? "not allowed" : "",
                                              data: "{\"commands\":[{\"argv\":[\"\(argv0)\"]}],\"cwd\":\"\(cwd)\"}")])
        }
        if let guarded {
            try store.appendAudit([AuditEvent(at: start + 9_000, sessionID: id, identity: identity, host: host, kind: .guard, line: guarded,
                                              decision: .deny, reason: "not allowed")])
        }
        var end = SessionEnd(sessionID: id, endedAt: start + 10_000_000, exitReason: "exit", exitStatus: 0, chunks: 1, chainHead: chunk.hash)
        end.signature = Array(try key.sign(end.signedMessage))
        end.keyID = key.id
        try store.endSession(end, event: AuditEvent(at: end.endedAt, sessionID: id, identity: identity, host: host, kind: .sessionEnd))
    }

    static let start = Fixture.start

    /// alice on prod-1 and prod-2, bob on dev-1; one session still running.
    static func fleet(_ backend: Backend) throws -> Bed {
        let bed = try Bed(backend)
        try record(bed.store, "a1-prod1", identity: "alice", role: "operator", host: "prod-1", start: start,
                   lines: [("ls -l", "allow", "/var/lib/app"), ("rm -rf /tmp/x", "confirm", "/tmp"), ("cat /etc/shadow", "deny", "/")])
        let grant = try bed.store.insertGrant(Fixture.grant(), notifications: [])
        try #require(grant.id == 1, "every back end numbers grants from 1")
        try record(bed.store, "a2-prod2", identity: "alice", role: "dba", host: "prod-2", start: start + 60_000_000,
                   lines: [("psql -c 'select 1'", "allow", "/srv/db"), ("/bin/rm data.sql", "allow", "/srv/db")], guarded: "/usr/bin/nc",
                   grant: grant.id)
        try record(bed.store, "b1-dev1", identity: "bob", role: "operator", host: "dev-1", start: start + 120_000_000,
                   lines: [("echo [x]", "allow", "/home/bob"), ("ls", "builtin", "/home/bob")])
        try bed.store.startSession(SessionRecord(id: "r1-prod1", identity: "carol", login: "carol", role: "operator", grantID: nil,
                                                 host: "prod-1", client: "10.0.0.9", mode: "exec", command: "sleep 600",
                                                 startedAt: start + 180_000_000),
                                   event: AuditEvent(at: start + 180_000_000, sessionID: "r1-prod1", identity: "carol", host: "prod-1", kind: .sessionStart))
        return bed
    }

    /// One expression, the lines of the events it finds (kind line or guard), in order.
    static let searches: [(String, [String])] = [
        ("command rm", ["rm -rf /tmp/x", "/bin/rm data.sql"]),
        ("command rm and user alice and host prod-1", ["rm -rf /tmp/x"]),
        ("command nc", ["/usr/bin/nc"]),
        // A path or a glob names programs as run, not only by name.
        ("command /bin/rm", ["/bin/rm data.sql"]),
        ("command 'r?'", ["rm -rf /tmp/x", "/bin/rm data.sql"]),
        ("command 'ps*' or command 'ca?'", ["cat /etc/shadow", "psql -c 'select 1'"]),
        ("command r", []),
        ("command bin", []),
        ("host prod-*", ["ls -l", "rm -rf /tmp/x", "cat /etc/shadow", "psql -c 'select 1'", "/bin/rm data.sql", "/usr/bin/nc"]),
        ("host 'prod-[2-9]' and kind line", ["psql -c 'select 1'", "/bin/rm data.sql"]),
        ("host 'prod-[^1]' and kind line", ["psql -c 'select 1'", "/bin/rm data.sql"]),
        ("decision deny", ["cat /etc/shadow", "/usr/bin/nc"]),
        ("decision deny or command psql", ["cat /etc/shadow", "psql -c 'select 1'", "/usr/bin/nc"]),
        ("not decision allow and kind line", ["rm -rf /tmp/x", "cat /etc/shadow", "ls"]),
        ("cwd /srv/*", ["psql -c 'select 1'", "/bin/rm data.sql"]),
        ("role dba", ["psql -c 'select 1'", "/bin/rm data.sql", "/usr/bin/nc"]),
        ("grant 1 and kind line", ["psql -c 'select 1'", "/bin/rm data.sql"]),
        ("session a1 and rule 'roles/operator.yaml:4'", ["rm -rf /tmp/x"]),
        ("line 'echo [[]x]'", ["echo [x]"]),
        ("line '*.sql'", ["/bin/rm data.sql"]),
        ("line 'ECHO*'", []),
        ("reason 'not *' and user alice", ["cat /etc/shadow", "/usr/bin/nc"]),
        ("user b?b and line ?s", ["ls"]),
        ("since '2026-01-05T12:01:30Z' and kind line", ["echo [x]", "ls"]),
        ("until '2026-01-05T12:00:30Z' and kind line", ["ls -l", "rm -rf /tmp/x", "cat /etc/shadow"]),
    ]

    @Test(arguments: Backend.allCases)
    func searchExpressionsFindTheSameEvents(_ backend: Backend) throws {
        let bed = try Self.fleet(backend)
        for (expression, expected) in Self.searches {
            let q = try AuditQuery([expression], now: Self.start / 1_000_000 + 3600)
            let found = try bed.store.auditEvents(matching: q, limit: 100).filter { $0.kind == "line" || $0.kind == "guard" }.map(\.line)
            #expect(found == expected, "\(backend): \(expression)")
        }
        let limited = try bed.store.auditEvents(matching: try AuditQuery(["kind line"], now: 0), limit: 2).map(\.line)
        #expect(limited == ["echo [x]", "ls"], "the newest two, oldest first")
    }

    @Test(arguments: Backend.allCases)
    func sessionListsFilterAlike(_ backend: Backend) throws {
        let bed = try Self.fleet(backend)
        func ids(_ change: (inout SessionFilter) -> Void) throws -> [String] {
            var f = SessionFilter()
            change(&f)
            return try bed.store.sessionSummaries(f).map(\.session.id)
        }
        #expect(try ids { _ in } == ["r1-prod1", "b1-dev1", "a2-prod2", "a1-prod1"])
        #expect(try ids { $0.host = "prod-*" } == ["r1-prod1", "a2-prod2", "a1-prod1"])
        #expect(try ids { $0.user = "alice"; $0.host = "prod-2" } == ["a2-prod2"])
        #expect(try ids { $0.deniedOnly = true } == ["a2-prod2", "a1-prod1"])
        #expect(try ids { $0.blockedOnly = true } == ["a2-prod2"])
        #expect(try ids { $0.runningOnly = true } == ["r1-prod1"])
        #expect(try ids { $0.command = "rm" } == ["a2-prod2", "a1-prod1"])
        #expect(try ids { $0.grant = 1 } == ["a2-prod2"])
        #expect(try ids { $0.since = Self.start + 60_000_000; $0.until = Self.start + 120_000_000 } == ["b1-dev1", "a2-prod2"])
        #expect(try ids { $0.limit = 2; $0.offset = 1 } == ["b1-dev1", "a2-prod2"])
        let a1 = try #require(try bed.store.sessionSummaries(SessionFilter()).first { $0.session.id == "a1-prod1" })
        #expect((a1.lines, a1.denied, a1.confirmed, a1.blocked, a1.end?.exitReason) == (3, 1, 0, 0, "exit"))
        let b1 = try #require(try bed.store.sessionSummaries(SessionFilter()).first { $0.session.id == "b1-dev1" })
        #expect(b1.lines == 1, "a builtin is not a line")
    }

    @Test(arguments: Backend.allCases)
    func idsTailAndDecidedLinesAlike(_ backend: Backend) throws {
        let bed = try Self.fleet(backend)
        #expect(try bed.store.sessionIDs(matching: "a2") == ["a2-prod2"])
        #expect(try bed.store.sessionIDs(matching: "a").count == 2)
        #expect(try bed.store.sessionIDs(matching: "zz").isEmpty)
        #expect(try bed.store.allSessionIDs(host: nil) == ["a1-prod1", "a2-prod2", "b1-dev1", "r1-prod1"])
        #expect(try bed.store.allSessionIDs(host: "prod-1") == ["a1-prod1", "r1-prod1"])
        let all = try bed.store.auditEvents(after: 0, limit: 1000)
        #expect(try bed.store.lastAuditID() == all.last?.id)
        let tail = try bed.store.auditEvents(after: all[all.count - 3].id, limit: 10)
        #expect(tail.map(\.kind) == all.suffix(2).map(\.kind))
        let decided = try bed.store.decidedLines(since: Self.start + 60_000_000)
        #expect(decided.map(\.line) == ["psql -c 'select 1'", "/bin/rm data.sql", "echo [x]"])
        #expect(decided.first == DecidedLine(line: "psql -c 'select 1'", role: "dba", host: "prod-2", at: Self.start + 60_001_000, cwd: "/srv/db"))
        #expect(try bed.store.sessions(["a1-prod1", "b1-dev1", "nope"]).keys.sorted() == ["a1-prod1", "b1-dev1"])
    }

    @Test(arguments: Backend.allCases)
    func verificationReadsAlike(_ backend: Backend) throws {
        let bed = try Self.fleet(backend)
        let ok = try bed.store.verify("a1-prod1", key: Self.key.publicKey)
        #expect(ok.ok, "\(ok.problems)")
        let other = SigningKey(privateKey: .init())
        #expect(!(try bed.store.verify("a1-prod1", key: other.publicKey).ok))
        #expect(!(try bed.store.verify("r1-prod1", key: Self.key.publicKey).ok), "a running session has no signed end")
    }

    /// The review glob means SQLite's GLOB everywhere: random patterns and texts over a small
    /// alphabet, SQLite itself against the memory store's matcher and PostgreSQL's regex.
    @Test func globsMeanTheSameInEveryBackEnd() throws {
        let seed: UInt64 = 2026_12_01
        var g = SeededGenerator(seed: seed)
        let alphabet = Array("ab-^*?[]")
        var cases: [(String, String)] = []
        for _ in 0..<400 {
            let p = String((0..<Int.random(in: 0...5, using: &g)).map { _ in alphabet.randomElement(using: &g)! })
            let t = String((0..<Int.random(in: 0...4, using: &g)).map { _ in Array("ab-^]")[Int.random(in: 0..<5, using: &g)] })
            cases.append((p, t))
        }
        let pg = try Bed(.postgresql)
        // One statement per engine: each answers every case as 0 or 1, in order.
        let rows = cases.enumerated().map { k, c in "(\(k), \(Self.literal(c.1)), \(Self.literal(c.0)), \(Self.literal(StoreGlob.regex(c.0))))" }
            .joined(separator: ",")
        let script = "import sqlite3, sys\nprint(sqlite3.connect(':memory:').execute(sys.argv[1]).fetchone()[0])\n"
        let (status, answer) = try PrivatePostgres.execute("/usr/bin/python3", ["-c", script, """
            WITH v(k, t, p, r) AS (VALUES \(rows)) SELECT group_concat(m, '') FROM (SELECT t GLOB p AS m FROM v ORDER BY k)
            """], timeout: 30)
        #expect(status == 0, "\(answer)")
        let fromSQLite = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        let fromPostgres = try pg.scalar("""
            SELECT string_agg(CASE WHEN t ~ r THEN '1' ELSE '0' END, '' ORDER BY k) FROM (VALUES \(rows)) v(k, t, p, r)
            """)
        let fromMemory = cases.map { StoreGlob.matches($0.0, $0.1) ? "1" : "0" }.joined()
        try #require(fromSQLite.count == cases.count && fromPostgres.count == cases.count, "\(fromSQLite) \(fromPostgres)")
        for (k, (p, t)) in cases.enumerated() {
            let s = Array(fromSQLite)[k], m = Array(fromMemory)[k], r = Array(fromPostgres)[k]
            #expect(s == m && s == r, "seed \(seed): '\(t)' GLOB '\(p)': SQLite \(s), memory \(m), PostgreSQL \(r) (regex \(StoreGlob.regex(p)))")
        }
    }

    static func literal(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
}
