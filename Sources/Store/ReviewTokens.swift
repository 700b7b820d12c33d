import Crypto
import Foundation
import GRDB
import Policy

/// Who a browser session belongs to, as `jitsh review login` established it: the identity,
/// whether it was root, and the Unix groups of the account (the policy's groups are read again
/// at every request, so a change to `people` applies at once).
public struct ReviewIdentity: Sendable, Equatable {
    public var identity: String
    public var isRoot: Bool
    public var unixGroups: Set<String>

    public init(identity: String, isRoot: Bool, unixGroups: Set<String>) {
        self.identity = identity
        self.isRoot = isRoot
        self.unixGroups = unixGroups
    }
}

/// Why a sign-in token was not taken, for the audit log (the browser is told only "not valid").
public enum SignInRefusal: String, Sendable, Error, Equatable {
    case unknown, used, expired
}

/// Tokens in clear exist only in the URL printed to the person and in their browser's cookie;
/// the store keeps SHA-256 hashes. A sign-in token is taken once, atomically.
public enum ReviewToken {
    public static let signInLifetime: Int64 = 120 * Duration.second

    /// 32 random bytes, base64url without padding.
    public static func random() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func hash(_ token: String) -> Data { Data(SHA256.hash(data: Data(token.utf8))) }

    /// Something that cannot be derived without the cookie: the CSRF token of that browser session.
    public static func csrf(for cookie: String) -> String {
        Data(SHA256.hash(data: Data("jitsh-csrf:\(cookie)".utf8))).prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}

extension SQLiteStore {
    /// A one-time sign-in token for `who`, valid `lifetime` from `now` (microseconds, as every time).
    public func issueSignInToken(for who: ReviewIdentity, now: Int64, lifetime: Int64 = ReviewToken.signInLifetime) throws -> String {
        let token = ReviewToken.random()
        try database.write { db in
            try db.execute(sql: "DELETE FROM review_tokens WHERE expires_at < ?", arguments: [now - 86_400 * Duration.second])
            try db.execute(sql: """
                INSERT INTO review_tokens (hash, kind, identity, is_root, unix_groups, issued_at, expires_at)
                VALUES (?, 'sign-in', ?, ?, ?, ?, ?)
                """, arguments: [ReviewToken.hash(token), who.identity, who.isRoot, who.unixGroups.sorted().joined(separator: ","),
                                 now, now + lifetime])
        }
        return token
    }

    /// Takes a sign-in token (once: a second use finds it used) and opens a browser session of
    /// `sessionLifetime`; returns the session's cookie value and who it is.
    public func redeemSignInToken(_ token: String, now: Int64, sessionLifetime: Int64) throws -> Result<(cookie: String, who: ReviewIdentity), SignInRefusal> {
        let cookie = ReviewToken.random()
        return try database.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM review_tokens WHERE hash = ? AND kind = 'sign-in'",
                                             arguments: [ReviewToken.hash(token)]) else { return .failure(.unknown) }
            if (row["used_at"] as Int64?) != nil { return .failure(.used) }
            if (row["expires_at"] as Int64) <= now { return .failure(.expired) }
            // The WHERE makes the use atomic even against another writer between read and update.
            try db.execute(sql: "UPDATE review_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL",
                           arguments: [now, ReviewToken.hash(token)])
            guard db.changesCount == 1 else { return .failure(.used) }
            let who = Self.reviewIdentity(row)
            try db.execute(sql: """
                INSERT INTO review_tokens (hash, kind, identity, is_root, unix_groups, issued_at, expires_at)
                VALUES (?, 'browser', ?, ?, ?, ?, ?)
                """, arguments: [ReviewToken.hash(cookie), who.identity, who.isRoot, row["unix_groups"] as String, now, now + sessionLifetime])
            return .success((cookie, who))
        }
    }

    /// The person of a live browser session, or nil (unknown, ended or expired).
    public func browserSession(_ cookie: String, now: Int64) throws -> ReviewIdentity? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM review_tokens WHERE hash = ? AND kind = 'browser' AND used_at IS NULL AND expires_at > ?",
                             arguments: [ReviewToken.hash(cookie), now]).map(Self.reviewIdentity)
        }
    }

    /// Signs a browser session out: its cookie no longer works, even if kept.
    public func endBrowserSession(_ cookie: String, now: Int64) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE review_tokens SET used_at = ? WHERE hash = ? AND kind = 'browser'", arguments: [now, ReviewToken.hash(cookie)])
        }
    }

    static func reviewIdentity(_ row: Row) -> ReviewIdentity {
        let groups = (row["unix_groups"] as String).split(separator: ",").map(String.init)
        return ReviewIdentity(identity: row["identity"], isRoot: row["is_root"], unixGroups: Set(groups))
    }
}
