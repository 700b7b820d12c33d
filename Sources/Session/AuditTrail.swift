import Store

/// The one place audit events are made: a session's, the forced command's refusals, review
/// commands' and the web app's. Each goes to the store and, with `audit: {syslog: true}` in
/// jitsh.yaml, to syslog as well (refusals and a session's start and end included).
public struct AuditTrail: Sendable {
    public let store: any AuditLog
    public let identity: String
    public let host: String
    public var session: String?
    public var syslog: Bool

    public init(store: any AuditLog, identity: String, host: String, session: String? = nil, syslog: Bool = false) {
        self.store = store
        self.identity = identity
        self.host = host
        self.session = session
        self.syslog = syslog
    }

    /// The event, not yet stored (a session's start and end are stored with their session row).
    public func event(_ kind: AuditKind, at: Int64? = nil, line: String = "", decision: AuditDecision = .none, rule: String = "",
                      reason: String = "", data: String = "{}") -> AuditEvent {
        AuditEvent(at: at ?? SystemClock.shared.wall, sessionID: session, identity: identity, host: host, kind: kind, line: line,
                   decision: decision, rule: rule, reason: reason, data: data)
    }

    /// Stores the event (with the alert queued for the webhook in the same transaction); throws
    /// what the store said, and the caller then runs nothing.
    public func record(_ kind: AuditKind, at: Int64? = nil, line: String = "", decision: AuditDecision = .none, rule: String = "",
                       reason: String = "", data: String = "{}", alert: Notification? = nil) throws {
        let e = event(kind, at: at, line: line, decision: decision, rule: rule, reason: reason, data: data)
        sent(e)
        try store.appendAudit([e], alert: alert)
    }

    /// What was stored some other way (a session's start and end), to syslog too.
    public func sent(_ e: AuditEvent) {
        if syslog { AuditSyslog.send(e) }
    }
}
