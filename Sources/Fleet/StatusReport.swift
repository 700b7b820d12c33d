import Foundation
import Policy
import Store

/// `jitsh sync --status`: the spool's state as a person reads it, and as JSON for monitoring.
public struct StatusReport: Sendable, Encodable, Equatable {
    public var spool: String
    public var central: String
    public var lagSeconds: Double
    public var queuedBytes: Int64
    public var queuedSessions: Int
    /// ISO 8601, UTC; nil when nothing waits.
    public var oldestUnshipped: String?
    public var quarantinedSessions: Int
    public var lastShipped: String?
    public var lastError: String?
    /// Seconds since the grant and lock view was refreshed; nil: never.
    public var viewAgeSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case spool, central, lagSeconds = "lag_seconds", queuedBytes = "queued_bytes", queuedSessions = "queued_sessions"
        case oldestUnshipped = "oldest_unshipped", quarantinedSessions = "quarantined_sessions", lastShipped = "last_shipped"
        case lastError = "last_error", viewAgeSeconds = "view_age_seconds"
    }

    public init(_ s: SpoolStatus, config: HostConfiguration, now: Int64) {
        spool = config.spoolPath
        central = config.store.description
        lagSeconds = (s.lag(now: now) * 10).rounded() / 10
        queuedBytes = s.queuedBytes
        queuedSessions = s.queuedSessions
        oldestUnshipped = s.oldestUnshipped.map(Self.iso)
        quarantinedSessions = s.quarantined
        lastShipped = s.lastShipped.map(Self.iso)
        lastError = s.lastError
        viewAgeSeconds = s.viewRefreshed.map { (Double(max(0, now - $0)) / 100_000).rounded() / 10 }
    }

    static func iso(_ micros: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: Double(micros) / 1_000_000))
    }

    public var lines: [String] {
        [
            "spool \(spool) → \(central)",
            "lag \(String(format: "%.1f", lagSeconds)) s, \(ByteSize.describe(Int(queuedBytes))) queued in \(queuedSessions) session\(queuedSessions == 1 ? "" : "s")"
                + (oldestUnshipped.map { ", oldest unshipped \($0)" } ?? ""),
            "quarantined sessions: \(quarantinedSessions)" + (quarantinedSessions > 0 ? " (see: jitsh audit search kind=ship-quarantined)" : ""),
            "last shipped: \(lastShipped ?? "never")",
            "grant and lock view: " + (viewAgeSeconds.map { "\(String(format: "%.1f", $0)) s old" } ?? "never refreshed"),
            "last error: \(lastError ?? "none")",
        ]
    }
}
