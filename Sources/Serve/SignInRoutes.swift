import Foundation
import Hummingbird
import Policy
import Session
import Store

/// Sign-in without a password database: `jitsh review login` (locally or over ssh) prints a
/// link with a one-time token bound to the person, valid two minutes; opening it here takes the
/// token and sets a browser-session cookie (HttpOnly, SameSite=Strict, Secure under TLS).
extension WebApp {
    func signInRoutes(_ router: Router<WebContext>) {
        router.get("/login") { request, context in try self.signIn(request, client: context.client) }
        router.post("/logout") { request, context in try await self.signOut(request, client: context.client) }
    }

    func signIn(_ request: Request, client: String) throws -> Response {
        let query = FormData.parse(request.uri.query ?? "")
        let now = Clock.now
        guard limiter.allows(client, now: now) else {
            audit(.webSignIn, "-", client: client, decision: .deny, reason: "too many sign-in attempts from this address")
            return Page.signInNeeded("Too many sign-in attempts from your address; wait a minute.", status: .tooManyRequests)
        }
        guard let token = query["token"], (20...100).contains(token.count), token.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            limiter.failed(client, now: now)
            audit(.webSignIn, "-", client: client, decision: .deny, reason: "no or malformed token")
            return Page.signInNeeded("This sign-in link is not valid.")
        }
        switch try store.redeemSignInToken(token, now: now, sessionLifetime: sessionLifetime * Duration.second) {
        case .failure(let why):
            limiter.failed(client, now: now)
            audit(.webSignIn, "-", client: client, decision: .deny, reason: "token \(why.rawValue)")
            let text = why == .expired ? "This sign-in link has expired (links are valid for two minutes)."
                : why == .used ? "This sign-in link was already used (each link works once)." : "This sign-in link is not valid."
            return Page.signInNeeded(text)
        case .success(let (cookie, who)):
            audit(.webSignIn, who.identity, client: client, decision: .allow, reason: "one-time link taken")
            var attributes = "\(Self.cookieName)=\(cookie); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(sessionLifetime)"
            if secure { attributes += "; Secure" }
            return Page.redirect(Self.localPath(query["next"]) ?? "/", cookie: attributes)
        }
    }

    func signOut(_ request: Request, client: String) async throws -> Response {
        guard let viewer = try viewer(request) else { return Page.signInNeeded() }
        guard try await form(request, viewer) != nil else { return Page.error(status: .forbidden, "the form is stale; reload the page", viewer: viewer) }
        try store.endBrowserSession(viewer.cookie, now: Clock.now)
        audit(.webSignOut, viewer.identity, client: client, decision: .allow)
        return Page.redirect("/", cookie: "\(Self.cookieName)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\(secure ? "; Secure" : "")")
    }

    /// Only a path on this site: `next=//evil.example` or a scheme would send the browser away.
    static func localPath(_ next: String?) -> String? {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"),
              next.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "\u{7F}" && ($0.asciiValue ?? 0) >= 0x20 }) else { return nil }
        return next
    }
}
