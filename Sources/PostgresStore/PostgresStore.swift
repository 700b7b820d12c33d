import NIOCore
import Policy
import PostgresNIO
import Store

/// The fleet's central store in PostgreSQL: the same roles as the SQLite store, so grants,
/// audit events and recordings of every host meet in one place. PostgresNIO stays in here.
public final class PostgresStore: Store, AuditLog, RecordingSink, RecordingSearch, @unchecked Sendable {
    // Sendable by construction: `connections` guards its own state, the rest is immutable.
    let connections: Connections
    public var location: String { connections.settings.location.description }

    /// Connects and checks the schema. With `migrate` (jitsh init) a missing or older schema is
    /// created or upgraded; otherwise it must be this jitsh's version.
    public init(_ settings: PostgresSettings, migrate: Bool = false) throws {
        connections = try Connections(settings)
        if migrate {
            schemaChange = try Schema.migrate(connections)
        } else {
            let installed = try connections.with { link in try Schema.installed(link) }
            guard installed == Schema.current else {
                throw StoreError(installed == 0 ? .missing : .conflict,
                                 "the central store \(settings.location) has schema version \(installed), this jitsh needs \(Schema.current); run jitsh init")
            }
            schemaChange = (installed, installed)
        }
    }

    /// The schema versions before and after opening (they differ when this init upgraded it).
    public let schemaChange: (from: Int, to: Int)

    public static var schemaVersion: Int { Schema.current }

    public func integrity() throws -> [String] {
        try connections.with { link in
            let version = try Schema.installed(link)
            return version == Schema.current ? ["ok"] : ["schema version \(version), expected \(Schema.current)"]
        }
    }

    // MARK: Grants

    public func insertGrant(_ grant: Grant, notifications: [Notification]) throws -> Grant {
        try connections.transaction { link in
            let rows = try link.query("""
                INSERT INTO grants (identity, role, contract, host_pattern, reason, requested_at, starts_at, duration,
                                    approvals_needed, max_duration, pending_ttl, break_glass, approval)
                VALUES (\(grant.identity), \(grant.role), \(grant.contract), \(grant.hostPattern), \(grant.reason), \(grant.requestedAt),
                        \(grant.startsAt), \(grant.duration), \(Int64(grant.approvalsNeeded)), \(grant.maxDuration), \(grant.pendingTTL),
                        \(grant.breakGlass), \(grant.approval?.stored ?? ""))
                RETURNING id
                """)
            var stored = grant
            stored.id = try Schema.decode(Int64.self, rows.first, 0)
            for e in grant.events { try insert(e, grant: stored.id, link) }
            for n in notifications { try enqueue(n, grant: stored.id, at: grant.requestedAt, link) }
            return stored
        }
    }

    /// The grant is locked before `change` sees it, so approvals on any number of hosts at once
    /// are decided one after the other, each on the events before it. The lock is a
    /// transaction-scoped advisory lock, not `SELECT … FOR UPDATE`: that needs the UPDATE
    /// privilege, which no host's role has on an append-only table. (Ids past 2³¹ share locks:
    /// coarser, never looser.) Each statement after it reads what the previous holder committed.
    public func changeGrant(_ id: Int64, _ change: (Grant) throws -> (events: [GrantEvent], notifications: [Notification])) throws -> Grant {
        try connections.transaction { link in
            try link.query("SELECT pg_advisory_xact_lock(\(Self.grantLockClass), \(Int32(truncatingIfNeeded: id & 0x7FFF_FFFF)))")
            guard var g = try load(id, link) else { throw GrantRefusal("there is no grant \(id)") }
            let outcome = try change(g)
            for e in outcome.events { try insert(e, grant: id, link) }
            g.events += outcome.events
            for n in outcome.notifications { try enqueue(n, grant: id, at: outcome.events.last?.at ?? 0, link) }
            return g
        }
    }

    public func grant(_ id: Int64) throws -> Grant? {
        try connections.with { link in try load(id, link) }
    }

    /// The advisory lock class of grant changes (the schema's migration lock is another key).
    static let grantLockClass: Int32 = 7020

    public func grants(identity: String?) throws -> [Grant] {
        try connections.with { link in
            let rows = try identity.map { try link.query("SELECT \(unescaped: Self.grantColumns) FROM grants WHERE identity = \($0) ORDER BY id") }
                ?? link.query("SELECT \(unescaped: Self.grantColumns) FROM grants ORDER BY id")
            var grants = try rows.map(Self.grant)
            let events = try self.events(link, grants: grants.map(\.id))
            for k in grants.indices { grants[k].events = events[grants[k].id] ?? [] }
            return grants
        }
    }

    static let grantColumns = """
        id, identity, role, contract, host_pattern, reason, requested_at, starts_at, duration, approvals_needed, max_duration,
        pending_ttl, break_glass, approval
        """

    func load(_ id: Int64, _ link: Link) throws -> Grant? {
        let rows = try link.query("SELECT \(unescaped: Self.grantColumns) FROM grants WHERE id = \(id)")
        guard let row = rows.first else { return nil }
        var g = try Self.grant(row)
        g.events = try events(link, grants: [id])[id] ?? []
        return g
    }

    static func grant(_ r: PostgresRandomAccessRow) throws -> Grant {
        try Grant(id: r[0].decode(Int64.self), identity: r[1].decode(String.self), role: r[2].decode(String.self),
                  contract: r[3].decode(String.self), hostPattern: r[4].decode(String.self), reason: r[5].decode(String.self),
                  requestedAt: r[6].decode(Int64.self), startsAt: r[7].decode(Int64.self), duration: r[8].decode(Int64.self),
                  approvalsNeeded: Int(r[9].decode(Int64.self)), maxDuration: r[10].decode(Int64.self),
                  pendingTTL: r[11].decode(Int64.self), breakGlass: r[12].decode(Bool.self),
                  approval: ApprovalRule.stored(r[13].decode(String.self)))
    }

    func events(_ link: Link, grants ids: [Int64]) throws -> [Int64: [GrantEvent]] {
        guard !ids.isEmpty else { return [:] }
        let rows = try link.query("""
            SELECT grant_id, kind, actor, at, comment, extra, groups FROM grant_events WHERE grant_id = ANY(\(ids)) ORDER BY id
            """)
        var out: [Int64: [GrantEvent]] = [:]
        for r in rows {
            let kind = GrantEvent.Kind(rawValue: try r[1].decode(String.self)) ?? .requested
            out[try r[0].decode(Int64.self), default: []].append(
                GrantEvent(kind, actor: try r[2].decode(String.self), at: try r[3].decode(Int64.self), comment: try r[4].decode(String.self),
                           extra: try r[5].decode(Int64.self), groups: GrantEvent.groups(try r[6].decode(String.self))))
        }
        return out
    }

    func insert(_ e: GrantEvent, grant id: Int64, _ link: Link) throws {
        try link.query("""
            INSERT INTO grant_events (grant_id, kind, actor, at, comment, extra, groups)
            VALUES (\(id), \(e.kind.rawValue), \(e.actor), \(e.at), \(e.comment), \(e.extra), \(e.storedGroups))
            """)
    }

    // MARK: Locks

    public func sessionLock(_ id: String) throws -> SessionLock? {
        try connections.with { link in
            try link.query("SELECT session_id, actor, reason, at FROM session_locks WHERE session_id = \(id)").first.map { r in
                try SessionLock(sessionID: r[0].decode(String.self), actor: r[1].decode(String.self), reason: r[2].decode(String.self),
                                at: r[3].decode(Int64.self))
            }
        }
    }

    public func lockSession(_ lock: SessionLock) throws {
        try connections.with { link in
            try link.query("""
                INSERT INTO session_locks (session_id, actor, reason, at) VALUES (\(lock.sessionID), \(lock.actor), \(lock.reason), \(lock.at))
                ON CONFLICT (session_id) DO NOTHING
                """)
        }
    }

    // MARK: Outbox

    func enqueue(_ n: Notification, grant: Int64?, at: Int64, _ link: Link) throws {
        let n = n.addressed(to: grant)
        try link.query("INSERT INTO outbox (created_at, event, payload, next_attempt_at) VALUES (\(at), \(n.event), \(n.payload), \(at))")
    }

    public func dueNotifications(now: Int64, limit: Int) throws -> [OutboxItem] {
        try connections.with { link in
            try link.query("""
                SELECT id, event, payload, attempts FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= \(now)
                ORDER BY id LIMIT \(Int64(max(0, limit)))
                """).map { r in
                try OutboxItem(id: r[0].decode(Int64.self), event: r[1].decode(String.self), payload: r[2].decode(String.self),
                               attempts: Int(r[3].decode(Int64.self)))
            }
        }
    }

    public func markDelivered(_ id: Int64, at: Int64) throws {
        try connections.with { link in
            try link.query("UPDATE outbox SET delivered_at = \(at), attempts = attempts + 1 WHERE id = \(id)")
        }
    }

    public func markFailed(_ id: Int64, error: String, retryAt: Int64) throws {
        try connections.with { link in
            try link.query("UPDATE outbox SET attempts = attempts + 1, last_error = \(error), next_attempt_at = \(retryAt) WHERE id = \(id)")
        }
    }
}
