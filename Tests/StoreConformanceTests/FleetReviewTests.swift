import Foundation
import PostgresStore
import Store
import Testing
import TestSupport

/// The fleet's least privilege and its review, against the private PostgreSQL: a host added
/// with `jitsh fleet add-host` writes only its own rows (the database refuses the rest), and any
/// host reviews every host's sessions, verified with the key each host registered.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct FleetReviewTests {
    /// The SQL `fleet add-host` prints, run by the database's owner; the host's store.
    static func enrol(_ pg: PrivatePostgres, _ db: String, host: String, password: String) throws -> PostgresStore {
        let verifier = try Enrolment.scramVerifier(password: password, salt: Array("salt-\(host)".utf8))
        let sql = try Enrolment(host: host, role: role(host, db), database: db, verifier: verifier).sql
        let (status, output) = try pg.run(sql, database: db)
        try #require(status == 0, "\(output)")
        return try PostgresStore(pg.settings(database: db, role: role(host, db), password: password))
    }

    /// Roles belong to the whole cluster, which every test shares: one role per host and database.
    static func role(_ host: String, _ db: String) -> String { Enrolment.role(for: host) + "_" + db }

    static func session(_ id: String, host: String) -> SessionRecord {
        SessionRecord(id: id, identity: "alice", login: "alice", role: "operator", grantID: nil, host: host, client: "10.0.0.1",
                      mode: "exec", command: "ls", startedAt: Fixture.start)
    }

    @Test func aHostsRoleInsertsOnlyItsOwnHostsRowsAndChangesNothing() throws {
        let pg = try PrivatePostgres.server()
        let bed = try Bed(.postgresql)
        let db = try #require(bed.database)
        let prod2 = try Self.enrol(pg, db, host: "prod-2", password: "pw-prod-2")
        #expect(try prod2.mappedHost() == "prod-2")
        #expect(try prod2.excessPrivileges() == [])
        #expect(try (bed.store as! PostgresStore).excessPrivileges().contains { $0.contains("bypasses row-level security") })

        // Its own rows go in.
        try prod2.startSession(Self.session("own", host: "prod-2"), event: AuditEvent(at: Fixture.start, sessionID: "own", identity: "alice",
                                                                                      host: "prod-2", kind: .sessionStart))
        try prod2.appendChunk(Fixture.chunk("own", 0, "mine\r\n", after: Chunk.genesis("own")))
        let key = SigningKey(privateKey: .init())
        #expect(try prod2.register(host: "prod-2", tags: ["env": "production"], key: key.publicKey, at: Fixture.start) == (true, true))
        #expect(try prod2.register(host: "prod-2", tags: ["env": "production"], key: key.publicKey, at: Fixture.start + 1) == (false, false))

        // Another host's are refused by the database, whatever jitsh would have checked.
        try bed.store.startSession(Self.session("theirs", host: "prod-1"), event: Fixture.event(.sessionStart, session: "theirs"))
        let refusals: [(String, () throws -> Void)] = [
            ("a session of prod-1", { try prod2.startSession(Self.session("forged", host: "prod-1"),
                                                             event: AuditEvent(at: 1, sessionID: "forged", identity: "alice", host: "prod-1", kind: .sessionStart)) }),
            ("a chunk in prod-1's session", { try prod2.appendChunk(Fixture.chunk("theirs", 0, "forged\r\n", after: Chunk.genesis("theirs"))) }),
            ("an event of prod-1", { try prod2.appendAudit([AuditEvent(at: 1, sessionID: nil, identity: "alice", host: "prod-1", kind: .line)]) }),
            ("prod-1's end", { try prod2.endSession(SessionEnd(sessionID: "theirs", endedAt: 2, exitReason: "exit", exitStatus: 0, chunks: 0,
                                                               chainHead: Chunk.genesis("theirs")),
                                                    event: AuditEvent(at: 2, sessionID: "theirs", identity: "alice", host: "prod-2", kind: .sessionEnd)) }),
            ("a key for prod-1", { _ = try prod2.register(host: "prod-1", tags: [:], key: key.publicKey, at: 1) }),
        ]
        for (what, attempt) in refusals {
            let error = storeFailure(attempt)
            #expect(error?.message.contains("row-level security") == true, "\(what): \(String(describing: error))")
        }
        #expect(try bed.scalar("SELECT count(*) FROM sessions WHERE id = 'forged'") == "0")
        #expect(try bed.scalar("SELECT count(*) FROM chunks WHERE session_id = 'theirs'") == "0")
        // Snapshot images and contents: its own session's go in, prod-1's are refused.
        let role = Self.role("prod-2", db)
        for session in ["own", "theirs"] {
            for sql in ["INSERT INTO snapshot_images VALUES ('\(session)', 0, 1, 1, '/etc/app.conf', '', '', '\\x00', '\\x01')",
                        "INSERT INTO snapshot_contents VALUES ('\(session)', 'ab', 1, '\\x00')"] {
                let (status, output) = try pg.run(sql, database: db, role: role)
                if session == "own" {
                    #expect(status == 0, "\(sql): \(output)")
                } else {
                    #expect(status != 0 && output.contains("row-level security"), "\(sql): \(output)")
                }
            }
        }

        // History stays as it is, by privilege before any trigger.
        for sql in ["UPDATE sessions SET identity = 'mallory'", "DELETE FROM chunks", "DELETE FROM host_keys", "UPDATE fleet_hosts SET host = 'prod-1'",
                    "UPDATE snapshot_images SET path = '/x'", "DELETE FROM snapshot_contents",
                    "INSERT INTO fleet_hosts (role, host) VALUES ('\(role)', 'prod-1')"] {
            let (status, output) = try pg.run(sql, database: db, role: role)
            #expect(status != 0 && output.contains("permission denied"), "\(sql): \(output)")
        }
        // Adding the host again (a new password) keeps one mapping.
        _ = try Self.enrol(pg, db, host: "prod-2", password: "pw-prod-2-new")
        #expect(try bed.scalar("SELECT count(*) FROM fleet_hosts") == "1")
    }

    @Test func aSessionOfAnotherHostVerifiesWithTheKeyThatHostRegistered() throws {
        let bed = try Bed(.postgresql)
        let central = bed.store as! PostgresStore
        let theirs = SigningKey(privateKey: .init()), mine = SigningKey(privateKey: .init())
        let chunk = Fixture.chunk("p2", 0, "on prod-2\r\n", after: Chunk.genesis("p2"))
        try central.startSession(Self.session("p2", host: "prod-2"), event: Fixture.event(.sessionStart, session: "p2"))
        try central.appendChunk(chunk)
        var end = SessionEnd(sessionID: "p2", endedAt: Fixture.start + 1, exitReason: "exit", exitStatus: 0, chunks: 1, chainHead: chunk.hash)
        end.signature = Array(try theirs.sign(end.signedMessage))
        end.keyID = theirs.id
        try central.endSession(end, event: Fixture.event(.sessionEnd, session: "p2"))

        let unregistered = try central.verify("p2", key: mine.publicKey)
        #expect(unregistered.problems == ["signed with key \(theirs.id), which host prod-2 never registered in the central store (jitsh init on that host registers its key)"])
        _ = try central.register(host: "prod-2", tags: [:], key: theirs.publicKey, at: Fixture.start)
        let verified = try central.verify("p2", key: mine.publicKey)
        #expect(verified.ok, "\(verified.problems)")
        // A key registered by another host does not vouch for prod-2's sessions.
        _ = try central.register(host: "prod-3", tags: [:], key: mine.publicKey, at: Fixture.start)
        #expect(try central.hostKey(host: "prod-2", id: mine.id) == nil)
    }

    /// The whole path as an admin walks it: add-host prints SQL without the password, the owner
    /// runs it, init registers the host, doctor approves its role, a session ships, and a review
    /// on another host lists, searches and verifies it.
    @Test func aHostAddedWithItsOwnRoleIsReviewedFromAnother() throws {
        let pg = try PrivatePostgres.server()
        let db = try pg.database()
        // The owner creates the schema once (an admin's init); hosts then connect as their roles.
        let admin = try FleetCommandTests.Host(store: "postgresql://\(PrivatePostgres.admin)@127.0.0.1:\(pg.port)/\(db)", password: pg.password)
        #expect(try admin.jitsh(["init"]).status == 0)

        var hosts: [FleetCommandTests.Host] = []
        for name in ["prod-2", "prod-3"] {
            let role = Self.role(name, db)
            // The password file does not exist yet: add-host makes it, root:jitsh 0640.
            let host = try FleetCommandTests.Host(store: "postgresql://\(role)@127.0.0.1:\(pg.port)/\(db)", password: "unused", name: name)
            try FileManager.default.removeItem(atPath: host.passwordFile)
            let added = try PrivatePostgres.execute(FleetCommandTests.jitsh, ["fleet", "add-host", name, "--role", role, "--database", db,
                                                                              "--password-file", host.passwordFile], timeout: 30, capture: true)
            #expect(added.status == 0, "\(added)")
            let password = try String(contentsOfFile: host.passwordFile, encoding: .utf8).trimmingCharacters(in: .newlines)
            var st = stat()
            #expect(stat(host.passwordFile, &st) == 0 && st.st_mode & 0o777 == 0o640 && st.st_gid == getgrnam("jitsh")!.pointee.gr_gid)
            #expect(password.count >= 24 && !added.output.contains(password), "the SQL carries a verifier, never the password")
            #expect(added.output.contains("SCRAM-SHA-256$4096:") && added.output.contains("INSERT INTO fleet_hosts (role, host) VALUES ('\(role)', '\(name)')"))
            let sql = added.output.split(separator: "\n").filter { !$0.hasPrefix("jitsh: wrote") }.joined(separator: "\n")
            let (status, output) = try pg.run(sql, database: db)
            #expect(status == 0, "\(output)")

            let initialised = try host.jitsh(["init"])
            #expect(initialised.status == 0 && initialised.output.contains("registered host \(name) and its key"), "\(initialised)")
            let doctor = try host.jitsh(["doctor"])
            #expect(doctor.output.contains("ok    database role: \(role) inserts rows of host \(name) only, and cannot update or delete history"), "\(doctor)")
            #expect(doctor.output.contains("ok    central store: postgresql://\(role)@127.0.0.1:\(pg.port)/\(db) answers, schema version \(PostgresStore.schemaVersion)"), "\(doctor)")
            #expect(doctor.output.contains("ok    host key: this host's signing key is registered centrally"), "\(doctor)")
            hosts.append(host)
        }
        let adminDoctor = try admin.jitsh(["doctor"])
        #expect(adminDoctor.output.contains("FAIL  database role: \(PrivatePostgres.admin): ") && adminDoctor.output.contains("bypasses row-level security"),
                "\(adminDoctor)")

        // A session on prod-2 under a grant approved centrally, shipped by its sync.
        let (prod2, prod3) = (hosts[0], hosts[1])
        let request = try prod2.jitsh(["grant", "request", "--as", "alice", "--role", "operator", "--host", "prod-*", "--reason", "INC-20 review"])
        let id = try #require(request.output.firstMatch(of: /grant (\d+):/).map { String($0.1) }, "\(request)")
        #expect(try prod3.jitsh(["grant", "approve", "--as", "lead1", id]).status == 0)
        #expect(try prod2.jitsh(["sync", "--once"]).status == 0)
        let ran = try prod2.jitsh(["--as", "alice"], environment: ["PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": "ls /"])
        #expect(ran.status == 0, "\(ran)")
        let shipped = try prod2.jitsh(["sync", "--once"])
        #expect(shipped.status == 0 && shipped.output.contains("1 ended sessions"), "\(shipped)")
        let sessionID = try pg.psql("SELECT id FROM sessions WHERE host = 'prod-2'", database: db)

        // Reviewed from prod-3: every host's sessions, the same output as on a lone host.
        let list = try prod3.jitsh(["sessions", "list", "--host", "prod-*"])
        #expect(list.status == 0 && list.output.contains(String(sessionID.prefix(8))) && list.output.contains("prod-2"), "\(list)")
        let none = try prod3.jitsh(["sessions", "list", "--host", "prod-3"])
        #expect(!none.output.contains(String(sessionID.prefix(8))), "\(none)")
        let verify = try prod3.jitsh(["sessions", "verify", "--all", "--host", "prod-2"])
        #expect(verify.status == 0 && verify.output.contains("\(sessionID) ok:") && verify.output.contains("1 of 1 sessions verified"), "\(verify)")
        let search = try prod3.jitsh(["audit", "search", "--host", "prod-?", "command", "ls"])
        #expect(search.status == 0 && search.output.contains("alice@prod-2  line allow: ls /"), "\(search)")
        let text = try prod3.jitsh(["audit", "search", "--text", "bin"])
        #expect(text.status == 0 && text.output.contains(String(sessionID.prefix(8))), "the listing of / was indexed as it shipped: \(text)")
        let show = try prod3.jitsh(["sessions", "show", String(sessionID.prefix(8))])
        #expect(show.status == 0 && show.output.contains("alice (login root) as operator on prod-2"), "\(show)")
        // prod-3's own spool has none of it: --spool reads only what this host recorded.
        let spool = try prod3.jitsh(["sessions", "list", "--spool"])
        #expect(spool.status == 0 && !spool.output.contains(String(sessionID.prefix(8))), "\(spool)")
        // The grant for prod-* covers every host that reported (the owner's init registered prod-1).
        let grantShown = try prod3.jitsh(["grant", "show", id])
        #expect(grantShown.output.contains("  covers today: prod-1, prod-2, prod-3"), "\(grantShown)")
        let fleet = try prod3.jitsh(["fleet", "hosts"])
        #expect(fleet.output.contains("prod-2  role \(Self.role("prod-2", db))  key ") && fleet.output.contains("env=production"), "\(fleet)")
    }
}
