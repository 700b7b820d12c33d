import Policy
import Store

/// Whether a session may start on a fleet host beyond its grant: the spool has room (free
/// space on its disk, `spool_quota:`), the grant view is current or the role accepts a cached one (`offline:`),
/// and under `recording: strict` the central store is reachable and shipping keeps up.
public enum FleetAdmission {
    /// Free space a session needs on the spool's disk to start: its start, a few chunks and its
    /// end. Below it SQLite may still take a small start now and then, and the session would
    /// run only to fail at its first chunk; refused, it says so in one line before anything runs.
    public static let spoolRoom: Int64 = 1 << 20

    /// nil when the session may start; otherwise the one line that says why not (the caller
    /// prints it and records it as the session's refusal). `now` in microseconds.
    public static func refusal(_ config: HostConfiguration, spool: SQLiteStore, role: CompiledRole, grant: Grant, now: Int64) -> String? {
        guard config.isFleet else { return nil }
        do {
            if let free = spool.freeBytes(), free < spoolRoom {
                return "the disk holding the spool \(config.spoolPath) is full (\(ByteSize.describe(Int(free))) free, a session needs "
                    + "\(ByteSize.describe(Int(spoolRoom)))), so nothing more can be recorded here; what it holds is kept and ships "
                    + "once an admin frees space there"
            }
            let queued = try spool.queuedBytes()
            if queued > config.spoolQuota {
                return "the spool \(config.spoolPath) holds \(ByteSize.describe(Int(queued))) not yet shipped, past its spool_quota of "
                    + "\(ByteSize.describe(Int(config.spoolQuota))), so nothing more can be recorded here (an admin sees why with: jitsh sync --status)"
            }
            let refreshed = try spool.viewRefreshed()
            if FleetDurability.recordingMode(role) == .strict {
                let lag = try spool.spoolStatus().waited(now: now)
                if let why = FleetDurability.strict(viewRefreshed: refreshed, now: now, lag: lag) { return why }
            }
            if case .deny(let why) = FleetDurability.offline(viewRefreshed: refreshed, now: now, rule: FleetDurability.offlineRule(role),
                                                             grantEnd: grant.endsAt) {
                return why
            }
            return nil
        } catch {
            return "\(error)"
        }
    }
}
