import Crypto
import Policy
import PostgresStore
import Store

/// What `jitsh serve` reads on a fleet host: every host's grants, sessions, recordings and audit
/// events in the central store, while sign-in links and browser sessions stay in this host's
/// spool. They are the web app's own state, changed in place (a link used, a session ended),
/// which no host's role may do in the central store's append-only tables; and a link issued here
/// (`jitsh review login`) is redeemed here.
public final class FleetWebStore: WebReviewStore, @unchecked Sendable {
    let central: any ReviewStore & Store
    let spool: SQLiteStore

    public init(central: any ReviewStore & Store, spool: SQLiteStore) {
        self.central = central
        self.spool = spool
    }

    public var location: String { central.location }
    public func integrity() throws -> [String] { try central.integrity() }

    // MARK: The spool's: sign-in

    public func issueSignInToken(for who: ReviewIdentity, now: Int64, lifetime: Int64) throws -> String {
        try spool.issueSignInToken(for: who, now: now, lifetime: lifetime)
    }

    public func redeemSignInToken(_ token: String, now: Int64, sessionLifetime: Int64) throws -> Result<(cookie: String, who: ReviewIdentity), SignInRefusal> {
        try spool.redeemSignInToken(token, now: now, sessionLifetime: sessionLifetime)
    }

    public func browserSession(_ cookie: String, now: Int64) throws -> ReviewIdentity? { try spool.browserSession(cookie, now: now) }
    public func endBrowserSession(_ cookie: String, now: Int64) throws { try spool.endBrowserSession(cookie, now: now) }

    // MARK: The central store's: everything reviewed or decided

    public func insertGrant(_ grant: Grant, notifications: [Notification]) throws -> Grant { try central.insertGrant(grant, notifications: notifications) }
    public func changeGrant(_ id: Int64, _ change: (Grant) throws -> (events: [GrantEvent], notifications: [Notification])) throws -> Grant {
        try central.changeGrant(id, change)
    }
    public func grant(_ id: Int64) throws -> Grant? { try central.grant(id) }
    public func grants(identity: String?) throws -> [Grant] { try central.grants(identity: identity) }
    public func sessionLock(_ id: String) throws -> SessionLock? { try central.sessionLock(id) }
    public func lockSession(_ lock: SessionLock) throws { try central.lockSession(lock) }
    public func addLock(_ lock: Lock) throws -> Lock { try central.addLock(lock) }
    public func removeLock(_ id: Int64, _ removal: Lock.Removal) throws -> Lock? { try central.removeLock(id, removal) }
    public func locks(holdingAt now: Int64?) throws -> [Lock] { try central.locks(holdingAt: now) }

    public func dueNotifications(now: Int64, limit: Int) throws -> [OutboxItem] { try central.dueNotifications(now: now, limit: limit) }
    public func markDelivered(_ id: Int64, at: Int64) throws { try central.markDelivered(id, at: at) }
    public func markFailed(_ id: Int64, error: String, retryAt: Int64) throws { try central.markFailed(id, error: error, retryAt: retryAt) }

    public func appendAudit(_ events: [AuditEvent]) throws { try central.appendAudit(events) }
    public func appendAudit(_ events: [AuditEvent], alert: Notification?) throws { try central.appendAudit(events, alert: alert) }
    public func auditEvents(session id: String) throws -> [AuditEvent] { try central.auditEvents(session: id) }
    public func recentLines(identity: String, limit: Int) throws -> [String] { try central.recentLines(identity: identity, limit: limit) }
    public func countAudit(kind: AuditKind, identity: String, since: Int64) throws -> Int { try central.countAudit(kind: kind, identity: identity, since: since) }
    public func oldestAudit(kind: AuditKind, identity: String, since: Int64) throws -> Int64? { try central.oldestAudit(kind: kind, identity: identity, since: since) }
    public func auditExists(kind: AuditKind, reason: String) throws -> Bool { try central.auditExists(kind: kind, reason: reason) }

    public func startSession(_ s: SessionRecord, event: AuditEvent) throws { try central.startSession(s, event: event) }
    public func appendChunk(_ c: Chunk) throws { try central.appendChunk(c) }
    public func endSession(_ e: SessionEnd, event: AuditEvent) throws { try central.endSession(e, event: event) }
    public func session(_ id: String) throws -> SessionRecord? { try central.session(id) }
    public func sessionEnd(_ id: String) throws -> SessionEnd? { try central.sessionEnd(id) }
    public func chunks(session id: String, after seq: Int64, limit: Int) throws -> [Chunk] { try central.chunks(session: id, after: seq, limit: limit) }

    public func indexRecordings(batch: Int, transactionMicroseconds: Int64) throws -> Int {
        try central.indexRecordings(batch: batch, transactionMicroseconds: transactionMicroseconds)
    }
    public func searchRecordings(_ text: String, limit: Int, newestFirst: Bool) throws -> [TextHit] {
        try central.searchRecordings(text, limit: limit, newestFirst: newestFirst)
    }

    public func sessionSummaries(_ f: SessionFilter) throws -> [SessionSummary] { try central.sessionSummaries(f) }
    public func sessionIDs(matching prefix: String) throws -> [String] { try central.sessionIDs(matching: prefix) }
    public func allSessionIDs(host: String?) throws -> [String] { try central.allSessionIDs(host: host) }
    public func auditEvents(matching q: AuditQuery, limit: Int) throws -> [AuditEvent] { try central.auditEvents(matching: q, limit: limit) }
    public func auditEvents(after id: Int64, limit: Int) throws -> [AuditEvent] { try central.auditEvents(after: id, limit: limit) }
    public func lastAuditID() throws -> Int64 { try central.lastAuditID() }
    public func sessions(_ ids: [String]) throws -> [String: SessionRecord] { try central.sessions(ids) }
    public func decidedLines(since: Int64) throws -> [DecidedLine] { try central.decidedLines(since: since) }
    public func verify(_ id: String, key: Curve25519.Signing.PublicKey) throws -> Verification { try central.verify(id, key: key) }
}
