import Foundation
import GRDB
import Policy

/// A grant change refused for a reason of the domain (not the database): who may approve, what
/// the contract allows. The message is for the person who asked.
public struct GrantRefusal: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A webhook message waiting in the outbox: Slack-compatible `text` plus structured fields.
public struct Notification: Sendable, Equatable {
    public var event: String
    public var text: String
    public var fields: [String: String]

    public init(event: String, text: String, fields: [String: String]) {
        self.event = event
        self.text = text
        self.fields = fields
    }

    /// The JSON a webhook receives.
    public var payload: String {
        let object: [String: Any] = ["text": text, "event": event, "fields": fields]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

public struct OutboxItem: Sendable, Equatable {
    public var id: Int64
    public var event: String
    public var payload: String
    public var attempts: Int

    public init(id: Int64, event: String, payload: String, attempts: Int) {
        self.id = id
        self.event = event
        self.payload = payload
        self.attempts = attempts
    }
}

/// What the grant commands and the outbox's delivery need of a back end (the roles are in
/// StoreRoles.swift), and its own health check. All SQL stays behind the roles.
public protocol Store: GrantStore, OutboxStore {
    /// What is wrong with the store's data, or ["ok"].
    func integrity() throws -> [String]
}

/// The embedded store of a lone host (and, later, a fleet host's spool). GRDB stays inside.
public final class SQLiteStore: Store, AuditLog, RecordingSink, RecordingSearch, SnapshotImageStore {
    let database: Database
    public var location: String { database.path }

    /// Opens the store; `create` makes a missing file (install does, sessions do not).
    public init(path: String, create: Bool = false, busyTimeout: TimeInterval = 10, connections: StoreConnections = .one) throws(StoreError) {
        database = try Database(path: path, create: create, busyTimeout: busyTimeout, connections: connections)
    }

    public func integrity() throws -> [String] { try database.integrity() }

    // MARK: Grants

    public func insertGrant(_ grant: Grant, notifications: [Notification]) throws -> Grant {
        try database.write { db in
            try db.execute(sql: """
                INSERT INTO grants (identity, role, contract, host_pattern, reason, requested_at, starts_at, duration,
                                    approvals_needed, max_duration, pending_ttl, break_glass, approval)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [grant.identity, grant.role, grant.contract, grant.hostPattern, grant.reason, grant.requestedAt,
                                 grant.startsAt, grant.duration, grant.approvalsNeeded, grant.maxDuration, grant.pendingTTL,
                                 grant.breakGlass, grant.approval?.stored ?? ""])
            var stored = grant
            stored.id = db.lastInsertedRowID
            stored.events = []
            for e in grant.events { try Self.insert(e, grant: stored.id, db) }
            stored.events = grant.events
            for n in notifications { try Self.enqueue(n, grant: stored, at: grant.requestedAt, db) }
            return stored
        }
    }

    public func changeGrant(_ id: Int64, _ change: (Grant) throws -> (events: [GrantEvent], notifications: [Notification])) throws -> Grant {
        var refusal: Error?
        let result: Grant? = try database.write { db in
            guard var g = try Self.load(id, db) else { return nil }
            let outcome: (events: [GrantEvent], notifications: [Notification])
            do {
                outcome = try change(g)
            } catch {
                refusal = error
                return nil
            }
            for e in outcome.events { try Self.insert(e, grant: id, db) }
            g.events += outcome.events
            for n in outcome.notifications { try Self.enqueue(n, grant: g, at: outcome.events.last?.at ?? 0, db) }
            return g
        }
        if let refusal { throw refusal }
        guard let result else { throw GrantRefusal("there is no grant \(id)") }
        return result
    }

    public func grant(_ id: Int64) throws -> Grant? {
        try database.read { db in try Self.load(id, db) }
    }

    public func grants(identity: String?) throws -> [Grant] {
        try database.read { db in
            let rows = identity.map { try? Row.fetchAll(db, sql: "SELECT * FROM grants WHERE identity = ? ORDER BY id", arguments: [$0]) }
                ?? (try? Row.fetchAll(db, sql: "SELECT * FROM grants ORDER BY id"))
            guard let rows else { return [] }
            let events = try Self.events(db, grants: rows.map { $0["id"] as Int64 })
            return rows.map { row in
                var g = Self.grant(row)
                g.events = events[g.id] ?? []
                return g
            }
        }
    }

    static func load(_ id: Int64, _ db: GRDB.Database) throws -> Grant? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM grants WHERE id = ?", arguments: [id]) else { return nil }
        var g = grant(row)
        g.events = try events(db, grants: [id])[id] ?? []
        return g
    }

    static func grant(_ row: Row) -> Grant {
        Grant(id: row["id"], identity: row["identity"], role: row["role"], contract: row["contract"],
              hostPattern: row["host_pattern"], reason: row["reason"], requestedAt: row["requested_at"],
              startsAt: row["starts_at"], duration: row["duration"], approvalsNeeded: row["approvals_needed"],
              maxDuration: row["max_duration"], pendingTTL: row["pending_ttl"], breakGlass: row["break_glass"],
              approval: ApprovalRule.stored(row["approval"] ?? ""))
    }

    static func events(_ db: GRDB.Database, grants ids: [Int64]) throws -> [Int64: [GrantEvent]] {
        guard !ids.isEmpty else { return [:] }
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM grant_events WHERE grant_id IN (\(ids.map { _ in "?" }.joined(separator: ","))) ORDER BY id",
                                    arguments: StatementArguments(ids))
        var out: [Int64: [GrantEvent]] = [:]
        for row in rows {
            let kind = GrantEvent.Kind(rawValue: row["kind"]) ?? .requested
            out[row["grant_id"], default: []].append(GrantEvent(kind, actor: row["actor"], at: row["at"], comment: row["comment"],
                                                               extra: row["extra"], groups: GrantEvent.groups(row["groups"] ?? "")))
        }
        return out
    }

    static func insert(_ e: GrantEvent, grant id: Int64, _ db: GRDB.Database) throws {
        try db.execute(sql: "INSERT INTO grant_events (grant_id, kind, actor, at, comment, extra, groups) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       arguments: [id, e.kind.rawValue, e.actor, e.at, e.comment, e.extra, e.storedGroups])
    }

    // MARK: Outbox

    static func enqueue(_ n: Notification, grant: Grant, at: Int64, _ db: GRDB.Database) throws {
        let n = n.addressed(to: grant.id)
        try db.execute(sql: "INSERT INTO outbox (created_at, event, payload, next_attempt_at) VALUES (?, ?, ?, ?)",
                       arguments: [at, n.event, n.payload, at])
    }

    public func dueNotifications(now: Int64, limit: Int) throws -> [OutboxItem] {
        try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, event, payload, attempts FROM outbox
                WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?
                """, arguments: [now, limit]).map {
                OutboxItem(id: $0["id"], event: $0["event"], payload: $0["payload"], attempts: $0["attempts"])
            }
        }
    }

    public func markDelivered(_ id: Int64, at: Int64) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?", arguments: [at, id])
        }
    }

    public func markFailed(_ id: Int64, error: String, retryAt: Int64) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                           arguments: [error, retryAt, id])
        }
    }
}
