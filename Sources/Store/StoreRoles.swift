/// The store by role, as sudo's journal and relay back ends or tlog's writers split theirs: each
/// caller names only the part it uses, so a back end (SQLite on a lone host, PostgreSQL for a
/// fleet, memory in tests) implements the roles and the same conformance tests prove each.
/// Times are Int64 microseconds everywhere in the store, instants since the epoch and lengths
/// alike: grants, their events, locks, the outbox, sessions, chunks and audit events.

/// Grants and the locks that end sessions: every host reads them, approvers change them.
public protocol GrantStore: Sendable {
    /// Where the store is, for messages (a path, or a PostgreSQL location without credentials).
    var location: String { get }
    func insertGrant(_ grant: Grant, notifications: [Notification]) throws -> Grant
    /// Appends events to grant `id` in one transaction, after `change` has seen the grant as it
    /// is at that moment (so two approvers racing are decided one after the other).
    func changeGrant(_ id: Int64, _ change: (Grant) throws -> (events: [GrantEvent], notifications: [Notification])) throws -> Grant
    func grant(_ id: Int64) throws -> Grant?
    func grants(identity: String?) throws -> [Grant]
    /// The lock on a live session, if a reviewer ended it.
    func sessionLock(_ id: String) throws -> SessionLock?
    /// Locks the session; a second lock of the same session keeps the first.
    func lockSession(_ lock: SessionLock) throws
    /// Locks a user, role or host (`jitsh lock`); the lock with its id.
    func addLock(_ lock: Lock) throws -> Lock
    /// Lifts lock `id` (a second removal keeps the first); nil when there is no such lock.
    func removeLock(_ id: Int64, _ removal: Lock.Removal) throws -> Lock?
    /// The locks that hold at `now`, or every lock with its removal (nil); oldest first.
    func locks(holdingAt now: Int64?) throws -> [Lock]
}

/// Webhook notifications committed with the change they announce, delivered later.
public protocol OutboxStore: Sendable {
    func dueNotifications(now: Int64, limit: Int) throws -> [OutboxItem]
    func markDelivered(_ id: Int64, at: Int64) throws
    func markFailed(_ id: Int64, error: String, retryAt: Int64) throws
}

/// Every decision as an event; append-only, so what auditors read is what happened.
public protocol AuditLog: Sendable {
    func appendAudit(_ events: [AuditEvent]) throws
    /// The events and, for those that alert, a notification, in one transaction.
    func appendAudit(_ events: [AuditEvent], alert: Notification?) throws
    /// A session's events, oldest first.
    func auditEvents(session id: String) throws -> [AuditEvent]
    /// The lines `identity` ran most recently, oldest first: the line editor's history.
    func recentLines(identity: String, limit: Int) throws -> [String]
    /// How many events of `kind` `identity` caused since `since` (µs): confirm limits count these.
    func countAudit(kind: AuditKind, identity: String, since: Int64) throws -> Int
    /// The time (µs) of the oldest `kind` event of `identity` since `since`: when a limit frees up.
    func oldestAudit(kind: AuditKind, identity: String, since: Int64) throws -> Int64?
    /// True when an event of `kind` with this exact `reason` exists (a confirm token already used).
    func auditExists(kind: AuditKind, reason: String) throws -> Bool
}

/// Where a recording goes as it happens: the session, its chunks (keyed by session and
/// sequence, so a chunk sent twice is stored once) and its signed end.
public protocol RecordingSink: Sendable {
    var location: String { get }
    func startSession(_ s: SessionRecord, event: AuditEvent) throws
    func appendChunk(_ c: Chunk) throws
    func endSession(_ e: SessionEnd, event: AuditEvent) throws
    func session(_ id: String) throws -> SessionRecord?
    func sessionEnd(_ id: String) throws -> SessionEnd?
    /// At most `limit` chunks past `after` (all with a negative limit), in order.
    func chunks(session id: String, after seq: Int64, limit: Int) throws -> [Chunk]
}

extension RecordingSink {
    /// The session's chunks in order; with `after`, only those past that sequence number.
    public func chunks(session id: String, after seq: Int64 = -1) throws -> [Chunk] {
        try chunks(session: id, after: seq, limit: -1)
    }
}

/// A chunk sent again with other content than the one stored under its sequence number: a
/// replay is harmless, a different chunk at a taken place is refused.
public struct ChunkConflict: Sendable {
    public var sessionID: String
    public var seq: Int64

    public init(sessionID: String, seq: Int64) {
        self.sessionID = sessionID
        self.seq = seq
    }

    public var error: StoreError {
        StoreError(.conflict, "the store refused a change: chunk \(seq) of session \(sessionID) is stored with other content")
    }
}

/// Full text over recordings: each back end indexes with its own engine (SQLite's FTS5,
/// PostgreSQL's text search) and answers the same `TextQuery`.
public protocol RecordingSearch: Sendable {
    /// Indexes what was recorded since the last call; returns how many chunks it looked at.
    @discardableResult func indexRecordings(batch: Int, transactionMicroseconds: Int64) throws -> Int
    /// Words, prefix*, "phrases", AND/OR/NOT; throws `FullTextQuery.SyntaxError` for text it cannot read.
    func searchRecordings(_ text: String, limit: Int, newestFirst: Bool) throws -> [TextHit]
}

extension RecordingSearch {
    /// Indexes what waits, in batches of 200, each transaction within 50 ms.
    @discardableResult public func indexRecordings() throws -> Int { try indexRecordings(batch: 200, transactionMicroseconds: 50_000) }

    public func searchRecordings(_ text: String, limit: Int) throws -> [TextHit] {
        try searchRecordings(text, limit: limit, newestFirst: false)
    }
}

/// The images of watched files a line changed (`snapshot:` in a role).
public protocol SnapshotImageStore: Sendable {
    /// Appends one line's changes and the contents they name, in one transaction; returns the
    /// chain's head and length after them.
    func appendImages(session id: String, line: Int, at: Int64, changes: [FileChange],
                      contents: [String: [UInt8]]) throws -> (head: [UInt8], count: Int64)
}

/// Everything a running session touches: its grant and locks, its audit trail, its recording,
/// the images of watched files.
public typealias SessionStore = GrantStore & AuditLog & RecordingSink & SnapshotImageStore

/// A line decided in a session, as `policy whatif` re-decides it; `at` in microseconds.
public struct DecidedLine: Sendable, Equatable {
    public var line: String
    public var role: String
    public var host: String
    public var at: Int64
    public var cwd: String?

    public init(line: String, role: String, host: String, at: Int64, cwd: String?) {
        (self.line, self.role, self.host, self.at, self.cwd) = (line, role, host, at, cwd)
    }
}
