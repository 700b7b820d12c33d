import Foundation
import Policy

/// What approvers do: approve or deny a request or an extension against the grant's rule, the
/// on-call plug-in's verdict, the review of a break-glass grant, and an approver's inbox.
extension GrantService {
    func contract(of g: Grant) throws -> Contract {
        guard let c = policy.contracts.first(where: { $0.name == g.contract }) else {
            throw GrantRefusal("contract \(g.contract) of grant \(g.id) is no longer in the policy")
        }
        return c
    }

    /// The rule a grant is approved by: its own, kept when requested; for a grant from before
    /// rules, its contract's as the policy has it now.
    func rule(of g: Grant) -> ApprovalRule? {
        g.approval ?? (try? contract(of: g))?.approval.rule
    }

    /// The requester never approves; anyone else must fit the rule the grant was requested under.
    func mayApprove(_ who: Requester, _ g: Grant) throws {
        let c = try contract(of: g)
        if who.identity == g.identity { throw GrantRefusal("you requested grant \(g.id); someone else must approve it") }
        guard let rule = rule(of: g) else {
            throw GrantRefusal("grants of \(c.name) are approved by the contract itself")
        }
        guard rule.admits(identity: who.identity, groups: who.groups) else {
            throw GrantRefusal("\(who.identity) may not approve grants of \(c.name); it needs approval by \(rule.description)")
        }
    }

    public func approve(_ id: Int64, by who: Requester, comment: String = "", now: Int64) throws -> Grant {
        try store.changeGrant(id) { g in
            try mayApprove(who, g)
            let groups = rule(of: g)?.relevantGroups(who.groups) ?? []
            if let ext = g.pendingExtension {
                if g.approvers(since: ext.index).contains(who.identity) { throw GrantRefusal("you already approved the extension of grant \(id)") }
                let event = GrantEvent(.approved, actor: who.identity, at: now, comment: comment.isEmpty ? "extension" : comment, groups: groups)
                var done = g
                done.events.append(event)
                guard done.isSatisfied(since: ext.index) else {
                    return ([event], [notification("approval", done, who.identity, "\(who.identity) approved extending \(g.identity)'s grant \(id); "
                                                   + "it still needs \(done.outstanding(since: ext.index)): jitsh grant approve \(id)")])
                }
                return ([event, GrantEvent(.extended, actor: who.identity, at: now, comment: "approved", extra: ext.extra)],
                        [notification("extended", g, who.identity, "\(g.identity)'s \(g.role) grant \(id) was extended by \(Duration.describe(Int(ext.extra)))")])
            }
            guard g.state(at: now) == .pending else {
                throw GrantRefusal("grant \(id) is \(g.state(at: now)), not pending")
            }
            if g.approvers(since: nil).contains(who.identity) { throw GrantRefusal("you already approved grant \(id)") }
            let event = GrantEvent(.approved, actor: who.identity, at: now, comment: comment, groups: groups)
            var done = g
            done.events.append(event)
            guard done.isApproved else {
                return ([event], [notification("approval", done, who.identity, "\(who.identity) approved \(g.identity)'s \(g.role) request \(id) on \(g.hostPattern); "
                                               + "it still needs \(done.outstanding(since: nil)): jitsh grant approve \(id)")])
            }
            return ([event], [notification("approved", g, who.identity, "\(g.identity)'s \(g.role) grant \(id) on \(g.hostPattern) was approved by \(who.identity)")])
        }
    }

    public func deny(_ id: Int64, by who: Requester, comment: String = "", now: Int64) throws -> Grant {
        try store.changeGrant(id) { g in
            try mayApprove(who, g)
            if g.pendingExtension != nil {
                return ([GrantEvent(.extensionDenied, actor: who.identity, at: now, comment: comment)],
                        [notification("denied", g, who.identity, "the extension of \(g.identity)'s grant \(id) was denied by \(who.identity)")])
            }
            guard g.state(at: now) == .pending else { throw GrantRefusal("grant \(id) is \(g.state(at: now)), not pending") }
            return ([GrantEvent(.denied, actor: who.identity, at: now, comment: comment)],
                    [notification("denied", g, who.identity, "\(g.identity)'s \(g.role) request \(id) was denied by \(who.identity)")])
        }
    }

    /// The on-call plug-in said yes: the request is approved at once, by the contract's check
    /// (named in the event), if it is still pending.
    public func approveOnCall(_ id: Int64, check: String, output: String, now: Int64) throws -> Grant {
        try store.changeGrant(id) { g in
            guard g.state(at: now) == .pending else { throw GrantRefusal("grant \(id) is \(g.state(at: now)), not pending") }
            let comment = "on call (\(check))" + (output.isEmpty ? "" : ": \(output)")
            return ([GrantEvent(.autoApproved, actor: "on-call", at: now, comment: comment)],
                    [notification("approved", g, "on-call", "\(g.identity)'s \(g.role) grant \(id) on \(g.hostPattern) was approved: \(g.identity) is on call")])
        }
    }

    /// A look after the fact at a break-glass grant, by an admin who neither made nor held it.
    public func review(_ id: Int64, by who: Requester, note: String, now: Int64) throws -> Grant {
        try store.changeGrant(id) { g in
            guard g.breakGlass else { throw GrantRefusal("grant \(id) is not a break-glass grant; only those are reviewed after the fact") }
            guard who.isAdmin else { throw GrantRefusal("only root or an admin (group admins in people) may review a break-glass grant") }
            let creator = g.events.first { $0.kind == .created }?.actor
            guard who.identity != g.identity, who.identity != creator || who.isRoot else {
                throw GrantRefusal("you \(who.identity == g.identity ? "held" : "made") break-glass grant \(id); another admin reviews it")
            }
            guard !note.trimmingCharacters(in: .whitespaces).isEmpty else { throw GrantRefusal("a review needs --note \"what was done and whether it was needed\"") }
            if let done = g.events.first(where: { $0.kind == .reviewed }) {
                throw GrantRefusal("break-glass grant \(id) was reviewed by \(done.actor) at \(Timestamp.format(microseconds: done.at))")
            }
            return ([GrantEvent(.reviewed, actor: who.identity, at: now, comment: note)],
                    [notification("reviewed", g, who.identity, "break-glass grant \(id) of \(g.identity) was reviewed by \(who.identity): \(note)")])
        }
    }

    /// An approver's inbox: requests and extensions waiting, that they did not make, may
    /// approve, and have not approved yet.
    public func awaitingApproval(by who: Requester, now: Int64) throws -> [Grant] {
        try store.grants(identity: nil).filter { g in
            let marker = g.pendingExtension?.index
            guard g.state(at: now) == .pending || marker != nil, g.identity != who.identity,
                  (try? mayApprove(who, g)) != nil else { return false }
            return !g.approvers(since: marker).contains(who.identity)
        }
    }
}
