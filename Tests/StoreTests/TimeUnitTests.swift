import Crypto
import Foundation
import GRDB
import Testing
@testable import Store

/// A store written while grants, locks, the outbox, tombstones and review tokens counted
/// seconds (schema v11) opens in one unit, microseconds, with its history intact: the same
/// grant states, the same due notifications, a tombstone signed then still verifying, and the
/// append-only tables still refusing changes.
struct TimeUnitTests {
    static let t0: Int64 = 1_767_614_400

    @Test func aStoreThatCountedSecondsOpensInMicroseconds() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-units-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("jitsh.db").path
        let key = SigningKey(privateKey: Curve25519.Signing.PrivateKey())
        let t0 = Self.t0
        // The tombstone as jitsh signed it then: its prune time in seconds.
        var message = Data("jitsh tombstone v1".utf8) + Data([0])
        for field in ["t1", String(t0 + 300), "root", "0", "0", "0"] { message += Data(field.utf8) + Data([0]) }
        message += Data(Chunk.genesis("t1"))
        let signature = try key.sign(message)

        let old = try DatabaseQueue(path: path)
        try Database.migrator.migrate(old, upTo: "v11 spool: snapshot images shipped")
        try old.write { db in
            try db.execute(sql: """
                INSERT INTO grants (id, identity, role, contract, host_pattern, reason, requested_at, starts_at, duration,
                                    approvals_needed, max_duration, pending_ttl)
                VALUES (1, 'alice', 'operator', 'one', 'prod-1', 'INC-1', ?, ?, 3600, 1, 7200, 1800);
                INSERT INTO grant_events (grant_id, kind, actor, at, seconds) VALUES (1, 'requested', 'alice', ?, 0),
                    (1, 'approved', 'lead1', ?, 0), (1, 'extended', 'alice', ?, 1800);
                INSERT INTO locks (id, kind, value, actor, reason, at, until) VALUES (1, 'user', 'bob', 'root', 'INC-2', ?, ?);
                INSERT INTO lock_removals (lock_id, actor, reason, at) VALUES (1, 'root', 'over', ?);
                INSERT INTO outbox (created_at, event, payload, next_attempt_at) VALUES (?, 'requested', '{}', ?);
                INSERT INTO outbox (created_at, event, payload, next_attempt_at) VALUES (?, 'alert', '{}', ?);
                INSERT INTO review_tokens (hash, kind, identity, issued_at, expires_at) VALUES (?, 'browser', 'carol', ?, ?);
                INSERT INTO sessions (id, identity, login, role, grant_id, host, client, mode, started_at)
                    VALUES ('t1', 'alice', 'alice', 'operator', 1, 'prod-1', '127.0.0.1', 'exec', ?);
                INSERT INTO tombstones (session_id, pruned_at, actor, chunks, first_at, last_at, chain_head, signature, key_id)
                    VALUES ('t1', ?, 'root', 0, 0, 0, ?, ?, ?);
                """, arguments: [t0, t0, t0, t0 + 5, t0 + 60, t0 + 100, t0 + 3700, t0 + 200, t0, t0 + 30, t0 * second, t0,
                                 ReviewToken.hash("cookie"), t0, t0 + 14_400, t0 * second,
                                 t0 + 300, Data(Chunk.genesis("t1")), signature, key.id])
        }
        try old.close()

        let store = try SQLiteStore(path: path)
        let g = try #require(try store.grant(1))
        #expect(g.requestedAt == t0 * second && g.duration == 3600 * second && g.maxDuration == 7200 * second)
        #expect(g.pendingTTL == 1800 * second && g.events.map(\.at) == [t0, t0 + 5, t0 + 60].map { $0 * second })
        #expect(g.events.last?.extra == 1800 * second && g.endsAt == (t0 + 5400) * second)
        #expect(g.state(at: (t0 + 5399) * second) == .active && g.state(at: (t0 + 5400) * second) == .expired)

        let lock = try #require(try store.locks(holdingAt: nil).first)
        #expect(lock.at == (t0 + 100) * second && lock.until == (t0 + 3700) * second && lock.removal?.at == (t0 + 200) * second)
        // An audit alert's row had its event's microseconds already: it keeps them.
        #expect(try store.dueNotifications(now: t0 * second - 1, limit: 10).isEmpty)
        #expect(try store.dueNotifications(now: (t0 + 30) * second - 1, limit: 10).map(\.event) == ["alert"])
        #expect(try store.dueNotifications(now: (t0 + 30) * second, limit: 10).count == 2)
        let created = try DatabaseQueue(path: path).read { db in try Int64.fetchAll(db, sql: "SELECT created_at FROM outbox ORDER BY id") }
        #expect(created == [t0 * second, t0 * second])
        #expect(try store.browserSession("cookie", now: (t0 + 14_399) * second)?.identity == "carol")
        #expect(try store.browserSession("cookie", now: (t0 + 14_400) * second) == nil)

        let verified = try store.verify("t1", key: key.publicKey)
        #expect(verified.ok, "\(verified.problems)")
        #expect(verified.summary.hasPrefix("pruned 2026-01-05T12:05:00Z by root"), "\(verified.summary)")
        #expect(try store.tombstone("t1")?.prunedAt == (t0 + 300) * second)

        // The migration lifted the append-only triggers for its own change only.
        for sql in ["UPDATE grants SET duration = 1", "UPDATE grant_events SET extra = 1", "DELETE FROM locks",
                    "UPDATE lock_removals SET at = 1", "UPDATE tombstones SET pruned_at = 1"] {
            #expect(throws: (any Error).self, "\(sql)") { try DatabaseQueue(path: path).write { db in try db.execute(sql: sql) } }
        }
    }

    /// A prune keeps its time to the second it signs, and a tombstone off that second is named as
    /// altered (the signature alone, naming the second, would not see it).
    @Test func aTombstoneKeepsTheWholeSecondItSigns() throws {
        let t = try TemporaryStore()
        let key = SigningKey(privateKey: Curve25519.Signing.PrivateKey())
        for id in ["p1", "p2"] {
            let record = SessionRecord(id: id, identity: "alice", login: "alice", role: "operator", grantID: nil, host: "prod-1",
                                       client: "127.0.0.1", mode: "exec", command: "true", startedAt: Self.t0 * second)
            try t.store.startSession(record, event: AuditEvent(at: Self.t0 * second, sessionID: id, identity: "alice", host: "prod-1",
                                                                kind: .sessionStart))
        }
        let tomb = try t.store.prune("p1", actor: "root", key: key, now: Self.t0 * second + 987_654)
        #expect(tomb.prunedAt == Self.t0 * second)
        #expect(try t.store.verify("p1", key: key.publicKey).ok)

        var moved = tomb
        moved.sessionID = "p2"
        moved.chainHead = Chunk.genesis("p2")
        moved.signature = Array(try key.sign(moved.signedMessage))
        moved.prunedAt += 1
        try DatabaseQueue(path: t.path).write { db in
            try db.execute(sql: """
                INSERT INTO tombstones (session_id, pruned_at, actor, chunks, first_at, last_at, chain_head, signature, key_id)
                VALUES ('p2', ?, 'root', 0, 0, 0, ?, ?, ?)
                """, arguments: [moved.prunedAt, Data(Chunk.genesis("p2")), Data(moved.signature), key.id])
        }
        #expect(try t.store.verify("p2", key: key.publicKey).problems == ["the tombstone's time is not the whole second its signature names"])
    }
}
