import Foundation
import GRDB

/// A lock on one live session: its watchdog ends it within seconds, exit reason `locked`, and
/// the lock stays on record (append-only). What a reviewer's Terminate in the browser sets.
public struct SessionLock: Sendable, Equatable {
    public var sessionID: String
    public var actor: String
    public var reason: String
    public var at: Int64

    public init(sessionID: String, actor: String, reason: String, at: Int64) {
        self.sessionID = sessionID
        self.actor = actor
        self.reason = reason
        self.at = at
    }
}

extension SQLiteStore {
    /// Locks the session; a second lock of the same session keeps the first.
    public func lockSession(_ lock: SessionLock) throws {
        try database.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO session_locks (session_id, actor, reason, at) VALUES (?, ?, ?, ?)",
                           arguments: [lock.sessionID, lock.actor, lock.reason, lock.at])
        }
    }

    public func sessionLock(_ id: String) throws -> SessionLock? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM session_locks WHERE session_id = ?", arguments: [id]).map {
                SessionLock(sessionID: $0["session_id"], actor: $0["actor"], reason: $0["reason"], at: $0["at"])
            }
        }
    }

    static func registerSessionLocks(_ m: inout DatabaseMigrator) {
        m.registerMigration("v6 session locks") { db in
            try db.execute(sql: """
                CREATE TABLE session_locks (
                    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
                    actor TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    at INTEGER NOT NULL
                );
                """)
            try db.execute(sql: Database.appendOnlyTriggers("session_locks"))
        }
    }
}
