import Foundation
import Hummingbird
import Policy
import Session
import Store

/// The approvers' inbox and the grants in force: approve, deny, revoke with the CLI's rules
/// (GrantService decides: never one's own request, the contract's approvers only, distinct
/// approvers counted); and ending a live session, which today revokes its grant.
extension WebApp {
    func grantRoutes(_ router: Router<WebContext>) {
        router.get("/grants") { request, _ in try self.grants(request, notice: nil) }
        router.post("/grants/:id/:verb") { request, context in try await self.decide(request, context) }
        router.post("/live/:id/terminate") { request, context in try await self.terminate(request, context) }
    }

    func grants(_ request: Request, notice: (text: String, ok: Bool)?, status: HTTPResponse.Status = .ok) throws -> Response {
        let viewer: Viewer
        switch try require(request, approve: true) { case .allowed(let v): viewer = v; case .refused(let r): return r }
        let now = Clock.now
        let all = try store.grants(identity: nil)
        let pending = all.filter { $0.state(at: now) == .pending || $0.pendingExtension != nil && $0.state(at: now) == .active }
        let active = all.filter { [.active, .scheduled].contains($0.state(at: now)) }
        return .html(GrantPages.inbox(pending: pending.reversed(), active: active.reversed(), notice: notice, viewer: viewer, now: now),
                     status: status)
    }

    func decide(_ request: Request, _ context: WebContext) async throws -> Response {
        let viewer: Viewer
        switch try require(request, approve: true) { case .allowed(let v): viewer = v; case .refused(let r): return r }
        guard let form = try await form(request, viewer) else {
            return Page.error(status: .forbidden, "the form is stale or did not come from this site; reload the page", viewer: viewer)
        }
        guard let id = context.parameters.get("id").flatMap({ Int64($0) }), let verb = context.parameters.get("verb"),
              ["approve", "deny", "revoke"].contains(verb) else { return Page.error(status: .notFound, "no such action", viewer: viewer) }
        let comment = String((form["comment"] ?? "").prefix(500))
        let service = try grantService()
        let now = Clock.now
        do {
            let g: Grant
            switch verb {
            case "approve": g = try service.approve(id, by: viewer.requester, comment: comment, now: now)
            case "deny": g = try service.deny(id, by: viewer.requester, comment: comment, now: now)
            default: g = try service.revoke(id, by: viewer.requester, reason: comment, now: now)
            }
            audit(.webGrant, viewer.identity, client: context.client, line: "\(verb) \(id)", decision: AuditDecision(rawValue: verb) ?? .none, reason: comment, grant: id)
            _ = Outbox(store: store, webhook: webhook).deliver(now: now)
            return try grants(request, notice: ("grant \(g.id) of \(g.identity): \(verb == "approve" ? "approved" : verb == "deny" ? "denied" : "revoked"), now \(g.state(at: now))", true))
        } catch let refusal as GrantRefusal {
            audit(.webGrant, viewer.identity, client: context.client, line: "\(verb) \(id)", decision: .refused, reason: refusal.message, grant: id)
            return try grants(request, notice: (refusal.message, false), status: .forbidden)
        }
    }

    /// Terminate locks that one session (only admins lock, as `jitsh lock` will): its watchdog
    /// ends it within seconds, exit reason `locked`; other sessions of its grant go on.
    func terminate(_ request: Request, _ context: WebContext) async throws -> Response {
        let viewer: Viewer
        switch try require(request, review: true) { case .allowed(let v): viewer = v; case .refused(let r): return r }
        guard let form = try await form(request, viewer) else {
            return Page.error(status: .forbidden, "the form is stale or did not come from this site; reload the page", viewer: viewer)
        }
        guard let id = try sessionID(context), let record = try store.session(id) else {
            return Page.error(status: .notFound, "no such session", viewer: viewer)
        }
        guard viewer.requester.isAdmin else {
            audit(.webTerminate, viewer.identity, client: context.client, line: id, decision: .refused, reason: "only admins end sessions",
                  session: id, grant: record.grantID)
            return Page.error(status: .forbidden, "only admins (or root) end a live session", viewer: viewer)
        }
        let reason = (form["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else { return Page.error(status: .badRequest, "give a reason to end a session", viewer: viewer) }
        try store.lockSession(SessionLock(sessionID: id, actor: viewer.identity, reason: String(reason.prefix(500)), at: Clock.now))
        audit(.webTerminate, viewer.identity, client: context.client, line: id, decision: .allow, reason: reason, session: id,
              grant: record.grantID)
        return Page.redirect("/sessions/\(id)")
    }
}

enum GrantPages {
    static func inbox(pending: [Grant], active: [Grant], notice: (text: String, ok: Bool)?, viewer: Viewer, now: Int64) -> HTML {
        func row(_ g: Grant, actions: [HTML]) -> HTML {
            let approvals = g.approvers(since: g.pendingExtension?.index).joined(separator: ", ")
            return """
                <tr><td>\(g.id)</td><td>\(g.identity)</td><td>\(g.role)</td><td>\(g.hostPattern)</td><td>\(g.contract)</td>\
                <td>\(Duration.describe(microseconds: g.pendingExtension?.extra ?? g.duration))\(g.pendingExtension != nil ? " (extension)" : "")</td>\
                <td>\(g.reason)</td><td>\(status(g, now: now))\(approvals.isEmpty ? "" : HTML("; approved by \(approvals)"))</td>\
                <td>\(actions)</td></tr>
                """
        }
        let head: HTML = "<tr><th>Grant</th><th>Who</th><th>Role</th><th>Hosts</th><th>Contract</th><th>For</th><th>Reason</th><th>State</th><th></th></tr>"
        let pendingRows = pending.map { g in
            row(g, actions: [Page.action("/grants/\(g.id)/approve", "Approve", viewer: viewer, field: "comment", placeholder: "comment"),
                             Page.action("/grants/\(g.id)/deny", "Deny", viewer: viewer)])
        }
        let activeRows = active.map { g in
            row(g, actions: [Page.action("/grants/\(g.id)/revoke", "Revoke", viewer: viewer, field: "comment", placeholder: "reason")])
        }
        let banner: HTML = notice.map { "<p class=\"notice \($0.ok ? "ok" : "problem")\">\($0.text)</p>" } ?? ""
        return Page.layout("Grants", viewer: viewer, """
            <h1>Grants</h1>\(banner)
            <h2>Waiting for approval</h2>\(pendingRows.isEmpty ? HTML("<p>No request waits.</p>") : HTML("<table class=\"grants\">\(head)\(pendingRows)</table>"))
            <h2>In force</h2>\(activeRows.isEmpty ? HTML("<p>No grant is active.</p>") : HTML("<table class=\"grants\">\(head)\(activeRows)</table>"))
            """)
    }

    static func status(_ g: Grant, now: Int64) -> String {
        switch g.state(at: now) {
        case .active: return "active, \(Duration.describe(microseconds: g.endsAt - now)) left"
        case .scheduled: return "approved, starts \(Page.time(g.startsAt))"
        case .pending: return "pending: \(g.approvers(since: nil).count) approvals, needs \(g.outstanding(since: nil))"
        case let s: return s.description
        }
    }
}
