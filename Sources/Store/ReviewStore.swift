import Crypto
import Policy

/// What reviewers read: one host's sessions in its SQLite file, every host's in the fleet's
/// PostgreSQL, with the same answers (the conformance suite runs both).
public protocol ReviewStore: GrantStore, AuditLog, RecordingSink, RecordingSearch {
    /// Newest first, as `sessions list` filters them.
    func sessionSummaries(_ f: SessionFilter) throws -> [SessionSummary]
    /// Ids that start with `prefix`, newest first, at most two (enough to tell one from several).
    func sessionIDs(matching prefix: String) throws -> [String]
    /// Every session id, oldest first; with `host`, of the hosts that glob matches.
    func allSessionIDs(host: String?) throws -> [String]
    /// Events matching the expression, oldest first, at most `limit` of the newest.
    func auditEvents(matching q: AuditQuery, limit: Int) throws -> [AuditEvent]
    /// Events after `id` in the order they were stored: `audit tail` and its --follow.
    func auditEvents(after id: Int64, limit: Int) throws -> [AuditEvent]
    func lastAuditID() throws -> Int64
    func sessions(_ ids: [String]) throws -> [String: SessionRecord]
    /// Every line decided (allow, deny, confirm) since `since` (µs), in order.
    func decidedLines(since: Int64) throws -> [DecidedLine]
    /// The hash chain and the signed end. `key` is this host's own; the central store checks a
    /// session of another host with the key that host registered (`jitsh init`).
    func verify(_ id: String, key: Curve25519.Signing.PublicKey) throws -> Verification
}

/// What the browser's review adds (`jitsh serve`): sign-in links and browser sessions, and the
/// grants an approver acts on. SQLite implements it (serve reads this host's store).
public protocol WebReviewStore: ReviewStore, Store {
    func issueSignInToken(for who: ReviewIdentity, now: Int64, lifetime: Int64) throws -> String
    func redeemSignInToken(_ token: String, now: Int64, sessionLifetime: Int64) throws -> Result<(cookie: String, who: ReviewIdentity), SignInRefusal>
    func browserSession(_ cookie: String, now: Int64) throws -> ReviewIdentity?
    func endBrowserSession(_ cookie: String, now: Int64) throws
}

extension SQLiteStore: WebReviewStore {}

/// Who may see what: recordings hold what engineers saw and typed, so only root, `admins` and
/// `auditors` read them; approvers (of any contract) see the request inbox. The CLI and the web
/// app ask the same questions here.
public enum ReviewAccess {
    public static let reviewerGroups: Set<String> = ["admins", "auditors"]

    public static func mayReview(_ r: Requester) -> Bool {
        r.isRoot || !r.groups.isDisjoint(with: reviewerGroups)
    }

    public static func mayApprove(_ r: Requester, policy: Policy) -> Bool {
        r.isAdmin || policy.contracts.contains { $0.mayApprove(identity: r.identity, groups: r.groups) }
    }
}
