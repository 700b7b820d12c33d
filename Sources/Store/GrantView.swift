import Foundation
import GRDB

/// A fleet host's view of the central grants and locks, mirrored into its spool by `jitsh sync`:
/// sessions and their watchdogs read grants from the spool as on a lone host, so a revocation
/// made anywhere reaches them at the next refresh, and the view's age says how stale it may be.
extension SQLiteStore {
    /// Mirrors grants (with their events) and locks as the central store has them, and stamps
    /// the view. Grant events are append-only and ordered per grant, so the spool appends the
    /// ones past those it holds. A spool grant that is not the central grant of that id (a
    /// spool that was once a lone host's store) is refused: the view is then stale, never wrong.
    public func mirror(grants: [Grant], locks: [SessionLock], accessLocks: [Lock] = [], at now: Int64) throws {
        try database.write { db in
            for g in grants {
                if let local = try Self.load(g.id, db) {
                    var a = local, b = g
                    a.events = []
                    b.events = []
                    guard a == b, local.events.count <= g.events.count, Array(g.events.prefix(local.events.count)) == local.events else {
                        throw StoreError(.conflict, "the spool \(database.path) holds a grant \(g.id) that is not the central store's; move the spool away and run jitsh init")
                    }
                    for e in g.events.dropFirst(local.events.count) { try Self.insert(e, grant: g.id, db) }
                } else {
                    try db.execute(sql: """
                        INSERT INTO grants (id, identity, role, contract, host_pattern, reason, requested_at, starts_at, duration,
                                            approvals_needed, max_duration, pending_ttl, break_glass, approval)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [g.id, g.identity, g.role, g.contract, g.hostPattern, g.reason, g.requestedAt, g.startsAt, g.duration,
                                         g.approvalsNeeded, g.maxDuration, g.pendingTTL, g.breakGlass, g.approval?.stored ?? ""])
                    for e in g.events { try Self.insert(e, grant: g.id, db) }
                }
            }
            for l in locks where try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?)", arguments: [l.sessionID]) == true {
                try db.execute(sql: "INSERT OR IGNORE INTO session_locks (session_id, actor, reason, at) VALUES (?, ?, ?, ?)",
                               arguments: [l.sessionID, l.actor, l.reason, l.at])
            }
            try Self.mirror(accessLocks, db)
            try db.execute(sql: "INSERT OR REPLACE INTO sync_state (key, value, text) VALUES ('view', ?, NULL)", arguments: [now])
        }
    }

    /// When the grant and lock view was last refreshed from the central store (µs); nil: never.
    public func viewRefreshed() throws -> Int64? {
        try database.read { db in try Int64.fetchOne(db, sql: "SELECT value FROM sync_state WHERE key = 'view'") }
    }

    /// Sessions of this spool with no end: the ones a central lock can still end.
    public func openSessionIDs() throws -> [String] {
        try database.read { db in
            try String.fetchAll(db, sql: """
                SELECT s.id FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM session_ends e WHERE e.session_id = s.id)
                AND NOT EXISTS (SELECT 1 FROM session_locks l WHERE l.session_id = s.id) ORDER BY s.started_at
                """)
        }
    }
}
