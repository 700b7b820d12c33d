import Crypto
import NIOCore
import PostgresNIO
import Store

/// Review across every host: the same answers as one host's SQLite file, from the central store.
extension PostgresStore: ReviewStore {
    static let sessionColumns = "s.id, s.identity, s.login, s.role, s.grant_id, s.host, s.client, s.mode, s.command, s.started_at, s.width, s.height"
    static let endColumns = "e.session_id, e.ended_at, e.exit_reason, e.exit_status, e.chunks, e.chain_head, e.signature, e.key_id"
    static let auditColumns = "a.id, a.at, a.session_id, a.identity, a.host, a.kind, a.line, a.decision, a.rule, a.reason, a.data"

    static func sessionRecord(_ r: PostgresRandomAccessRow, _ k: Int = 0) throws -> SessionRecord {
        try SessionRecord(id: r[k].decode(String.self), identity: r[k + 1].decode(String.self), login: r[k + 2].decode(String.self),
                          role: r[k + 3].decode(String.self), grantID: r[k + 4].decode(Int64?.self), host: r[k + 5].decode(String.self),
                          client: r[k + 6].decode(String.self), mode: r[k + 7].decode(String.self), command: r[k + 8].decode(String.self),
                          startedAt: r[k + 9].decode(Int64.self), width: Int(r[k + 10].decode(Int64.self)), height: Int(r[k + 11].decode(Int64.self)))
    }

    /// The end in columns `k…k+7`, nil when the session has none (a left join).
    static func sessionEnd(_ r: PostgresRandomAccessRow, _ k: Int = 0) throws -> SessionEnd? {
        guard let id = try r[k].decode(String?.self) else { return nil }
        return try SessionEnd(sessionID: id, endedAt: r[k + 1].decode(Int64.self), exitReason: r[k + 2].decode(String.self),
                              exitStatus: r[k + 3].decode(Int64?.self).map(Int.init), chunks: r[k + 4].decode(Int64.self),
                              chainHead: bytes(r, k + 5), signature: r[k + 6].decode(ByteBuffer?.self).map { Array($0.readableBytesView) },
                              keyID: r[k + 7].decode(String.self))
    }

    static func auditEvent(_ r: PostgresRandomAccessRow) throws -> AuditEvent {
        var e = try AuditEvent(read: r[1].decode(Int64.self), sessionID: r[2].decode(String?.self), identity: r[3].decode(String.self),
                               host: r[4].decode(String.self), kind: r[5].decode(String.self), line: r[6].decode(String.self),
                               decision: r[7].decode(String.self), rule: r[8].decode(String.self), reason: r[9].decode(String.self),
                               data: r[10].decode(String.self))
        e.id = try r[0].decode(Int64.self)
        return e
    }

    public func sessionSummaries(_ f: SessionFilter) throws -> [SessionSummary] {
        var q = PostgresFilter()
        var clauses: [String] = []
        if let u = f.user { clauses.append(q.glob("s.identity", u)) }
        if let h = f.host { clauses.append(q.glob("s.host", h)) }
        if let r = f.role { clauses.append(q.glob("s.role", r)) }
        if let t = f.since { clauses.append("s.started_at >= \(q.bind(t))") }
        if let t = f.until { clauses.append("s.started_at <= \(q.bind(t))") }
        if let g = f.grant { clauses.append("s.grant_id = \(q.bind(g))") }
        if f.deniedOnly { clauses.append("EXISTS (SELECT 1 FROM audit_events d WHERE d.session_id = s.id AND d.decision = \(q.bind(AuditDecision.deny.rawValue)))") }
        if f.confirmedOnly { clauses.append("EXISTS (SELECT 1 FROM audit_events d WHERE d.session_id = s.id AND d.kind = \(q.bind(AuditKind.confirmed.rawValue)))") }
        if f.blockedOnly { clauses.append("EXISTS (SELECT 1 FROM audit_events d WHERE d.session_id = s.id AND d.kind = \(q.bind(AuditKind.guard.rawValue)))") }
        if f.runningOnly { clauses.append("e.session_id IS NULL") }
        if let c = f.command {
            clauses.append("""
                EXISTS (SELECT 1 FROM audit_events d WHERE d.session_id = s.id AND d.kind = \(q.bind(AuditKind.line.rawValue))
                        AND \(q.program("d", c)))
                """)
        }
        let (line, builtin, deny, confirmed, guardKind) = (q.bind(AuditKind.line.rawValue), q.bind(AuditDecision.builtin.rawValue),
                                                          q.bind(AuditDecision.deny.rawValue), q.bind(AuditKind.confirmed.rawValue),
                                                          q.bind(AuditKind.guard.rawValue))
        let sql = """
            SELECT \(Self.sessionColumns), \(Self.endColumns),
                   (SELECT count(*) FROM audit_events a WHERE a.session_id = s.id AND a.kind = \(line) AND a.decision <> \(builtin))::bigint,
                   (SELECT count(*) FROM audit_events a WHERE a.session_id = s.id AND a.decision = \(deny))::bigint,
                   (SELECT count(*) FROM audit_events a WHERE a.session_id = s.id AND a.kind = \(confirmed))::bigint,
                   (SELECT count(*) FROM audit_events a WHERE a.session_id = s.id AND a.kind = \(guardKind))::bigint
            FROM sessions s LEFT JOIN session_ends e ON e.session_id = s.id
            \(clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND "))
            ORDER BY s.started_at DESC, s.id DESC LIMIT \(max(0, f.limit)) OFFSET \(max(0, f.offset))
            """
        return try connections.with { link in
            try link.query(q.query(sql)).map { r in
                try SessionSummary(session: Self.sessionRecord(r), end: Self.sessionEnd(r, 12), pruned: false,
                                   lines: Int(r[20].decode(Int64.self)), denied: Int(r[21].decode(Int64.self)),
                                   confirmed: Int(r[22].decode(Int64.self)), blocked: Int(r[23].decode(Int64.self)))
            }
        }
    }

    public func sessionIDs(matching prefix: String) throws -> [String] {
        var q = PostgresFilter()
        let sql = "SELECT id FROM sessions WHERE \(q.glob("id", prefix + "*")) ORDER BY started_at DESC, id DESC LIMIT 2"
        return try connections.with { link in try link.query(q.query(sql)).map { try $0[0].decode(String.self) } }
    }

    public func allSessionIDs(host: String?) throws -> [String] {
        var q = PostgresFilter()
        let clause = host.map { "WHERE " + q.glob("host", $0) } ?? ""
        return try connections.with { link in
            try link.query(q.query("SELECT id FROM sessions \(clause) ORDER BY started_at, id")).map { try $0[0].decode(String.self) }
        }
    }

    public func auditEvents(matching query: AuditQuery, limit: Int) throws -> [AuditEvent] {
        var q = PostgresFilter()
        let clause = q.clause(query.expression)
        let sql = "SELECT \(Self.auditColumns) FROM audit_events a WHERE \(clause) ORDER BY a.id DESC LIMIT \(max(0, limit))"
        return try connections.with { link in try link.query(q.query(sql)).map(Self.auditEvent).reversed() }
    }

    public func auditEvents(after id: Int64, limit: Int) throws -> [AuditEvent] {
        try connections.with { link in
            try link.query("SELECT \(unescaped: Self.auditColumns) FROM audit_events a WHERE a.id > \(id) ORDER BY a.id LIMIT \(Int64(max(0, limit)))")
                .map(Self.auditEvent)
        }
    }

    public func lastAuditID() throws -> Int64 {
        try connections.with { link in try Schema.decode(Int64?.self, link.query("SELECT max(id) FROM audit_events").first, 0) ?? 0 }
    }

    public func sessions(_ ids: [String]) throws -> [String: SessionRecord] {
        guard !ids.isEmpty else { return [:] }
        return try connections.with { link in
            let rows = try link.query("SELECT \(unescaped: Self.sessionColumns) FROM sessions s WHERE s.id = ANY(\(ids))").map { try Self.sessionRecord($0) }
            return Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    public func decidedLines(since: Int64) throws -> [DecidedLine] {
        let decisions = [AuditDecision.allow, .deny, .confirm].map(\.rawValue)
        return try connections.with { link in
            try link.query("""
                SELECT a.line, s.role, a.host, a.at, a.data::jsonb ->> 'cwd' FROM audit_events a JOIN sessions s ON s.id = a.session_id
                WHERE a.kind = \(AuditKind.line.rawValue) AND a.decision = ANY(\(decisions)) AND a.at >= \(since) ORDER BY a.id
                """).map { r in
                try DecidedLine(line: r[0].decode(String.self), role: r[1].decode(String.self), host: r[2].decode(String.self),
                                at: r[3].decode(Int64.self), cwd: r[4].decode(String?.self))
            }
        }
    }

    /// The session's host signed its end with the key it registered; `key` (this host's) serves
    /// for this host's own sessions and for a key no host registered under that id.
    public func verify(_ id: String, key: Curve25519.Signing.PublicKey) throws -> Verification {
        guard let session = try session(id) else { return Verification(sessionID: id, problems: ["no such session"], summary: "") }
        guard let end = try sessionEnd(id), end.keyID != SigningKey.id(of: key) else { return try withImages(verifyRecording(id, key: key)) }
        guard let registered = try hostKey(host: session.host, id: end.keyID) else {
            var v = try verifyRecording(id, key: key)
            v.problems = v.problems.map {
                $0.hasPrefix("bad or missing signature")
                    ? "signed with key \(end.keyID), which host \(session.host) never registered in the central store (jitsh init on that host registers its key)"
                    : $0
            }
            return try withImages(v)
        }
        return try withImages(verifyRecording(id, key: registered))
    }

    /// The images of watched files are checked against the snapshot markers the chunks hold.
    private func withImages(_ v: Verification) throws -> Verification {
        var frames: [Frame] = []
        var out = v
        for c in try chunks(session: v.sessionID) {
            if let decoded = c.decodedFrames() { frames += decoded } else { out.problems.append("chunk \(c.seq) cannot be decoded") }
        }
        let (problems, count) = try verifyImages(v.sessionID, frames: frames)
        out.problems += problems
        if count > 0, let at = out.summary.range(of: " chunks, ") {
            out.summary.replaceSubrange(at, with: " chunks, \(count) snapshot images, ")
        }
        return out
    }
}

/// A statement's WHERE clauses with their values bound ($1, $2, …), never spliced into the text.
struct PostgresFilter {
    var binds = PostgresBindings()

    mutating func bind(_ value: String) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    mutating func bind(_ value: Int64) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    func query(_ sql: String) -> PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }

    /// SQLite's GLOB, as the other back ends mean it. A pattern without a wildcard is equality,
    /// which the column's index serves (a regular expression never is: `user alice` would read
    /// every event).
    mutating func glob(_ column: String, _ pattern: String) -> String {
        if !pattern.unicodeScalars.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) { return "\(column) = \(bind(pattern))" }
        return "\(column) ~ \(bind(StoreGlob.regex(pattern)))"
    }

    /// A line event of alias `a` ran `program`: by name (rm) or by path (/bin/rm). A plain name
    /// is one of the programs the database keeps of the line (as run and by name), which its
    /// index answers; a glob or a path asks each command's argv.
    mutating func program(_ a: String, _ program: String) -> String {
        if !program.unicodeScalars.contains(where: { "*?[/".unicodeScalars.contains($0) }) {
            return "\(a).programs @> ARRAY[\(bind(program))]::text[]"
        }
        let (name, path) = (bind(StoreGlob.regex(program)), bind(StoreGlob.regex("*/" + program)))
        return """
            EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(\(a).data::jsonb -> 'commands') = 'array'
                                                           THEN \(a).data::jsonb -> 'commands' ELSE '[]'::jsonb END) c
                    WHERE (c -> 'argv' ->> 0) ~ \(name) OR (c -> 'argv' ->> 0) ~ \(path))
            """
    }

    mutating func clause(_ e: AuditQuery.Expression) -> String {
        switch e {
        case .all(let parts): return "(" + parts.map { clause($0) }.joined(separator: " AND ") + ")"
        case .any(let parts): return "(" + parts.map { clause($0) }.joined(separator: " OR ") + ")"
        case .not(let inner): return "NOT " + clause(inner)
        case .grant(let id): return "a.session_id IN (SELECT id FROM sessions WHERE grant_id = \(bind(id)))"
        case .since(let t): return "a.at >= \(bind(t))"
        case .until(let t): return "a.at <= \(bind(t))"
        case .matches(let field, let value):
            switch field {
            case .command:
                let guarded = "(a.kind = \(bind(AuditKind.guard.rawValue)) AND (\(glob("a.line", value)) OR \(glob("a.line", "*/" + value))))"
                return "(\(program("a", value)) OR \(guarded))"
            case .user: return glob("a.identity", value)
            case .host: return glob("a.host", value)
            case .role: return "a.session_id IN (SELECT id FROM sessions WHERE \(glob("role", value)))"
            case .decision: return "a.decision = \(bind(value))"
            case .kind: return glob("a.kind", value)
            case .rule: return glob("a.rule", value)
            case .reason: return glob("a.reason", value)
            case .line: return glob("a.line", value)
            case .cwd: return glob("(a.data::jsonb ->> 'cwd')", value)
            case .session: return glob("a.session_id", value + "*")
            }
        }
    }
}
