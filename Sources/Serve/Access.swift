import Foundation
import Policy
import Store

/// The person behind a request: who signed in, with the policy's groups read now, and what
/// they may do here. The same questions as the CLI's (`ReviewAccess`, `GrantService`).
public struct Viewer: Sendable {
    public var requester: Requester
    /// The browser session's cookie value: it proves the session and derives the CSRF token.
    var cookie: String
    public var mayReview: Bool
    public var mayApprove: Bool

    init(_ who: ReviewIdentity, cookie: String, policy: Policy) {
        let groups = Set(policy.global.people[who.identity] ?? []).union(who.unixGroups)
        requester = Requester(identity: who.identity, groups: groups, isRoot: who.isRoot)
        self.cookie = cookie
        mayReview = ReviewAccess.mayReview(requester)
        mayApprove = ReviewAccess.mayApprove(requester, policy: policy)
    }

    var identity: String { requester.identity }
    var csrf: String { ReviewToken.csrf(for: cookie) }
}

/// Failed sign-ins per client address: after a few a minute, every attempt from there is
/// refused until the minute has passed (a 256-bit token cannot be guessed anyway; this keeps
/// the audit log and the store quiet). Pure: time comes in.
struct SignInLimiter: Sendable {
    var perWindow: Int
    var window: Int64
    private var failures: [String: [Int64]] = [:]

    init(perWindow: Int = 10, window: Int64 = 60 * Duration.second) {
        self.perWindow = perWindow
        self.window = window
    }

    func allows(_ client: String, now: Int64) -> Bool {
        (failures[client] ?? []).filter { $0 > now - window }.count < perWindow
    }

    mutating func failed(_ client: String, now: Int64) {
        if failures.count > 10_000 { failures = failures.filter { $0.value.last.map { $0 > now - window } ?? false } }
        failures[client] = (failures[client] ?? []).filter { $0 > now - window } + [now]
    }
}

/// Policy read again when it is older than a few seconds: an edit to `people` or a contract
/// applies to signed-in browsers as it does to the next CLI command.
final class PolicySource: @unchecked Sendable {
    private let load: @Sendable () throws -> Policy
    private let lock = NSLock()
    private var cached: (policy: Policy, at: Date)?
    private let maxAge: TimeInterval

    init(maxAge: TimeInterval = 5, load: @escaping @Sendable () throws -> Policy) {
        self.load = load
        self.maxAge = maxAge
    }

    func current() throws -> Policy {
        lock.lock()
        defer { lock.unlock() }
        if let c = cached, Date().timeIntervalSince(c.at) < maxAge { return c.policy }
        // A policy that stops loading fails closed for every request, as it does for sessions.
        let p = try load()
        cached = (p, Date())
        return p
    }
}
