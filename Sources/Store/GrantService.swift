import Foundation
import Policy

/// Who is asking, as established at the edge (login name or `--as`, groups from the policy's
/// `people` and from Unix).
public struct Requester: Sendable, Equatable {
    public var identity: String
    public var groups: Set<String>
    public var isRoot: Bool

    public init(identity: String, groups: Set<String>, isRoot: Bool = false) {
        self.identity = identity
        self.groups = groups
        self.isRoot = isRoot
    }

    /// Root, or anyone in the `admins` group.
    public var isAdmin: Bool { isRoot || groups.contains("admins") }
}

/// The grant lifecycle: request → (approve | deny) → active → expired, or revoked; extensions
/// approved like requests; break-glass grants for admins. Time is always passed in.
public struct GrantService: Sendable {
    public let store: any GrantStore
    public let policy: Policy
    public let host: HostInfo
    public let zones: TimeZoneResolver

    public init(store: any GrantStore, policy: Policy, host: HostInfo, zones: TimeZoneResolver) {
        self.store = store
        self.policy = policy
        self.host = host
        self.zones = zones
    }

    public struct Request: Sendable {
        public var role: String
        public var hostPattern: String?
        /// Seconds, as people ask (`--for 2h`); the contract's default when nil.
        public var duration: Int?
        /// When it starts, in microseconds since the epoch; now when nil.
        public var start: Int64?
        public var reason: String

        public init(role: String, hostPattern: String? = nil, duration: Int? = nil, start: Int64? = nil, reason: String) {
            self.role = role
            self.hostPattern = hostPattern
            self.duration = duration
            self.start = start
            self.reason = reason
        }
    }

    // MARK: Request

    /// The contracts `who` may request from on this host.
    public func requestable(by who: Requester) -> [Contract] {
        policy.contracts.filter { $0.mayRequest(identity: who.identity, groups: who.groups) && $0.covers(host) }
    }

    public func request(_ r: Request, by who: Requester, now: Int64) throws -> Grant {
        if let lock = Lock.covering(try store.locks(holdingAt: now), identity: who.identity, role: r.role, host: host.name, now: now) {
            throw GrantRefusal("\(lock.target) is locked by \(lock.actor): \(lock.reason); no grant can be requested while it holds")
        }
        let forRole = policy.contracts.filter { $0.role == r.role }
        guard policy.role(r.role) != nil, !forRole.isEmpty else {
            let offered = Set(requestable(by: who).map(\.role)).sorted()
            throw GrantRefusal("no contract grants role \(r.role); you may request: \(offered.isEmpty ? "nothing on this host" : offered.joined(separator: ", "))")
        }
        let eligible = forRole.filter { $0.mayRequest(identity: who.identity, groups: who.groups) }
        guard !eligible.isEmpty else {
            let needs = forRole.map { "\($0.name) needs \(($0.requesterGroups.map { "group \($0)" } + $0.requesterPeople).joined(separator: " or "))" }
            throw GrantRefusal("\(who.identity) may not request role \(r.role): \(needs.joined(separator: "; "))")
        }
        var problems: [String] = []
        for c in eligible {
            switch check(r, against: c, now: now) {
            case .success(let grant):
                var g = grant
                g.identity = who.identity
                var events = [GrantEvent(.requested, actor: who.identity, at: now, comment: r.reason)]
                var notes = [notification("requested", g, who.identity,
                                          "\(who.identity) requested \(g.role) on \(g.hostPattern) for \(Duration.describe(microseconds: g.duration)): \(g.reason)"
                                          + (c.approval.rule.map { "; needs approval by \($0.description); approve with: jitsh grant approve {grant}" } ?? ""))]
                if c.approval.rule == nil {
                    events.append(GrantEvent(.approved, actor: "contract:\(c.name)", at: now, comment: "approved by contract \(c.name)"))
                    notes.append(notification("approved", g, "contract:\(c.name)", "\(who.identity)'s \(g.role) grant was approved by contract \(c.name)"))
                }
                g.events = events
                return try store.insertGrant(g, notifications: notes)
            case .failure(let problem):
                problems.append(problem.message)
            }
        }
        throw GrantRefusal(problems.count == 1 ? problems[0] : problems.joined(separator: "; "))
    }

    static func notAHostSet(_ text: String) -> GrantRefusal {
        GrantRefusal("\(text) is neither a host name or glob (prod-*) nor tags (env=production,tier=web)")
    }

    /// Everything a contract asks of a request; the grant it would create, or what is missing.
    func check(_ r: Request, against c: Contract, now: Int64) -> Result<Grant, GrantRefusal> {
        let pattern = r.hostPattern ?? host.name
        guard let set = HostSet(pattern) else { return .failure(Self.notAHostSet(pattern)) }
        let hostOK: Bool
        if c.hostNames.isEmpty && c.hostTags == nil {
            hostOK = true
        } else if pattern == host.name {
            hostOK = c.covers(host)
        } else if case .tags = set {
            hostOK = c.hostTags.map(set.isWithin) ?? false
        } else {
            hostOK = c.hostNames.contains { $0.pattern == pattern } || c.hostNames.contains { $0.matches(pattern) && !pattern.contains(where: { "*?[".contains($0) }) }
        }
        guard hostOK else {
            let where_ = c.hostNames.map(\.pattern) + (c.hostTags.map { [$0.description] } ?? [])
            return .failure(GrantRefusal("contract \(c.name) does not cover \(pattern) (it covers \(where_.joined(separator: ", ")))"))
        }
        let duration = r.duration ?? c.defaultDuration
        guard duration > 0, duration <= c.maxDuration else {
            return .failure(GrantRefusal("contract \(c.name) allows at most \(Duration.describe(c.maxDuration)); asked for \(Duration.describe(duration))"))
        }
        let reason = r.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        if c.reasonRequired && reason.isEmpty {
            return .failure(GrantRefusal("contract \(c.name) needs a reason: --reason \"INC-1234 what you will do\""))
        }
        if let p = c.reasonPattern, let regex = try? Regex(p), reason.firstMatch(of: regex) == nil {
            return .failure(GrantRefusal("contract \(c.name) needs a reason matching \(p), like \"INC-1234 …\""))
        }
        let start = r.start ?? now
        if start < now - 60 * Duration.second { return .failure(GrantRefusal("a grant cannot start in the past")) }
        if start > now + 30 * 86400 * Duration.second { return .failure(GrantRefusal("a grant can start at most 30 days ahead")) }
        for w in c.denyWindows {
            for instant in [now, start] where w.contains(epochSeconds: instant / Duration.second, zones: zones) != false {
                return .failure(GrantRefusal("contract \(c.name) takes no requests during \(w.text)"))
            }
        }
        return .success(Grant(identity: "", role: c.role, contract: c.name, hostPattern: set.description, reason: reason, requestedAt: now,
                              startsAt: start, duration: Duration.microseconds(seconds: duration),
                              approvalsNeeded: c.approval.rule?.fewestApprovals ?? 0, maxDuration: Duration.microseconds(seconds: c.maxDuration),
                              pendingTTL: Duration.microseconds(seconds: c.pendingTTL), approval: c.approval.rule))
    }

    public func revoke(_ id: Int64, by who: Requester, reason: String = "", now: Int64) throws -> Grant {
        try store.changeGrant(id) { g in
            let isApprover = (try? contract(of: g))?.mayApprove(identity: who.identity, groups: who.groups) ?? false
            guard who.identity == g.identity || who.isAdmin || isApprover else {
                throw GrantRefusal("only the holder, an approver or an admin may revoke grant \(id)")
            }
            let state = g.state(at: now)
            guard [.pending, .scheduled, .active].contains(state) else { throw GrantRefusal("grant \(id) is already \(state)") }
            return ([GrantEvent(.revoked, actor: who.identity, at: now, comment: reason)],
                    [notification("revoked", g, who.identity, "\(g.identity)'s \(g.role) grant \(id) was revoked by \(who.identity)\(reason.isEmpty ? "" : ": \(reason)")")])
        }
    }

    /// `seconds` more, as people ask (`--by 1h`).
    public func extend(_ id: Int64, by who: Requester, seconds: Int, now: Int64) throws -> Grant {
        let extra = Duration.microseconds(seconds: seconds)
        return try store.changeGrant(id) { g in
            guard who.identity == g.identity || who.isAdmin else { throw GrantRefusal("only the holder may extend grant \(id)") }
            let state = g.state(at: now)
            guard state == .active || state == .scheduled else { throw GrantRefusal("grant \(id) is \(state); request a new one") }
            guard g.pendingExtension == nil else { throw GrantRefusal("grant \(id) already has an extension waiting for approval") }
            guard g.totalDuration + extra <= g.maxDuration else {
                throw GrantRefusal("grant \(id) may last at most \(Duration.describe(microseconds: g.maxDuration)) in all; it already has \(Duration.describe(microseconds: g.totalDuration))")
            }
            if g.approvalsNeeded == 0 || g.breakGlass {
                return ([GrantEvent(.extended, actor: who.identity, at: now, comment: "approved by contract \(g.contract)", extra: extra)],
                        [notification("extended", g, who.identity, "\(g.identity)'s \(g.role) grant \(id) was extended by \(Duration.describe(seconds))")])
            }
            return ([GrantEvent(.extensionRequested, actor: who.identity, at: now, extra: extra)],
                    [notification("requested", g, who.identity, "\(g.identity) asks to extend grant \(id) by \(Duration.describe(seconds))")])
        }
    }

    /// Break glass: an admin grants a role at once, without a contract. Recorded as such and
    /// raising an alert.
    public func createBreakGlass(for identity: String, role: String, hostPattern: String?, seconds: Int, reason: String,
                                 by who: Requester, now: Int64) throws -> Grant {
        guard who.isAdmin else { throw GrantRefusal("only root or an admin (group admins in people) may create a break-glass grant") }
        guard policy.role(role) != nil else { throw GrantRefusal("role \(role) is not in the policy") }
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw GrantRefusal("a break-glass grant needs --reason") }
        guard let set = HostSet(hostPattern ?? host.name) else { throw Self.notAHostSet(hostPattern ?? "") }
        let g = Grant(identity: identity, role: role, contract: "break-glass", hostPattern: set.description, reason: reason,
                      requestedAt: now, startsAt: now, duration: Duration.microseconds(seconds: seconds), approvalsNeeded: 0,
                      maxDuration: Duration.microseconds(seconds: seconds), pendingTTL: 0, breakGlass: true,
                      events: [GrantEvent(.created, actor: who.identity, at: now, comment: reason)])
        return try store.insertGrant(g, notifications: [notification("break-glass", g, who.identity,
            ":rotating_light: BREAK-GLASS: \(who.identity) granted \(identity) \(role) on \(g.hostPattern) for \(Duration.describe(seconds)): \(reason); "
            + "another admin reviews it afterwards with: jitsh grant review {grant} --note \"…\"")])
    }

    // MARK: Reading

    /// The grants that let `identity` in here now, newest first.
    public func live(for identity: String, now: Int64) throws -> [Grant] {
        try store.grants(identity: identity).filter { $0.isLive(at: now, host: host) }.sorted { $0.id > $1.id }
    }

    /// Appends `expired` to grants whose time ran out, so the event (and its notification) exists.
    @discardableResult
    public func sweep(now: Int64) throws -> Int {
        var count = 0
        for g in try store.grants(identity: nil) {
            let state = g.state(at: now)
            guard state == .expired || state == .lapsed, !g.events.contains(where: { $0.kind == .expired }) else { continue }
            _ = try store.changeGrant(g.id) { current in
                guard !current.events.contains(where: { $0.kind == .expired }) else { return ([], []) }
                let at = state == .expired ? current.endsAt : current.requestedAt + current.pendingTTL
                return ([GrantEvent(.expired, actor: "jitsh", at: max(at, 0), comment: state == .lapsed ? "not approved in time" : "")],
                        [notification("expired", current, "jitsh", "\(current.identity)'s \(current.role) grant \(current.id) \(state == .lapsed ? "lapsed unapproved" : "expired")")])
            }
            count += 1
        }
        return count
    }

    func notification(_ event: String, _ g: Grant, _ actor: String, _ text: String) -> Notification {
        var fields = ["identity": g.identity, "role": g.role, "host": g.hostPattern, "contract": g.contract, "actor": actor,
                      "reason": g.reason, "duration": Duration.describe(microseconds: g.duration), "event": event]
        // What an approver needs to act from the message alone: who else must approve, and how.
        if let rule = rule(of: g), ["requested", "approval"].contains(event) {
            fields["approval"] = rule.description
            fields["needs"] = g.outstanding(since: g.pendingExtension?.index)
            fields["approve"] = "jitsh grant approve \(g.id == 0 ? "{grant}" : String(g.id))"
        }
        if event == "break-glass" { fields["review"] = "jitsh grant review {grant} --note …" }
        return Notification(event: event, text: text, fields: fields)
    }
}
