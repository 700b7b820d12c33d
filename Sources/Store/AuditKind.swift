import Policy

/// What an audit event records. The raw values are what the store keeps, what SQL matches and
/// what `audit search kind=…` names; a new kind is added here and nowhere else.
public enum AuditKind: String, Sendable, CaseIterable, Codable {
    case sessionStart = "session-start", sessionEnd = "session-end", sessionRefused = "session-refused"
    /// A line decided (or answered by jitsh itself: decision `builtin`).
    case line
    /// The exec guard blocked a program or an escape.
    case `guard`
    case policyFailed = "policy-failed", policyReloaded = "policy-reloaded"
    case confirmShown = "confirm-shown", confirmed, confirmCancelled = "confirm-cancelled", confirmChanged = "confirm-changed"
    case confirmRefused = "confirm-refused", confirmThrottled = "confirm-throttled", confirmTokenUsed = "confirm-token-used"
    case transfer, transferRefused = "transfer-refused"
    case snapshot, snapshotCheck = "snapshot-check", snapshotFailed = "snapshot-failed", snapshotKept = "snapshot-kept"
    case snapshotLimit = "snapshot-limit", snapshotRefused = "snapshot-refused", snapshotRestore = "snapshot-restore"
    case rollback, rollbackRefused = "rollback-refused"
    case webSignIn = "web-sign-in", webSignInLink = "web-sign-in-link", webSignOut = "web-sign-out", webView = "web-view"
    case webSearch = "web-search", webExport = "web-export", webGrant = "web-grant", webTerminate = "web-terminate"
    /// Fleet mode: a session the shipper cannot send (a row that does not verify, or that the
    /// central store holds otherwise) is held in the spool; the others ship.
    case shipQuarantined = "ship-quarantined"
    /// An admin locked a user, role or host, or lifted a lock (`jitsh lock`).
    case lock, lockRemoved = "lock-removed"
    /// A contract's on-call plug-in was asked about a request (`approval: {auto_if: …}`).
    case approvalCheck = "approval-check"
}

/// How the line or action an audit event records was decided.
public enum AuditDecision: String, Sendable, CaseIterable, Codable {
    case allow, deny, confirm
    /// Answered by jitsh itself (`exit`, `help`, `grant …`).
    case builtin
    /// A rollback: every file put back, or only some.
    case restored, partly
    /// A web sign-in or grant action refused.
    case refused
    /// A snapshot's check after a line.
    case pass, fail
    /// A grant action in the web app (its deny is `deny`).
    case approve, revoke
    /// An event that decides nothing (a reload, a view).
    case none = ""
}

extension AuditDecision {
    public init(_ verdict: Verdict) {
        switch verdict {
        case .allow: self = .allow
        case .deny: self = .deny
        case .confirm: self = .confirm
        }
    }
}

/// The `data` of a `line` event: how each command of the line was decided, where, and whether
/// it raised an alert. Searches read `$.commands[*].argv` (`audit search argv~…`).
public struct LineAuditData: Sendable, Equatable {
    public struct Command: Sendable, Equatable {
        public var argv: [String]
        public var decision: AuditDecision
        public var rule: String
        public var reason: String

        public init(argv: [String], decision: AuditDecision, rule: String, reason: String) {
            self.argv = argv
            self.decision = decision
            self.rule = rule
            self.reason = reason
        }
    }

    public var commands: [Command]
    public var cwd: String
    public var alert: Bool

    public init(commands: [Command], cwd: String, alert: Bool) {
        self.commands = commands
        self.cwd = cwd
        self.alert = alert
    }

    public var json: String {
        let commands = commands.map { c -> JSONText in
            ["argv": .array(c.argv.map(JSONText.string)), "decision": .string(c.decision.rawValue), "rule": .string(c.rule),
             "reason": .string(c.reason)]
        }
        return JSONText.object(["commands": .array(commands), "cwd": .string(cwd), "alert": .bool(alert)]).text
    }
}

/// The `data` of a `session-start` event.
public struct SessionStartData: Sendable, Equatable {
    public var mode: String
    public var grant: Int64
    public var client: String

    public init(mode: String, grant: Int64, client: String) {
        self.mode = mode
        self.grant = grant
        self.client = client
    }

    public var json: String { JSONText.object(["mode": .string(mode), "grant": .int(Int(grant)), "client": .string(client)]).text }
}

// SQL literals of the enums, for queries the store writes itself (raw values are fixed words
// without quotes): a renamed kind changes every query with it.
extension AuditKind {
    var sql: String { "'\(rawValue)'" }
}

extension AuditDecision {
    var sql: String { "'\(rawValue)'" }
}
