import Crypto
import Foundation
import Hummingbird
import NIOCore
import Policy
import Session
import Store

/// The app's state and the steps every route shares: who is asking, what they may see, the
/// audit event of what they did. Routes are in the extensions (SignIn, Sessions, Grants).
final class WebApp: Sendable {
    static let cookieName = "jitsh_review"

    let store: any WebReviewStore
    let host: HostInfo
    let publicKey: Curve25519.Signing.PublicKey?
    let policy: PolicySource
    let secure: Bool
    let sessionLifetime: Int64
    let webhook: String?
    let assets: Assets
    let limiter = LimiterBox()
    private let indexing = NSLock()

    init(_ setup: ServeSetup) throws {
        store = setup.store
        host = setup.host
        publicKey = setup.publicKey
        policy = PolicySource(load: setup.loadPolicy)
        secure = setup.tlsCertificate != nil
        sessionLifetime = setup.sessionLifetime
        webhook = setup.webhook
        assets = try Assets(xtermDirectory: setup.xtermDirectory)
        _ = try policy.current()
    }

    func routes(_ router: Router<WebContext>) {
        router.get("/") { request, _ in try await self.home(request) }
        signInRoutes(router)
        sessionRoutes(router)
        grantRoutes(router)
        router.get("/assets/:name") { _, context in try self.assets.response(context.parameters.get("name") ?? "") }
    }

    func home(_ request: Request) async throws -> Response {
        guard let viewer = try viewer(request) else { return Page.signInNeeded() }
        return Page.redirect(viewer.mayReview ? "/sessions" : "/grants")
    }

    // MARK: Who is asking

    func cookie(_ request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == Self.cookieName { return String(kv[1]) }
            }
        }
        return nil
    }

    func viewer(_ request: Request) throws -> Viewer? {
        guard let cookie = cookie(request), cookie.count <= 100,
              let who = try store.browserSession(cookie, now: Clock.now) else { return nil }
        return Viewer(who, cookie: cookie, policy: try policy.current())
    }

    /// The viewer, or the answer to give instead: 401 with how to sign in, 403 when they may not.
    enum Access {
        case allowed(Viewer)
        case refused(Response)
    }

    func require(_ request: Request, review: Bool = false, approve: Bool = false) throws -> Access {
        guard let v = try viewer(request) else { return .refused(Page.signInNeeded()) }
        if review && !v.mayReview {
            return .refused(Page.error(status: .forbidden, "\(v.identity) may not see recordings: only root and the groups admins and auditors may", viewer: v))
        }
        if approve && !(v.mayApprove || v.mayReview) {
            return .refused(Page.error(status: .forbidden, "\(v.identity) approves no contract on this host", viewer: v))
        }
        return .allowed(v)
    }

    /// A POST's form, when its CSRF token is this browser session's.
    func form(_ request: Request, _ viewer: Viewer) async throws -> [String: String]? {
        var request = request
        let body = try await request.collectBody(upTo: 64 * 1024)
        let form = FormData.parse(String(buffer: body))
        guard let token = form["csrf"], token.utf8.count == viewer.csrf.utf8.count,
              zip(token.utf8, viewer.csrf.utf8).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { return nil }
        return form
    }

    // MARK: The audit trail

    /// Every sign-in, view, export and action is an audit event (kinds `web-…`), with the client.
    func audit(_ kind: AuditKind, _ identity: String, client: String, line: String = "", decision: AuditDecision = .none, reason: String = "",
               session: String? = nil, grant: Int64? = nil) {
        var data = ["client": JSONText.string(client)]
        if let session { data["session"] = .string(session) }
        if let grant { data["grant"] = .int(Int(grant)) }
        try? AuditTrail(store: store, identity: identity, host: host.name)
            .record(kind, line: line, decision: decision, reason: reason, data: JSONText.object(data).text)
    }

    /// Brings the full-text index up to date, one indexer at a time (two would index the same
    /// chunks twice): the background one skips a round while a search indexes, a search waits
    /// for the background one and then indexes what is left, so it finds everything recorded.
    func index(wait: Bool) {
        if wait { indexing.lock() } else { guard indexing.try() else { return } }
        defer { indexing.unlock() }
        _ = try? store.indexRecordings(batch: 200, transactionMicroseconds: 50_000)
    }

    func grantService() throws -> GrantService {
        GrantService(store: store, policy: try policy.current(), host: host, zones: SystemZones())
    }
}

/// The sign-in limiter behind a lock (requests arrive on several threads).
final class LimiterBox: @unchecked Sendable {
    private var limiter = SignInLimiter()
    private let lock = NSLock()

    func allows(_ client: String, now: Int64) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return limiter.allows(client, now: now)
    }

    func failed(_ client: String, now: Int64) {
        lock.lock()
        defer { lock.unlock() }
        limiter.failed(client, now: now)
    }
}

extension Response {
    static func html(_ body: HTML, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body.text)))
    }
}
