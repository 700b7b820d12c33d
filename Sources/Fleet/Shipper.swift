import Foundation
import Store

/// What one shipping pass did.
public struct ShipReport: Sendable, Equatable {
    public var shipments = 0
    public var chunks = 0
    public var events = 0
    public var bytes: Int64 = 0
    /// Sessions whose signed end reached the central store in this pass.
    public var ended = 0
    /// Sessions held back in this pass, with why.
    public var quarantined: [String] = []
    /// Shipped recordings past spool_retention removed from the spool (tombstones left).
    public var pruned = 0
    /// Sessions whose end the spool's full disk refused, taken from their end notes in this pass.
    public var adoptedEnds: [String] = []
    /// Killed sessions' empty end-note rooms removed in this pass.
    public var sweptRooms = 0
    /// The pass stopped at its time budget with sessions left: the next one starts after `last`.
    public var more = false
    /// The last session this pass went through.
    public var last: String?

    public init() {}

    /// What two passes did together (`more` and `last` are the later one's).
    public mutating func merge(_ r: ShipReport) {
        shipments += r.shipments
        chunks += r.chunks
        events += r.events
        bytes += r.bytes
        ended += r.ended
        quarantined += r.quarantined
        pruned += r.pruned
        adoptedEnds += r.adoptedEnds
        sweptRooms += r.sweptRooms
        more = r.more
        last = r.last
    }

    mutating func add(_ s: Shipment) {
        shipments += 1
        chunks += s.chunks.count
        events += s.events.count
        bytes += s.bytes
        if s.end != nil { ended += 1 }
    }
}

/// Ships a fleet host's spool to the central store: each session in order (its row, chunks,
/// events, end), each shipment one central transaction, the commit point advanced in the spool
/// only after it. A session whose rows cannot be shipped is quarantined and the rest go on; a
/// failure of the link itself ends the pass (the next one resumes at the commit points).
public struct Shipper: Sendable {
    public let spool: SQLiteStore
    public let central: any ShipmentSink
    public let host: String
    public var maxBytes = 4 << 20
    /// Shipments per session per pass: a session recording fast does not hold up the others.
    public var perSession = 64

    public init(spool: SQLiteStore, central: any ShipmentSink, host: String) {
        self.spool = spool
        self.central = central
        self.host = host
    }

    /// One pass over the sessions with something to ship, starting after `cursor` and wrapping
    /// round, so that a pass cut short by `budget` (µs) leaves no session behind for long. The
    /// budget lets the sync refresh the grant and lock view between passes however much is
    /// queued: a revocation must not wait behind 200 sessions' worth of recordings.
    public func pass(now: () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1_000_000) }, budget: Int64? = nil,
                     after cursor: String? = nil) throws -> ShipReport {
        var report = ShipReport()
        let deadline = budget.map { now() + $0 }
        report.sweptRooms = EndNote.sweep(store: spool.location).count
        report.adoptedEnds = spool.adoptEndNotes()
        let pending = try spool.pendingCommitPoints()
        let resume = cursor.flatMap { c in pending.firstIndex { $0.sessionID == c } }.map { $0 + 1 } ?? 0
        let ordered = pending[resume...] + pending[..<resume]
        for (done, p) in ordered.enumerated() {
            if let deadline, done > 0, now() >= deadline {
                report.more = true
                break
            }
            if try ship(p, now, deadline, &report) { report.more = true }
            report.last = p.sessionID
        }
        // A quarantine in this pass is an event of no session: it ships now, not next time.
        if !report.quarantined.isEmpty {
            for p in try spool.pendingCommitPoints() where p.sessionID.isEmpty { _ = try ship(p, now, nil, &report) }
        }
        return report
    }

    /// Ships one session's waiting rows; true when it stopped at `deadline` with some left.
    private func ship(_ start: CommitPoint, _ now: () -> Int64, _ deadline: Int64?, _ report: inout ShipReport) throws -> Bool {
        var p = start
        for n in 0..<perSession {
            if let deadline, n > 0, now() >= deadline { return true }
            let s = try spool.nextShipment(after: p, host: host, maxBytes: maxBytes)
            if s.isEmpty { return false }
            if let problem = Self.problem(in: s, after: p) {
                try hold(p, problem, now(), &report)
                return false
            }
            do {
                try central.receive(s)
            } catch let e as StoreError where e.kind == .conflict || e.kind == .refused || e.kind == .corrupt {
                try hold(p, e.message, now(), &report)
                return false
            }
            p = Self.advanced(p, by: s)
            try spool.advance(p, at: now())
            report.add(s)
        }
        return false
    }

    private func hold(_ p: CommitPoint, _ why: String, _ now: Int64, _ report: inout ShipReport) throws {
        let what = p.sessionID.isEmpty ? "the events of no session" : "session \(p.sessionID)"
        let event = AuditEvent(at: now, sessionID: nil, identity: "jitsh-sync", host: host, kind: .shipQuarantined, decision: .deny,
                               reason: "\(what) is held in the spool, not shipped: \(why)")
        try spool.quarantine(p, reason: why, event: event, at: now)
        report.quarantined.append(p.sessionID)
    }

    /// Why a shipment must not leave the spool: its chunks do not continue the chain the commit
    /// point holds, or their content does not match their hashes (a row damaged in the spool).
    public static func problem(in s: Shipment, after p: CommitPoint) -> String? {
        if let r = s.session, r.id != p.sessionID { return "its row names session \(r.id)" }
        var seq = p.chunkSeq
        var head = p.chainHead
        for c in s.chunks {
            guard c.seq == seq + 1 else { return "chunk \(seq + 1) is missing from the spool" }
            guard c.previousHash == head else { return "chunk \(c.seq) does not follow the chunk before it" }
            let recomputed = Chunk.hash(sessionID: c.sessionID, seq: c.seq, startedAt: c.startedAt, frames: c.frames, rawBytes: c.rawBytes,
                                        data: c.data, previousHash: c.previousHash)
            guard recomputed == c.hash else { return "chunk \(c.seq) does not match its hash (damaged in the spool)" }
            seq = c.seq
            head = c.hash
        }
        if let end = s.end, end.chainHead != head || end.chunks != seq + 1 { return "its signed end does not match its chunks" }
        var imageSeq = p.imageSeq
        var imageHead = p.imageHead ?? SnapshotImage.genesis(p.sessionID)
        for image in s.images {
            guard image.seq == imageSeq + 1 else { return "snapshot image \(imageSeq + 1) is missing from the spool" }
            guard image.previousHash == imageHead else { return "snapshot image \(image.seq) does not follow the one before it" }
            guard image.recomputedHash == image.hash else { return "snapshot image \(image.seq) does not match its hash (damaged in the spool)" }
            (imageSeq, imageHead) = (image.seq, image.hash)
        }
        for content in s.contents where content.bytes == nil {
            return "the content \(content.digest.prefix(12)) of a snapshot image does not match its digest (damaged in the spool)"
        }
        return nil
    }

    public static func advanced(_ p: CommitPoint, by s: Shipment) -> CommitPoint {
        var next = p
        if s.session != nil { next.started = true }
        if let last = s.chunks.last {
            next.chunkSeq = last.seq
            next.chainHead = last.hash
        }
        if let id = s.events.map(\.id).max() { next.auditID = max(next.auditID, id) }
        if let last = s.images.last {
            next.imageSeq = last.seq
            next.imageHead = last.hash
        }
        if s.end != nil { next.ended = true }
        return next
    }
}

/// Retries of a failed pass: doubling from `base` up to `cap` seconds, each drawn from its upper
/// half, so hosts that lost the database together do not come back in step.
public struct Backoff: Sendable, Equatable {
    public var base: Double = 0.5
    public var cap: Double = 30

    public init(base: Double = 0.5, cap: Double = 30) {
        self.base = base
        self.cap = cap
    }

    /// The wait before retry `attempt` (0-based); `unit` is a random draw in 0..<1.
    public func delay(attempt: Int, unit: Double) -> Double {
        let full = min(cap, base * Double(1 << min(attempt, 20)))
        return full / 2 + full / 2 * unit
    }
}
