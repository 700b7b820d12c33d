/// Fleet mode's shipping, as sudo_logsrvd relays a journal: a fleet host's spool (its local
/// SQLite, where sessions commit first) sends each session's rows to the central store in
/// order, and remembers per session how far the central store has them (its commit point).

/// One step of one session's shipping: what the central store does not have yet, in order. A
/// shipment sent twice (the shipper killed after the central commit, before the spool's) is
/// stored once: rows are keyed by host, session and sequence (events by host and spool id).
public struct Shipment: Sendable, Equatable {
    /// The host whose spool this is; the central store refuses rows of a session another host holds.
    public var host: String
    /// nil: the host's events of no session (refusals before a session started).
    public var sessionID: String?
    /// The session's row, until the central store has it.
    public var session: SessionRecord?
    public var chunks: [Chunk]
    /// Events with their spool ids (`AuditEvent.id`), the key that makes a resend harmless.
    public var events: [AuditEvent]
    /// Images of watched files (`snapshot:`), in order, with the contents they name (a content
    /// named again later is sent again and stored once).
    public var images: [SnapshotImage] = []
    public var contents: [SnapshotContent] = []
    /// The signed end, once every chunk and image before it is in this shipment or shipped.
    public var end: SessionEnd?

    public init(host: String, sessionID: String?, session: SessionRecord? = nil, chunks: [Chunk] = [], events: [AuditEvent] = [],
                end: SessionEnd? = nil) {
        self.host = host
        self.sessionID = sessionID
        self.session = session
        self.chunks = chunks
        self.events = events
        self.end = end
    }

    public var isEmpty: Bool { session == nil && chunks.isEmpty && events.isEmpty && images.isEmpty && end == nil }

    public var bytes: Int64 { chunks.reduce(0) { $0 + Int64($1.data.count) } + contents.reduce(0) { $0 + Int64($1.deflated.count) } }
}

/// The central store's side: takes a shipment whole (one transaction) or not at all.
public protocol ShipmentSink: Sendable {
    var location: String { get }
    /// Throws `.conflict` when a row is there with other content (a session of another host, a
    /// chunk that differs): that session cannot be shipped. Other failures are the link's.
    func receive(_ shipment: Shipment) throws
}

/// How far the central store has one session (sudo_logsrvd's commit_point): kept in the
/// spool, advanced only after the central store committed, so a crash in between resends.
public struct CommitPoint: Sendable, Equatable {
    /// "" for the events of no session.
    public var sessionID: String
    public var started = false
    /// The last chunk shipped; -1 before the first.
    public var chunkSeq: Int64 = -1
    /// The hash of that chunk (the genesis before it): the next one must follow it.
    public var chainHead: [UInt8]
    /// The last audit event (spool id) shipped.
    public var auditID: Int64 = 0
    /// The last snapshot image shipped (-1 before the first) and its hash (the genesis before it).
    public var imageSeq: Int64 = -1
    public var imageHead: [UInt8]?
    public var ended = false
    /// Why the session is held back (a row that cannot be shipped); nil when it ships.
    public var quarantined: String?

    public init(sessionID: String, chainHead: [UInt8]) {
        self.sessionID = sessionID
        self.chainHead = chainHead
    }
}

/// What `jitsh sync --status` and the metrics report of a spool.
public struct SpoolStatus: Sendable, Equatable {
    /// Chunk bytes not shipped yet (quarantined sessions' included: they take room too).
    public var queuedBytes: Int64 = 0
    public var queuedSessions = 0
    /// The time (µs) of the oldest row not shipped; nil when everything is.
    public var oldestUnshipped: Int64?
    public var quarantined = 0
    /// When a pass last reached the central store (µs), and the last failure, if it is newer.
    public var lastShipped: Int64?
    public var lastError: String?
    /// When the grant and lock view was last refreshed from the central store (µs).
    public var viewRefreshed: Int64?

    public init() {}

    /// How long the oldest unshipped row has waited (µs, as `now`).
    public func waited(now: Int64) -> Int64 {
        oldestUnshipped.map { max(0, now - $0) } ?? 0
    }

    /// The same in seconds, for people and metrics (Prometheus counts seconds).
    public func lag(now: Int64) -> Double { Double(waited(now: now)) / 1_000_000 }
}
