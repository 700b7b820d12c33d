import Policy

/// A grant as requested. Never changed afterwards: what happens to it is a list of events, and
/// its state is derived from them.
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
    public var maxDuration: Int64
    public var pendingTTL: Int64
    public var breakGlass: Bool
    public var events: [GrantEvent]

    public init(id: Int64 = 0, identity: String, role: String, contract: String, hostPattern: String, reason: String,
                requestedAt: Int64, startsAt: Int64, duration: Int64, approvalsNeeded: Int, maxDuration: Int64,
                pendingTTL: Int64, breakGlass: Bool = false, events: [GrantEvent] = []) {
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
        self.events = events
    }
}

public struct GrantEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case requested, approved, denied, revoked, expired, created
        case extensionRequested = "extension-requested"
        case extensionDenied = "extension-denied"
        case extended
    }

    public var kind: Kind
    public var actor: String
    public var at: Int64
    public var comment: String
    /// For extensions: how much longer.
    public var seconds: Int64

    public init(_ kind: Kind, actor: String, at: Int64, comment: String = "", seconds: Int64 = 0) {
        self.kind = kind
        self.actor = actor
        self.at = at
        self.comment = comment
        self.seconds = seconds
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

    /// Approved once by the contract, a break-glass creation, or enough distinct approvers.
    public var isApproved: Bool {
        if breakGlass || events.contains(where: { $0.kind == .created }) { return true }
        return approvers(since: nil).count >= approvalsNeeded
    }

    /// Distinct approvers of the request (or, from an extension request on, of that extension).
    /// The requester never counts.
    public func approvers(since marker: Int?) -> [String] {
        var seen: [String] = []
        let start = marker.map { $0 + 1 } ?? 0
        for e in events.dropFirst(start) {
            if marker == nil && e.kind == .extensionRequested { break }
            if e.kind == .approved, e.actor != identity, !seen.contains(e.actor) { seen.append(e.actor) }
        }
        return seen
    }

    /// The extension waiting for approval, and where its request sits in the events.
    public var pendingExtension: (index: Int, seconds: Int64)? {
        guard let k = events.lastIndex(where: { $0.kind == .extensionRequested }) else { return nil }
        if events[(k + 1)...].contains(where: { [.extended, .extensionDenied, .revoked].contains($0.kind) }) { return nil }
        return (k, events[k].seconds)
    }

    public var endsAt: Int64 {
        startsAt + duration + events.filter { $0.kind == .extended }.reduce(0) { $0 + $1.seconds }
    }

    public var totalDuration: Int64 { endsAt - startsAt }

    /// Live: active, and for this host.
    public func isLive(at now: Int64, host: HostInfo) -> Bool {
        state(at: now) == .active && covers(host)
    }

    public func covers(_ host: HostInfo) -> Bool {
        (try? Glob(hostPattern))?.matches(host.name) ?? false
    }

    public var requestedBy: String { identity }
}
