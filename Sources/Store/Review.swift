import Foundation
import GRDB

/// A session as a reviewer lists it.
public struct SessionSummary: Sendable, Equatable {
    public var session: SessionRecord
    public var end: SessionEnd?
    public var pruned: Bool
    public var lines: Int
    public var denied: Int
    public var confirmed: Int
    public var blocked: Int

    public init(session: SessionRecord, end: SessionEnd?, pruned: Bool, lines: Int, denied: Int, confirmed: Int, blocked: Int) {
        (self.session, self.end, self.pruned, self.lines, self.denied, self.confirmed, self.blocked) = (session, end, pruned, lines, denied, confirmed, blocked)
    }
}

/// What `jitsh sessions list` filters on; times in microseconds.
public struct SessionFilter: Sendable {
    public var user: String?
    public var host: String?
    public var role: String?
    public var since: Int64?
    public var until: Int64?
    public var deniedOnly = false
    /// Only sessions with a confirmed line, with a program the exec guard blocked, still running.
    public var confirmedOnly = false
    public var blockedOnly = false
    public var runningOnly = false
    public var command: String?
    public var grant: Int64?
    public var limit = 1000
    /// Sessions skipped (newest first), for paging.
    public var offset = 0

    public init() {}
}

extension SQLiteStore: ReviewStore {
    public func sessionSummaries(_ f: SessionFilter) throws -> [SessionSummary] {
        var clauses: [String] = []
        var args: [DatabaseValueConvertible] = []
        if let u = f.user { clauses.append("s.identity GLOB ?"); args.append(u) }
        if let h = f.host { clauses.append("s.host GLOB ?"); args.append(h) }
        if let r = f.role { clauses.append("s.role GLOB ?"); args.append(r) }
        if let t = f.since { clauses.append("s.started_at >= ?"); args.append(t) }
        if let t = f.until { clauses.append("s.started_at <= ?"); args.append(t) }
        if let g = f.grant { clauses.append("s.grant_id = ?"); args.append(g) }
        if f.deniedOnly {
            clauses.append("EXISTS (SELECT 1 FROM audit_events d WHERE d.session_id = s.id AND d.decision = \(AuditDecision.deny.sql))")
        }
        if f.confirmedOnly {
            clauses.append("EXISTS (SELECT 1 FROM audit_events d WHERE d.session_id = s.id AND d.kind = \(AuditKind.confirmed.sql))")
        }
        if f.blockedOnly {
            clauses.append("EXISTS (SELECT 1 FROM audit_events d WHERE d.session_id = s.id AND d.kind = \(AuditKind.guard.sql))")
        }
        if f.runningOnly { clauses.append("e.session_id IS NULL") }
        if let c = f.command {
            clauses.append("""
                EXISTS (SELECT 1 FROM audit_events d, json_each(d.data, '$.commands') c WHERE d.session_id = s.id AND d.kind = \(AuditKind.line.sql)
                        AND (json_extract(c.value, '$.argv[0]') GLOB ? OR json_extract(c.value, '$.argv[0]') GLOB ?))
                """)
            args += [c, "*/" + c]
        }
        let sql = """
            SELECT s.*, e.ended_at, e.exit_reason, e.exit_status, e.chunks AS end_chunks, e.chain_head, e.signature, e.key_id,
                   (SELECT count(*) FROM tombstones t WHERE t.session_id = s.id) AS pruned,
                   (SELECT count(*) FROM audit_events a WHERE a.session_id = s.id AND a.kind = \(AuditKind.line.sql) AND a.decision != \(AuditDecision.builtin.sql)) AS lines,
                   (SELECT count(*) FROM audit_events a WHERE a.session_id = s.id AND a.decision = \(AuditDecision.deny.sql)) AS denied,
                   (SELECT count(*) FROM audit_events a WHERE a.session_id = s.id AND a.kind = \(AuditKind.confirmed.sql)) AS confirmed,
                   (SELECT count(*) FROM audit_events a WHERE a.session_id = s.id AND a.kind = \(AuditKind.guard.sql)) AS blocked
            FROM sessions s LEFT JOIN session_ends e ON e.session_id = s.id
            \(clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND "))
            ORDER BY s.started_at DESC, s.id DESC LIMIT \(max(0, f.limit)) OFFSET \(max(0, f.offset))
            """
        return try database.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map { r in
                var end: SessionEnd?
                if let endedAt: Int64 = r["ended_at"] {
                    end = SessionEnd(sessionID: r["id"], endedAt: endedAt, exitReason: r["exit_reason"], exitStatus: r["exit_status"],
                                     chunks: r["end_chunks"], chainHead: Array(r["chain_head"] as Data))
                    end?.signature = (r["signature"] as Data?).map(Array.init)
                    end?.keyID = r["key_id"]
                }
                return SessionSummary(session: Self.session(r), end: end, pruned: (r["pruned"] as Int) > 0, lines: r["lines"],
                                      denied: r["denied"], confirmed: r["confirmed"], blocked: r["blocked"])
            }
        }
    }

    /// Session ids that start with `prefix` (reviewers type the first few characters).
    public func sessionIDs(matching prefix: String) throws -> [String] {
        try database.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM sessions WHERE id GLOB ? ORDER BY started_at DESC, id DESC LIMIT 2", arguments: [prefix + "*"])
        }
    }

    /// Audit events matching a search expression, oldest first.
    public func auditEvents(matching q: AuditQuery, limit: Int = 1000) throws -> [AuditEvent] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT a.* FROM audit_events a WHERE \(q.sql) ORDER BY a.id DESC LIMIT \(limit)",
                             arguments: q.statementArguments).map(Self.audit).reversed()
        }
    }

    /// Events after `id`, oldest first: `audit tail` and its --follow.
    public func auditEvents(after id: Int64, limit: Int) throws -> [AuditEvent] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_events WHERE id > ? ORDER BY id LIMIT ?", arguments: [id, limit]).map(Self.audit)
        }
    }

    public func lastAuditID() throws -> Int64 {
        try database.read { db in try Int64.fetchOne(db, sql: "SELECT max(id) FROM audit_events") ?? 0 }
    }

    // MARK: Alerts

    /// Audit events and, for those that alert, a webhook notification, in one transaction: the
    /// session never waits for the webhook (`jitsh grant notify` delivers).
    public func appendAudit(_ events: [AuditEvent], alert: Notification?) throws {
        try database.write { db in
            for e in events { try Self.insert(e, db) }
            if let n = alert {
                try db.execute(sql: "INSERT INTO outbox (created_at, event, payload, next_attempt_at) VALUES (?, ?, ?, ?)",
                               arguments: [events.first?.at ?? 0, n.event, n.payload, events.first?.at ?? 0])
            }
        }
    }

    /// The sessions of these ids, in one read (a page of search hits names many).
    public func sessions(_ ids: [String]) throws -> [String: SessionRecord] {
        guard !ids.isEmpty else { return [:] }
        return try database.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM sessions WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ",")))",
                                        arguments: StatementArguments(ids))
            return Dictionary(rows.map { (($0["id"] as String), Self.session($0)) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// Every line decided in a session since `since` (µs): line, role, host, time, cwd.
    public func decidedLines(since: Int64) throws -> [DecidedLine] {
        try database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT a.line, s.role, a.host, a.at, json_extract(a.data, '$.cwd') AS cwd FROM audit_events a
                JOIN sessions s ON s.id = a.session_id
                WHERE a.kind = \(AuditKind.line.sql) AND a.decision IN (\(AuditDecision.allow.sql), \(AuditDecision.deny.sql), \(AuditDecision.confirm.sql)) AND a.at >= ? ORDER BY a.id
                """, arguments: [since]).map { DecidedLine(line: $0["line"], role: $0["role"], host: $0["host"], at: $0["at"], cwd: $0["cwd"]) }
        }
    }
}
