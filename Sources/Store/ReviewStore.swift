import Crypto
import Policy

/// What the review surfaces (the CLI's `sessions`, `jitsh serve`) read and write, by role:
/// SQLite implements it today; the fleet's server database is meant to implement the same.
public protocol ReviewStore: Store, AuditLog, RecordingSink, RecordingSearch {
    func sessionSummaries(_ f: SessionFilter) throws -> [SessionSummary]
    func sessionIDs(matching prefix: String) throws -> [String]
    func sessions(_ ids: [String]) throws -> [String: SessionRecord]
    func verify(_ id: String, key: Curve25519.Signing.PublicKey) throws -> Verification
    func issueSignInToken(for who: ReviewIdentity, now: Int64, lifetime: Int64) throws -> String
    func redeemSignInToken(_ token: String, now: Int64, sessionLifetime: Int64) throws -> Result<(cookie: String, who: ReviewIdentity), SignInRefusal>
    func browserSession(_ cookie: String, now: Int64) throws -> ReviewIdentity?
    func endBrowserSession(_ cookie: String, now: Int64) throws
}

extension SQLiteStore: ReviewStore {}

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
