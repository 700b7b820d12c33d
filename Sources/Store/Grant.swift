import Policy

/// A grant as requested. Never changed afterwards: what happens to it is a list of events, and
/// its state is derived from them. Times and lengths in microseconds, as everything the store keeps.
public struct Grant: Sendable, Equatable {
    public var id: Int64
    public var identity: String
    public var role: String
    public var contract: String
    /// Host name glob the grant covers.
    public var hostPattern: String
    public var reason: String
    public var requestedAt: Int64
    public var startsAt: Int64
    public var duration: Int64
    /// Distinct approvers needed, copied from the contract when requested (0: approved by the contract).
    public var approvalsNeeded: Int
    /// The contract's approval rule as it was when requested; nil for grants from before rules,
    /// which count `approvalsNeeded` approvers of the contract.
    public var approval: ApprovalRule?
    public var maxDuration: Int64
    public var pendingTTL: Int64
    public var breakGlass: Bool
    public var events: [GrantEvent]

    public init(id: Int64 = 0, identity: String, role: String, contract: String, hostPattern: String, reason: String,
                requestedAt: Int64, startsAt: Int64, duration: Int64, approvalsNeeded: Int, maxDuration: Int64,
                pendingTTL: Int64, breakGlass: Bool = false, approval: ApprovalRule? = nil, events: [GrantEvent] = []) {
        self.id = id
        self.identity = identity
        self.role = role
        self.contract = contract
        self.hostPattern = hostPattern
        self.reason = reason
        self.requestedAt = requestedAt
        self.startsAt = startsAt
        self.duration = duration
        self.approvalsNeeded = approvalsNeeded
        self.maxDuration = maxDuration
        self.pendingTTL = pendingTTL
        self.breakGlass = breakGlass
        self.approval = approval
        self.events = events
    }
}

public struct GrantEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case requested, approved, denied, revoked, expired, created
        case extensionRequested = "extension-requested"
        case extensionDenied = "extension-denied"
        case extended
        /// Approved at once by the contract's on-call plug-in.
        case autoApproved = "auto-approved"
        /// A person looked at a break-glass grant after the fact.
        case reviewed
    }

    public var kind: Kind
    public var actor: String
    public var at: Int64
    public var comment: String
    /// For extensions: how much longer (µs).
    public var extra: Int64
    /// For approvals: the groups of the approval rule the approver held, so the rule is judged by
    /// what was true when they approved.
    public var groups: [String]

    public init(_ kind: Kind, actor: String, at: Int64, comment: String = "", extra: Int64 = 0, groups: [String] = []) {
        self.kind = kind
        self.actor = actor
        self.at = at
        self.comment = comment
        self.extra = extra
        self.groups = groups
    }
}

public enum GrantState: Sendable, Equatable, CustomStringConvertible {
    case pending
    /// Approved, waiting for its start.
    case scheduled
    case active
    case expired
    case denied
    case revoked
    /// Nobody approved it within the contract's pending_ttl.
    case lapsed

    public var description: String {
        switch self {
        case .pending: return "pending"
        case .scheduled: return "scheduled"
        case .active: return "active"
        case .expired: return "expired"
        case .denied: return "denied"
        case .revoked: return "revoked"
        case .lapsed: return "lapsed"
        }
    }
}

extension Grant {
    /// Folds the events in order: what the grant is at `now`.
    public func state(at now: Int64) -> GrantState {
        if events.contains(where: { $0.kind == .revoked }) { return .revoked }
        if events.contains(where: { $0.kind == .denied }) { return .denied }
        guard isApproved else {
            return now >= requestedAt + pendingTTL ? .lapsed : .pending
        }
        if now < startsAt { return .scheduled }
        return now < endsAt ? .active : .expired
    }

    /// Approved once by the contract or its on-call plug-in, a break-glass creation, or
    /// approvers who satisfy the rule.
    public var isApproved: Bool {
        if breakGlass || events.contains(where: { $0.kind == .created }) { return true }
        let request = events.prefix { $0.kind != .extensionRequested }
        if request.contains(where: { $0.kind == .autoApproved }) { return true }
        return isSatisfied(since: nil)
    }

    /// Whether the approvals of the request (or, with a marker, of the extension requested
    /// there) satisfy the grant's rule.
    public func isSatisfied(since marker: Int?) -> Bool {
        guard let approval else { return approvers(since: marker).count >= approvalsNeeded }
        return approval.isSatisfied(by: approvals(since: marker))
    }

    /// What approvals are still missing, for people ("1 more of group security"); "" when none.
    public func outstanding(since marker: Int?) -> String {
        guard let approval else {
            let missing = approvalsNeeded - approvers(since: marker).count
            return missing > 0 ? "\(missing) more approval\(missing == 1 ? "" : "s")" : ""
        }
        return approval.outstanding(after: approvals(since: marker))
    }

    /// Distinct approvers of the request (or, from an extension request on, of that extension).
    /// The requester never counts.
    public func approvers(since marker: Int?) -> [String] {
        approvals(since: marker).map(\.identity)
    }

    /// The approvals as the rule counts them: each person once, with the groups they held.
    public func approvals(since marker: Int?) -> [ApprovalRule.Approver] {
        var seen: [ApprovalRule.Approver] = []
        let start = marker.map { $0 + 1 } ?? 0
        for e in events.dropFirst(start) {
            if marker == nil && e.kind == .extensionRequested { break }
            if e.kind == .approved, e.actor != identity, !seen.contains(where: { $0.identity == e.actor }) {
                seen.append(.init(identity: e.actor, groups: Set(e.groups)))
            }
        }
        return seen
    }

    /// A break-glass grant nobody has reviewed yet.
    public var awaitsReview: Bool {
        breakGlass && !events.contains { $0.kind == .reviewed }
    }

    /// The extension waiting for approval, and where its request sits in the events.
    public var pendingExtension: (index: Int, extra: Int64)? {
        guard let k = events.lastIndex(where: { $0.kind == .extensionRequested }) else { return nil }
        if events[(k + 1)...].contains(where: { [.extended, .extensionDenied, .revoked].contains($0.kind) }) { return nil }
        return (k, events[k].extra)
    }

    public var endsAt: Int64 {
        startsAt + duration + events.filter { $0.kind == .extended }.reduce(0) { $0 + $1.extra }
    }

    public var totalDuration: Int64 { endsAt - startsAt }

    /// Live: active, and for this host.
    public func isLive(at now: Int64, host: HostInfo) -> Bool {
        state(at: now) == .active && covers(host)
    }

    public func covers(_ host: HostInfo) -> Bool {
        HostSet(hostPattern)?.covers(host) ?? false
    }

    public var requestedBy: String { identity }
}
