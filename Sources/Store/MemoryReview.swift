import Crypto
import Foundation

/// The expression evaluated on one event, as the databases' compiled clauses decide it: the
/// memory store's search, and the reference both compilers are tested against.
extension AuditQuery.Expression {
    public func matches(_ e: AuditEvent, session: SessionRecord?) -> Bool {
        switch self {
        case .all(let parts): return parts.allSatisfy { $0.matches(e, session: session) }
        case .any(let parts): return parts.contains { $0.matches(e, session: session) }
        case .not(let inner): return !inner.matches(e, session: session)
        case .grant(let id): return session?.grantID == id
        case .since(let t): return e.at >= t
        case .until(let t): return e.at <= t
        case .matches(let field, let value):
            let glob = { (text: String?) in text.map { StoreGlob.matches(value, $0) } ?? false }
            switch field {
            case .command:
                let ran = Self.programs(e.data).contains { glob($0) || StoreGlob.matches("*/" + value, $0) }
                return ran || (e.kind == AuditKind.guard.rawValue && (glob(e.line) || StoreGlob.matches("*/" + value, e.line)))
            case .user: return glob(e.identity)
            case .host: return glob(e.host)
            case .role: return glob(session?.role)
            case .decision: return e.decision == value
            case .kind: return glob(e.kind)
            case .rule: return glob(e.rule)
            case .reason: return glob(e.reason)
            case .line: return glob(e.line)
            case .cwd: return glob(Self.object(e.data)?["cwd"] as? String)
            case .session: return e.sessionID.map { StoreGlob.matches(value + "*", $0) } ?? false
            }
        }
    }

    static func object(_ data: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any]
    }

    /// argv[0] of each command the event's line ran.
    static func programs(_ data: String) -> [String] {
        ((object(data)?["commands"] as? [Any]) ?? []).compactMap { (($0 as? [String: Any])?["argv"] as? [Any])?.first as? String }
    }
}

extension MemoryStore: ReviewStore {
    public func sessionSummaries(_ f: SessionFilter) throws -> [SessionSummary] {
        let sessions = try allSessionIDs(host: nil).compactMap { try session($0) }
        var out: [SessionSummary] = []
        for s in sessions.reversed() {
            let events = try auditEvents(session: s.id)
            let end = try sessionEnd(s.id)
            let glob = { (pattern: String?, text: String) in pattern.map { StoreGlob.matches($0, text) } ?? true }
            guard glob(f.user, s.identity), glob(f.host, s.host), glob(f.role, s.role) else { continue }
            if let t = f.since, s.startedAt < t { continue }
            if let t = f.until, s.startedAt > t { continue }
            if let g = f.grant, s.grantID != g { continue }
            let denied = events.filter { $0.decision == AuditDecision.deny.rawValue }.count
            let confirmed = events.filter { $0.kind == AuditKind.confirmed.rawValue }.count
            let blocked = events.filter { $0.kind == AuditKind.guard.rawValue }.count
            if (f.deniedOnly && denied == 0) || (f.confirmedOnly && confirmed == 0) || (f.blockedOnly && blocked == 0) || (f.runningOnly && end != nil) {
                continue
            }
            if let c = f.command, !events.contains(where: { $0.kind == AuditKind.line.rawValue && AuditQuery.Expression.matches(.command, c).matches($0, session: s) }) {
                continue
            }
            let lines = events.filter { $0.kind == AuditKind.line.rawValue && $0.decision != AuditDecision.builtin.rawValue }.count
            out.append(SessionSummary(session: s, end: end, pruned: false, lines: lines, denied: denied, confirmed: confirmed, blocked: blocked))
        }
        return Array(out.dropFirst(max(0, f.offset)).prefix(max(0, f.limit)))
    }

    public func sessionIDs(matching prefix: String) throws -> [String] {
        Array(try allSessionIDs(host: nil).reversed().filter { StoreGlob.matches(prefix + "*", $0) }.prefix(2))
    }

    public func auditEvents(matching q: AuditQuery, limit: Int) throws -> [AuditEvent] {
        let events = try auditEvents(after: 0, limit: Int.max)
        let sessions = try self.sessions(Array(Set(events.compactMap(\.sessionID))))
        return Array(events.filter { q.expression.matches($0, session: $0.sessionID.flatMap { sessions[$0] }) }.suffix(max(0, limit)))
    }

    public func decidedLines(since: Int64) throws -> [DecidedLine] {
        let decided = [AuditDecision.allow, .deny, .confirm].map(\.rawValue)
        return try auditEvents(after: 0, limit: Int.max).compactMap { e in
            guard e.kind == AuditKind.line.rawValue, decided.contains(e.decision), e.at >= since, let id = e.sessionID,
                  let s = try session(id) else { return nil }
            return DecidedLine(line: e.line, role: s.role, host: e.host, at: e.at, cwd: AuditQuery.Expression.object(e.data)?["cwd"] as? String)
        }
    }

    public func verify(_ id: String, key: Curve25519.Signing.PublicKey) throws -> Verification { try verifyRecording(id, key: key) }
}
