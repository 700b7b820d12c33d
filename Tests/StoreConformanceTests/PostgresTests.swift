import Foundation
import PostgresStore
import Store
import Testing
import TestSupport

/// What only the PostgreSQL back end has: versioned schema, roles, credentials, a network.
@Suite(.timeLimit(.minutes(1)))
struct PostgresTests {
    @Test func theSchemaIsVersionedAndInitIsRepeatable() throws {
        let pg = try PrivatePostgres.server()
        let db = try pg.database()
        let refused = storeFailure { _ = try PostgresStore(pg.settings(database: db)) }
        #expect(refused?.kind == .missing)
        #expect(refused?.message.contains("run jitsh init") == true, "\(String(describing: refused))")
        let created = try PostgresStore(pg.settings(database: db), migrate: true)
        #expect(created.schemaChange == (0, PostgresStore.schemaVersion))
        let again = try PostgresStore(pg.settings(database: db), migrate: true)
        #expect(again.schemaChange == (PostgresStore.schemaVersion, PostgresStore.schemaVersion))
        #expect(try pg.psql("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version", database: db)
                == (1...PostgresStore.schemaVersion).map(String.init).joined(separator: ","))
        #expect(try PostgresStore(pg.settings(database: db)).integrity() == ["ok"])
        // A schema newer than this jitsh is not written to by it.
        _ = try pg.psql("INSERT INTO schema_version (version, name) VALUES (99, 'from the future')", database: db)
        #expect(storeFailure { _ = try PostgresStore(pg.settings(database: db)) }?.kind == .conflict)
        #expect(storeFailure { _ = try PostgresStore(pg.settings(database: db), migrate: true) }?.message.contains("upgrade jitsh") == true)
    }

    /// A host's role (in jitsh_hosts) reads and inserts; it cannot update or delete history,
    /// refused by privilege before any trigger.
    @Test func aHostsRoleOnlyInserts() throws {
        let pg = try PrivatePostgres.server()
        let bed = try Bed(.postgresql)
        let db = try #require(bed.database)
        let host = try FleetReviewTests.enrol(pg, db, host: "prod-1", password: "host-pw")
        let role = FleetReviewTests.role("prod-1", db)
        try Fixture.record(host, "h1", ["from a host\r\n"])
        let g = try host.insertGrant(Fixture.grant(), notifications: [Notification(event: "requested", text: "a", fields: [:])])
        _ = try host.changeGrant(g.id) { _ in ([GrantEvent(.approved, actor: "lead1", at: g.requestedAt + 1)], []) }
        try host.markDelivered(try #require(try host.dueNotifications(now: g.requestedAt, limit: 1).first).id, at: g.requestedAt)
        #expect(try bed.store.chunks(session: "h1").count == 1)
        let (updated, output) = try pg.run("UPDATE audit_events SET identity = 'mallory'", database: db, role: role)
        #expect(updated != 0 && output.contains("permission denied"), "\(output)")
        let (deleted, why) = try pg.run("DELETE FROM chunks", database: db, role: role)
        #expect(deleted != 0 && why.contains("permission denied"), "\(why)")
        #expect(try pg.psql("SELECT count(*) FROM chunks", database: db) == "1")
    }

    @Test func wrongCredentialsAreOneLine() throws {
        let pg = try PrivatePostgres.server()
        let db = try pg.database()
        let failure = try #require(storeFailure { _ = try PostgresStore(pg.settings(database: db, password: "wrong"), migrate: true) })
        #expect(failure.kind == .permission)
        #expect(failure.message.contains("refused role \(PrivatePostgres.admin)") && failure.message.contains("store_password_file"), "\(failure)")
        #expect(!failure.message.contains("\n"))
    }

    /// Nothing listens: refused at once, in words; the bound holds for a peer that never answers.
    @Test func aDatabaseThatIsNotThereIsOneLine() throws {
        let port = try Loopback.freePort()
        let location = PostgresLocation(role: "jitsh", host: "127.0.0.1", port: port, database: "jitsh")
        let failure = try #require(storeFailure { _ = try PostgresStore(PostgresSettings(location: location, password: "x", timeout: 5)) })
        #expect(failure.message == "the central store \(location) cannot be reached: connection refused", "\(failure)")

        // A listener that accepts and says nothing: the wait ends at the bound.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(silent, $0, &len) } }
        listen(silent, 4)
        let quiet = PostgresLocation(role: "jitsh", host: "127.0.0.1", port: Int(UInt16(bigEndian: addr.sin_port)), database: "jitsh")
        let started = Date()
        let timedOut = try #require(storeFailure { _ = try PostgresStore(PostgresSettings(location: quiet, password: "x", timeout: 1)) })
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(timedOut.message == "the central store \(quiet) cannot be reached: no answer within 1 s", "\(timedOut)")
    }

    /// Off loopback, no connection is tried without TLS.
    @Test func tlsIsRequiredOffLoopback() throws {
        let location = PostgresLocation(role: "jitsh_prod_1", host: "db1.example.net", database: "jitsh")
        let failure = try #require(storeFailure { _ = try PostgresStore(PostgresSettings(location: location, password: "x")) })
        #expect(failure.message == "the central store \(location) is not on loopback, so TLS is required: set store_ca_file: in jitsh.yaml")
    }

    /// The search runs in PostgreSQL on its GIN index, not by reading every row.
    @Test func fullTextUsesTheIndex() throws {
        let bed = try Bed(.postgresql)
        for k in 0..<30 { try Fixture.record(bed.store, "big\(k)", ["line \(k) of many\r\n", "needle\(k)\r\n"]) }
        try bed.store.indexRecordings(batch: 200, transactionMicroseconds: 50_000)
        #expect(try bed.store.searchRecordings("needle17", limit: 10, newestFirst: false).map(\.sessionID) == ["big17"])
        let plan = try bed.scalar("SET enable_seqscan = off; EXPLAIN SELECT 1 FROM recording_text WHERE document @@ '''needle17'''::tsquery")
        #expect(plan.contains("recording_text_document"), "\(plan)")
    }
}

/// The store failure `body` threw, nil for none or another error.
func storeFailure(_ body: () throws -> Void) -> StoreError? {
    do {
        try body()
        return nil
    } catch let e as StoreError {
        return e
    } catch {
        return nil
    }
}
