import Foundation
@testable import PostgresStore
import Store
import Testing
import TestSupport

/// A central store of schema version 6, when grants, their events, locks and the outbox counted
/// seconds: `jitsh init` (migrate) brings it to one unit, microseconds, and the append-only
/// tables refuse changes afterwards as before.
@Suite(.timeLimit(.minutes(1)))
struct PostgresMigrationTests {
    @Test func aCentralStoreThatCountedSecondsUpgradesToMicroseconds() throws {
        let pg = try PrivatePostgres.server()
        let db = try pg.database()
        let upTo6 = Schema.versions.filter { $0.number <= 6 }
        try #require(upTo6.count == 6)
        _ = try pg.psql("""
            CREATE TABLE schema_version (version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
            \(upTo6.flatMap(\.statements).joined(separator: ";\n"));
            INSERT INTO schema_version (version, name) VALUES \(upTo6.map { "(\($0.number), 'v\($0.number)')" }.joined(separator: ", "))
            """, database: db)
        let t0: Int64 = 1_767_614_400
        _ = try pg.psql("""
            INSERT INTO grants (id, identity, role, contract, host_pattern, reason, requested_at, starts_at, duration, approvals_needed,
                                max_duration, pending_ttl) VALUES (1, 'alice', 'operator', 'one', 'prod-1', 'INC-1', \(t0), \(t0), 3600, 1, 7200, 1800);
            INSERT INTO grant_events (grant_id, kind, actor, at, seconds) VALUES (1, 'requested', 'alice', \(t0), 0),
                (1, 'approved', 'lead1', \(t0 + 5), 0), (1, 'extended', 'alice', \(t0 + 60), 1800);
            INSERT INTO locks (id, kind, value, actor, reason, at, until) VALUES (1, 'user', 'bob', 'root', 'INC-2', \(t0 + 100), \(t0 + 3700));
            INSERT INTO lock_removals (lock_id, actor, reason, at) VALUES (1, 'root', 'over', \(t0 + 200));
            INSERT INTO outbox (created_at, event, payload, next_attempt_at) VALUES (\(t0), 'requested', '{}', \(t0 + 30))
            """, database: db)

        let store = try PostgresStore(pg.settings(database: db), migrate: true)
        #expect(store.schemaChange == (6, PostgresStore.schemaVersion))
        let s: Int64 = 1_000_000
        let g = try #require(try store.grant(1))
        #expect(g.requestedAt == t0 * s && g.duration == 3600 * s && g.maxDuration == 7200 * s && g.pendingTTL == 1800 * s)
        #expect(g.events.map(\.at) == [t0, t0 + 5, t0 + 60].map { $0 * s } && g.events.last?.extra == 1800 * s)
        #expect(g.state(at: (t0 + 5399) * s) == .active && g.state(at: (t0 + 5400) * s) == .expired)
        let lock = try #require(try store.locks(holdingAt: nil).first)
        #expect(lock.at == (t0 + 100) * s && lock.until == (t0 + 3700) * s && lock.removal?.at == (t0 + 200) * s)
        #expect(try store.dueNotifications(now: (t0 + 30) * s - 1, limit: 10).isEmpty)
        #expect(try store.dueNotifications(now: (t0 + 30) * s, limit: 10).count == 1)
        // New rows are written in the same unit and read back beside the migrated ones.
        _ = try store.changeGrant(1) { _ in ([GrantEvent(.revoked, actor: "root", at: (t0 + 70) * s)], []) }
        #expect(try store.grant(1)?.state(at: (t0 + 71) * s) == .revoked)

        for sql in ["UPDATE grants SET duration = 1", "UPDATE grant_events SET extra = 1", "DELETE FROM locks", "UPDATE lock_removals SET at = 1"] {
            let (status, output) = try pg.run(sql, database: db)
            #expect(status != 0 && output.contains("append-only"), "\(sql): \(output)")
        }
        #expect(try pg.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'grant_events' AND column_name = 'seconds'",
                            database: db) == "0")
    }
}
