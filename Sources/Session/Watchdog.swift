import Foundation
import Policy
import ShellSyntax
import Store

/// Keeps the grant live all session long: re-read before every line and every 2 s during a
/// job (a local read; on a fleet host the sync keeps the spool's view within a second of the
/// central store, so a revocation or lock anywhere ends a job here within 5 s); warns 5 and 1
/// minute before the end; ends the session at expiry, revocation, or a lock on it, its person,
/// role or host.
struct Watchdog {
    var grant: Grant
    /// The session watched: a lock on it ends it like a revocation.
    var sessionID: String? = nil
    /// Where it runs: a lock on this host ends it.
    var host: String = ""
    var lastCheck: Int64 = 0
    var warned: Set<Int64> = []
    let interval: Int64 = 2 * Duration.second

    enum Outcome: Equatable {
        case fine
        case warn(String)
        case end(EndReason, String)
    }

    /// When (wall clock, microseconds) the store is looked at next: every `interval`, and exactly when the grant ends.
    func nextCheck(now: Int64) -> Int64 {
        var next = lastCheck + interval
        if grant.endsAt > now { next = min(next, grant.endsAt) }
        return max(now, next)
    }

    /// What is left, up to the whole second: a look 59.3 s before the end says "1m", not "59s".
    static func wholeSeconds(_ left: Int64) -> Int64 { (left + Duration.second - 1) / Duration.second * Duration.second }

    mutating func check(_ store: any GrantStore, now: Int64, force: Bool = false) -> Outcome {
        guard force || now >= lastCheck + interval || now >= grant.endsAt else { return .fine }
        lastCheck = now
        do {
            guard let current = try store.grant(grant.id) else {
                return .end(.grantRevoked, "your grant \(grant.id) is gone from the store; the session ends")
            }
            grant = current
            if let sessionID, let lock = try store.sessionLock(sessionID) {
                return .end(.locked, "jitsh: this session was ended by \(Visible.text(lock.actor)): \(Visible.text(lock.reason))")
            }
            if let lock = Lock.covering(try store.locks(holdingAt: now), identity: grant.identity, role: grant.role, host: host, now: now) {
                return .end(.locked, "jitsh: \(Visible.text(lock.target.description)) was locked by \(Visible.text(lock.actor)): \(Visible.text(lock.reason)); the session ends")
            }
        } catch {
            return .end(.error, "the store cannot be read (\(error)); the session ends")
        }
        switch grant.state(at: now) {
        case .active:
            let left = grant.endsAt - now
            for threshold in [60 * Duration.second, 300 * Duration.second] where left <= threshold && !warned.contains(threshold) {
                warned.insert(threshold)
                warned.insert(300 * Duration.second)
                return .warn("jitsh: your grant \(grant.id) ends in \(Duration.describe(microseconds: Self.wholeSeconds(left))); to extend it: grant extend \(grant.id) --by 30m")
            }
            return .fine
        case .revoked:
            let by = grant.events.last { $0.kind == .revoked }.map { " by \($0.actor)\($0.comment.isEmpty ? "" : ": \($0.comment)")" } ?? ""
            return .end(.grantRevoked, "jitsh: your grant \(grant.id) was revoked\(by); the session ends")
        default:
            return .end(.grantExpired, "jitsh: your grant \(grant.id) has ended; the session ends")
        }
    }
}
