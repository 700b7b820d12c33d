import Foundation
import GRDB

/// A lock on a person, a role or a host (`jitsh lock`): while it holds it refuses new sessions
/// and grant requests it matches, and ends the matching live sessions on every host (NIST
/// AC-17(9), Teleport's locks). Append-only: a lock is lifted by a removal beside it, or ends by
/// itself at `until`. Times in microseconds, as everything the store keeps.
public struct Lock: Sendable, Equatable {
    public enum Target: Sendable, Equatable, CustomStringConvertible {
        case user(String), role(String), host(String)

        public var kind: String {
            switch self {
            case .user: "user"
            case .role: "role"
            case .host: "host"
            }
        }

        public var value: String {
            switch self {
            case .user(let v), .role(let v), .host(let v): v
            }
        }

        public init?(kind: String, value: String) {
            switch kind {
            case "user": self = .user(value)
            case "role": self = .role(value)
            case "host": self = .host(value)
            default: return nil
            }
        }

        public var description: String { "\(kind) \(value)" }
    }

    public struct Removal: Sendable, Equatable {
        public var actor: String
        public var reason: String
        public var at: Int64

        public init(actor: String, reason: String, at: Int64) { (self.actor, self.reason, self.at) = (actor, reason, at) }
    }

    public var id: Int64 = 0
    public var target: Target
    public var actor: String
    public var reason: String
    public var at: Int64
    /// When it lifts by itself; nil: until removed.
    public var until: Int64?
    public var removal: Removal?

    public init(target: Target, actor: String, reason: String, at: Int64, until: Int64? = nil) {
        (self.target, self.actor, self.reason, self.at, self.until) = (target, actor, reason, at, until)
    }

    /// From the moment it is made, whatever the reading host's clock says of `at` (a fleet's
    /// clocks differ by seconds, and a lock must not wait for the slowest); until removed or over.
    public func holds(at now: Int64) -> Bool { removal == nil && (until.map { now < $0 } ?? true) }

    /// Whether it covers a session or request of `identity` as `role` on `host`.
    public func covers(identity: String, role: String?, host: String) -> Bool {
        switch target {
        case .user(let u): u == identity
        case .role(let r): r == role
        case .host(let h): h == host
        }
    }

    /// The first lock in `locks` that holds now and covers them.
    public static func covering(_ locks: [Lock], identity: String, role: String?, host: String, now now: Int64) -> Lock? {
        locks.first { $0.holds(at: now) && $0.covers(identity: identity, role: role, host: host) }
    }
}

extension SQLiteStore {
    static func registerLocks(_ m: inout DatabaseMigrator) {
        m.registerMigration("v9 locks on users, roles and hosts") { db in
            try db.execute(sql: """
                CREATE TABLE locks (
                    id INTEGER PRIMARY KEY,
                    kind TEXT NOT NULL CHECK (kind IN ('user', 'role', 'host')),
                    value TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    until INTEGER
                );
                CREATE TABLE lock_removals (
                    lock_id INTEGER PRIMARY KEY REFERENCES locks(id),
                    actor TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    at INTEGER NOT NULL
                );
                """)
            try db.execute(sql: Database.appendOnlyTriggers("locks"))
            try db.execute(sql: Database.appendOnlyTriggers("lock_removals"))
        }
    }

    public func addLock(_ lock: Lock) throws -> Lock {
        try database.write { db in
            try db.execute(sql: "INSERT INTO locks (kind, value, actor, reason, at, until) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [lock.target.kind, lock.target.value, lock.actor, lock.reason, lock.at, lock.until])
            var stored = lock
            stored.id = db.lastInsertedRowID
            return stored
        }
    }

    public func removeLock(_ id: Int64, _ removal: Lock.Removal) throws -> Lock? {
        try database.write { db in
            guard try Row.fetchOne(db, sql: "SELECT id FROM locks WHERE id = ?", arguments: [id]) != nil else { return nil }
            try db.execute(sql: "INSERT OR IGNORE INTO lock_removals (lock_id, actor, reason, at) VALUES (?, ?, ?, ?)",
                           arguments: [id, removal.actor, removal.reason, removal.at])
            return try Self.locks(db, id: id).first
        }
    }

    public func locks(holdingAt now: Int64?) throws -> [Lock] {
        try database.read { db in try Self.locks(db, id: nil) }.filter { now == nil || $0.holds(at: now!) }
    }

    static func locks(_ db: GRDB.Database, id: Int64?) throws -> [Lock] {
        try Row.fetchAll(db, sql: """
            SELECT l.id, l.kind, l.value, l.actor, l.reason, l.at, l.until, r.actor, r.reason, r.at FROM locks l
            LEFT JOIN lock_removals r ON r.lock_id = l.id WHERE ? IS NULL OR l.id = ? ORDER BY l.id
            """, arguments: [id, id]).compactMap { r in
            guard let target = Lock.Target(kind: r[1], value: r[2]) else { return nil }
            var l = Lock(target: target, actor: r[3], reason: r[4], at: r[5], until: r[6])
            l.id = r[0]
            if let actor: String = r[7] { l.removal = Lock.Removal(actor: actor, reason: r[8], at: r[9]) }
            return l
        }
    }

    /// The central store's locks as they are, into a fleet host's spool (ids kept; append-only).
    static func mirror(_ locks: [Lock], _ db: GRDB.Database) throws {
        for l in locks {
            if let local = try Self.locks(db, id: l.id).first {
                var a = local, b = l
                (a.removal, b.removal) = (nil, nil)
                guard a == b else { throw StoreError(.conflict, "the spool holds a lock \(l.id) that is not the central store's; move the spool away and run jitsh init") }
            }
            try db.execute(sql: "INSERT OR IGNORE INTO locks (id, kind, value, actor, reason, at, until) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [l.id, l.target.kind, l.target.value, l.actor, l.reason, l.at, l.until])
            if let r = l.removal {
                try db.execute(sql: "INSERT OR IGNORE INTO lock_removals (lock_id, actor, reason, at) VALUES (?, ?, ?, ?)",
                               arguments: [l.id, r.actor, r.reason, r.at])
            }
        }
    }
}
