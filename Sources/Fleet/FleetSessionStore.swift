import Foundation
import Policy
import Store

/// A live session's store on a fleet host: the spool, with the role's fleet rules applied each
/// time the session re-reads its grant (before every line, every 2 s during a job). When the
/// grant view goes stale past `offline:`, or a `recording: strict` session's shipping falls
/// behind, the read fails with the reason, and the watchdog ends the session with it (fail closed).
public final class FleetSessionStore: SessionStore, @unchecked Sendable {
    // Immutable after init; the spool is Sendable.
    let spool: SQLiteStore
    let rule: OfflineRule
    let mode: RecordingMode

    /// The store a session uses: the spool itself on a lone host, this wrapper on a fleet host.
    public static func wrap(_ spool: SQLiteStore, config: HostConfiguration, role: CompiledRole) -> any SessionStore {
        config.isFleet ? FleetSessionStore(spool, rule: FleetDurability.offlineRule(role), mode: FleetDurability.recordingMode(role)) : spool
    }

    init(_ spool: SQLiteStore, rule: OfflineRule, mode: RecordingMode) {
        self.spool = spool
        self.rule = rule
        self.mode = mode
    }

    /// The reason the session may not go on, or nil.
    func stopReason(grantEnd: Int64) throws -> String? {
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let refreshed = try spool.viewRefreshed()
        if mode == .strict {
            let lag = try spool.spoolStatus().waited(now: now)
            if let why = FleetDurability.strict(viewRefreshed: refreshed, now: now, lag: lag) { return why }
        }
        if case .deny(let why) = FleetDurability.offline(viewRefreshed: refreshed, now: now, rule: rule, grantEnd: grantEnd) { return why }
        return nil
    }

    public var location: String { spool.location }

    public func grant(_ id: Int64) throws -> Grant? {
        guard let g = try spool.grant(id) else { return nil }
        if let why = try stopReason(grantEnd: g.endsAt) { throw StoreError(.refused, why) }
        return g
    }

    public func insertGrant(_ grant: Grant, notifications: [StoreNotification]) throws -> Grant { try spool.insertGrant(grant, notifications: notifications) }
    public func changeGrant(_ id: Int64, _ change: (Grant) throws -> (events: [GrantEvent], notifications: [StoreNotification])) throws -> Grant {
        try withoutActuallyEscaping(change) { try spool.changeGrant(id, $0) }
    }
    public func grants(identity: String?) throws -> [Grant] { try spool.grants(identity: identity) }
    public func sessionLock(_ id: String) throws -> SessionLock? { try spool.sessionLock(id) }
    public func lockSession(_ lock: SessionLock) throws { try spool.lockSession(lock) }
    public func addLock(_ lock: Lock) throws -> Lock { try spool.addLock(lock) }
    public func removeLock(_ id: Int64, _ removal: Lock.Removal) throws -> Lock? { try spool.removeLock(id, removal) }
    public func locks(holdingAt now: Int64?) throws -> [Lock] { try spool.locks(holdingAt: now) }

    public func appendAudit(_ events: [AuditEvent]) throws { try spool.appendAudit(events) }
    public func appendAudit(_ events: [AuditEvent], alert: StoreNotification?) throws { try spool.appendAudit(events, alert: alert) }
    public func auditEvents(session id: String) throws -> [AuditEvent] { try spool.auditEvents(session: id) }
    public func recentLines(identity: String, limit: Int) throws -> [String] { try spool.recentLines(identity: identity, limit: limit) }
    public func countAudit(kind: AuditKind, identity: String, since: Int64) throws -> Int { try spool.countAudit(kind: kind, identity: identity, since: since) }
    public func oldestAudit(kind: AuditKind, identity: String, since: Int64) throws -> Int64? { try spool.oldestAudit(kind: kind, identity: identity, since: since) }
    public func auditExists(kind: AuditKind, reason: String) throws -> Bool { try spool.auditExists(kind: kind, reason: reason) }

    public func startSession(_ s: SessionRecord, event: AuditEvent) throws { try spool.startSession(s, event: event) }
    public func appendChunk(_ c: Chunk) throws { try spool.appendChunk(c) }
    public func endSession(_ e: SessionEnd, event: AuditEvent) throws { try spool.endSession(e, event: event) }
    public func session(_ id: String) throws -> SessionRecord? { try spool.session(id) }
    public func sessionEnd(_ id: String) throws -> SessionEnd? { try spool.sessionEnd(id) }
    public func chunks(session id: String, after seq: Int64, limit: Int) throws -> [Chunk] { try spool.chunks(session: id, after: seq, limit: limit) }

    public func appendImages(session id: String, line: Int, at: Int64, changes: [FileChange], contents: [String: [UInt8]]) throws -> (head: [UInt8], count: Int64) {
        try spool.appendImages(session: id, line: line, at: at, changes: changes, contents: contents)
    }
}
