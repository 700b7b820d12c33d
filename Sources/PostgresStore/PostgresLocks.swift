import PostgresNIO
import Store

/// Locks on users, roles and hosts, central: made on any host, mirrored to every spool.
extension PostgresStore {
    public func addLock(_ lock: Lock) throws -> Lock {
        try connections.transaction { link in
            let rows = try link.query("""
                INSERT INTO locks (kind, value, actor, reason, at, until)
                VALUES (\(lock.target.kind), \(lock.target.value), \(lock.actor), \(lock.reason), \(lock.at), \(lock.until)) RETURNING id
                """)
            var stored = lock
            stored.id = try Schema.decode(Int64.self, rows.first, 0)
            return stored
        }
    }

    public func removeLock(_ id: Int64, _ removal: Lock.Removal) throws -> Lock? {
        try connections.transaction { link in
            guard try !link.query("SELECT id FROM locks WHERE id = \(id)").isEmpty else { return nil }
            try link.query("""
                INSERT INTO lock_removals (lock_id, actor, reason, at) VALUES (\(id), \(removal.actor), \(removal.reason), \(removal.at))
                ON CONFLICT (lock_id) DO NOTHING
                """)
            return try Self.locks(link, id: id).first
        }
    }

    public func locks(holdingAt now: Int64?) throws -> [Lock] {
        try connections.with { link in try Self.locks(link, id: nil) }.filter { now == nil || $0.holds(at: now!) }
    }

    static func locks(_ link: Link, id: Int64?) throws -> [Lock] {
        try link.query("""
            SELECT l.id, l.kind, l.value, l.actor, l.reason, l.at, l.until, r.actor, r.reason, r.at FROM locks l
            LEFT JOIN lock_removals r ON r.lock_id = l.id WHERE \(id)::bigint IS NULL OR l.id = \(id) ORDER BY l.id
            """).compactMap { r in
            guard let target = try Lock.Target(kind: r[1].decode(String.self), value: r[2].decode(String.self)) else { return nil }
            var l = try Lock(target: target, actor: r[3].decode(String.self), reason: r[4].decode(String.self), at: r[5].decode(Int64.self),
                             until: r[6].decode(Int64?.self))
            l.id = try r[0].decode(Int64.self)
            if let actor = try r[7].decode(String?.self) {
                l.removal = try Lock.Removal(actor: actor, reason: r[8].decode(String.self), at: r[9].decode(Int64.self))
            }
            return l
        }
    }
}
