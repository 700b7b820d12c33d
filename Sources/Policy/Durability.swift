/// Fleet mode, per role (DESIGN.md, "Fleet mode"): what a session may do while this host's view
/// of the central grants and locks is stale (`offline:`), and whether its recording may wait in
/// the spool (`recording:`). Pure: the view's age, the role's settings and the grant's end in,
/// a decision out; the session start and the watchdog ask it.

/// `offline: deny` or `offline: {cached: 10m}`.
public enum OfflineRule: Sendable, Equatable, CustomStringConvertible {
    case deny
    /// The last view this host saw serves for this many seconds, never past the grant's end.
    case cached(seconds: Int64)

    public var description: String {
        switch self {
        case .deny: return "offline: deny"
        case .cached(let s): return "offline: {cached: \(Duration.describe(Int(s)))}"
        }
    }
}

/// `recording: buffered` (shipped when the central store is back) or `strict` (a session needs
/// the central store reachable, and ends when shipping falls behind).
public enum RecordingMode: String, Sendable, Equatable {
    case buffered, strict
}

public enum FleetDurability {
    /// A view refreshed this recently is the central store's own: the sync polls every 2 s and
    /// is told of changes at once.
    public static let freshView: Int64 = 15 * Duration.second
    /// How far shipping may fall behind, and how old the view may be, under `strict`.
    public static let strictLag: Int64 = 5 * Duration.second

    public enum Verdict: Sendable, Equatable {
        /// The view is current: decide on the grant as on a lone host.
        case online
        /// The view is stale but the role allows it, until this time.
        case cached(until: Int64)
        /// Refused, with the one line that says why.
        case deny(String)
    }

    /// The role's rule, or the default: a role that can change things (writes, or a file system
    /// that is not read-only) is denied offline; a read-only role keeps a 10 minute cached view.
    public static func offlineRule(_ role: CompiledRole) -> OfflineRule {
        if let own = role.role.offline { return own }
        let readOnly = role.role.filesystem.map { $0.readOnly && $0.writable.isEmpty } ?? false
        return readOnly && role.writes.isEmpty ? .cached(seconds: 600) : .deny
    }

    public static func recordingMode(_ role: CompiledRole) -> RecordingMode { role.role.recording ?? .buffered }

    /// Whether a grant ending at `grantEnd` may be used now, when the view was last refreshed at
    /// `viewRefreshed` (nil: never). All times in microseconds.
    public static func offline(viewRefreshed: Int64?, now: Int64, rule: OfflineRule, grantEnd: Int64) -> Verdict {
        guard let refreshed = viewRefreshed else {
            return .deny("this host has not reached the central store yet (is jitsh sync running?), so its grants cannot be trusted")
        }
        let age = max(0, now - refreshed)
        if age <= freshView { return .online }
        switch rule {
        case .deny:
            return .deny("the central store has not been reached for \(Duration.describe(microseconds: age)) and this role says offline: deny")
        case .cached(let seconds):
            let allowed = seconds * Duration.second
            let until = min(refreshed + allowed, grantEnd)
            if now >= grantEnd { return .deny("the grant has ended") }
            if now >= until {
                return .deny("the central store has not been reached for \(Duration.describe(microseconds: age)), past this role's cached view of \(Duration.describe(Int(seconds)))")
            }
            return .cached(until: until)
        }
    }

    /// Under `recording: strict`, the reason a session may not start or go on; nil when it may.
    /// `lag` is how long the oldest unshipped row has waited.
    public static func strict(viewRefreshed: Int64?, now: Int64, lag: Int64) -> String? {
        guard let refreshed = viewRefreshed, now - refreshed <= strictLag else {
            return "this role records strictly and the central store is not reachable now"
        }
        if lag > strictLag { return "this role records strictly and shipping to the central store is \(Duration.describe(microseconds: lag)) behind" }
        return nil
    }
}
