import Foundation
import Posix
import Store
#if canImport(Glibc)
import Glibc
#endif

/// Records a session into the store as it happens: frames are gathered and handed over as a
/// chunk every 250 ms or 64 KiB; a writer thread compresses (zstd), chains and commits them, so
/// the relay never waits for the codec or the disk. The relays take the job's output only while what is
/// gathered or on its way to the store stays under `unrecordedBound` (`readRoom`, `backedUp`),
/// so a killed jitsh or a store that stopped answering leaves at most that shown and
/// unrecorded, and memory stays flat.
final class Recorder {
    let sessionID: String
    let startedAt: Int64
    let flushBytes: Int
    let flushMicroseconds: Int64
    private let writer: ChunkWriter
    private var pending: [UInt8] = []
    private var pendingFrames = 0
    private var pendingSince: Int64?
    private let clock: any SessionClock

    /// What may have been shown and not yet committed, at most: one flush interval's worth.
    static let unrecordedBound = 128 * 1024
    /// Reads smaller than this are not worth a system call: the relays wait for room instead.
    static let smallestRead = 4096

    /// Set when a chunk could not be written; the session must stop.
    var failure: Error? { writer.failure }

    /// Readable when the writer committed a chunk (`drainCommitted` takes it).
    var committed: Int32 { writer.committed }
    func drainCommitted() { writer.drainCommitted() }

    /// 64 KiB: a commit's fixed cost (the b-tree and index pages SQLite rewrites, the hash, the
    /// hand-over) is paid half as often as at 32 KiB, and what waits unrecorded stays within
    /// `unrecordedBound` all the same.
    init(store: any RecordingSink, sessionID: String, startedAt: Int64, clock: any SessionClock = SystemClock.shared,
         flushBytes: Int = 64 * 1024, flushMicroseconds: Int64 = 250_000) {
        self.clock = clock
        self.sessionID = sessionID
        self.startedAt = startedAt
        self.flushBytes = flushBytes
        self.flushMicroseconds = flushMicroseconds
        writer = ChunkWriter(store: store, sessionID: sessionID)
        reservation = EndNote.reserve(sessionID, store: store.location)
    }

    /// The room on disk for this session's end note, should the store not take its end.
    private let reservation: EndNote.Reservation?

    var offset: UInt64 { UInt64(max(0, clock.wall - startedAt)) }

    func record(_ kind: Frame.Kind, _ bytes: [UInt8]) {
        guard failure == nil else { return }
        // Large bursts are cut so no chunk grows far past the flush size.
        var rest = bytes[...]
        repeat {
            let piece = rest.prefix(flushBytes)
            rest = rest.dropFirst(piece.count)
            if pendingSince == nil { pendingSince = clock.wall }
            FrameCodec.encode(kind, offset: offset, data: piece, into: &pending)
            pendingFrames += 1
            if pending.count >= flushBytes { flush() }
        } while !rest.isEmpty && failure == nil
    }

    func resize(rows: Int, cols: Int) {
        guard failure == nil else { return }
        if pendingSince == nil { pendingSince = clock.wall }
        FrameCodec.encode(Frame.resize(rows: rows, cols: cols, offset: offset), into: &pending)
        pendingFrames += 1
    }

    func marker(_ fields: [String: JSONText]) {
        record(.marker, Array(JSONText.object(fields).text.utf8))
    }

    /// Microseconds until the next chunk is due (nil: nothing pending).
    var dueIn: Int64? {
        guard let since = pendingSince else { return nil }
        // Nothing can be handed over before the writer has room: look again a little later.
        if !writer.hasRoom { return 50_000 }
        // A chunk's worth that waited for room goes as soon as there is room, not at the next
        // read (which would hand over two or three chunks' worth as one).
        if pending.count >= flushBytes { return 0 }
        return max(0, since + flushMicroseconds - clock.wall)
    }

    func flushIfDue() {
        if let due = dueIn, due == 0 { flush() }
    }

    /// How much of the job's output the relays may read now: what is read is shown once
    /// recorded, so what is gathered, queued and committing plus this read stays within
    /// `unrecordedBound` even when the store stops answering.
    var readRoom: Int {
        guard failure == nil else { return flushBytes }
        return min(flushBytes, max(0, Recorder.unrecordedBound - writer.unrecordedBytes - pending.count))
    }

    /// No room for a read: the relays stop taking the job's output (flow control on its terminal
    /// or pipes) until the writer has committed some.
    var backedUp: Bool { readRoom < Recorder.smallestRead }

    func flush() {
        guard failure == nil, !pending.isEmpty, writer.hasRoom else { return }
        submitPending()
    }

    private func submitPending() {
        writer.submit(ChunkWriter.Item(raw: pending, frames: pendingFrames, startedAt: pendingSince ?? clock.wall))
        pending = []
        pending.reserveCapacity(flushBytes + 4096)
        pendingFrames = 0
        pendingSince = nil
    }

    /// Commits what is left and signs the chain head. A writer that failed still leaves a signed
    /// end over what was committed, reason `recording-failed` and the cause; a store that will not
    /// take the end gets it in syslog and in an end note beside the store. Throws what failed.
    func finish(reason: String, status: Int?, key: SigningKey?, trail: AuditTrail) throws {
        if failure == nil && !pending.isEmpty { submitPending() }
        let (seq, head, failed) = writer.finish()
        var end = SessionEnd(sessionID: sessionID, endedAt: clock.wall, exitReason: failed == nil ? reason : "recording-failed",
                             exitStatus: status, chunks: seq, chainHead: head)
        if let key {
            end.signature = Array(try key.sign(end.signedMessage))
            end.keyID = key.id
        }
        var data: [String: JSONText] = ["chunks": .int(Int(seq)), "status": status.map { .int($0) } ?? .null]
        if let failed { data["cause"] = .string("\(failed)") }
        var event = trail.event(.sessionEnd, at: end.endedAt, reason: end.exitReason, data: JSONText.object(data).text)
        do {
            try writer.store.endSession(end, event: event)
            trail.sent(event)
            reservation?.release()
        } catch {
            let note = EndNote(end: end, cause: "\(error)")
            var kept = "kept in \(EndNote.directory(forStore: writer.store.location))"
            do { try note.write(store: writer.store.location, reservation: reservation) } catch let noteError { kept = "no end note either: \(noteError)" }
            data["cause"] = .string("\(failed.map { "\($0); " } ?? "")the end could not be stored: \(error); \(kept)")
            event.data = JSONText.object(data).text
            AuditSyslog.send(event, priority: LOG_ERR)
            throw error
        }
        if let failed { throw failed }
    }
}

/// The recorder's writer thread: chunks in order, compressed, chained to the one before, committed.
final class ChunkWriter: @unchecked Sendable {
    struct Item {
        var raw: [UInt8]
        var frames: Int
        var startedAt: Int64
    }

    /// How many chunks may wait while one is committed (the bytes are bounded apart, by the
    /// recorder's `readRoom`).
    static let depth = 1

    let store: any RecordingSink
    let sessionID: String
    private let condition = NSCondition()
    private var queue: [Item] = []
    private var busy = false
    /// Raw bytes of the chunks queued and committing: shown, not yet in the store.
    private var inFlight = 0
    private var done = false
    private var error: Error?
    private var seq: Int64 = 0
    private var head: [UInt8]
    /// make bench only: `JITSH_BENCH_COMMIT_LOG=FILE` (honoured for root alone, never for a setgid
    /// jitsh run by a user) appends a line per chunk to FILE when the session ends: the commit's
    /// time in µs, the wall clock in µs when it was committed, the session and the chunk's seq
    /// (the fleet bench measures shipping from that moment to the chunk's central commit).
    private let commitLog = getuid() == 0 ? ProcessInfo.processInfo.environment["JITSH_BENCH_COMMIT_LOG"] : nil
    private var commitTimes: [(took: Int64, at: Int64, seq: Int64)] = []
    /// Used by the writer thread alone.
    private let compressor = Zstd()

    /// Readable after each commit: a relay held back for room (`backedUp`) takes the job's
    /// output again as soon as there is room, not at its next look 50 ms later, which would
    /// cap a fast job at a chunk every 50 ms.
    let committed: Int32
    private let committedWrite: Int32

    init(store: any RecordingSink, sessionID: String) {
        self.store = store
        self.sessionID = sessionID
        head = Chunk.genesis(sessionID)
        let pipe = makePipe()
        (committed, committedWrite) = (pipe?.read ?? -1, pipe?.write ?? -1)
        for fd in [committed, committedWrite] where fd >= 0 { setNonBlocking(fd) }
        let thread = Thread { [self] in run() }
        thread.name = "jitsh-recorder"
        thread.start()
    }

    var failure: Error? {
        condition.lock()
        defer { condition.unlock() }
        return error
    }

    var unrecordedBytes: Int {
        condition.lock()
        defer { condition.unlock() }
        return inFlight
    }

    var hasRoom: Bool {
        condition.lock()
        defer { condition.unlock() }
        return queue.count < ChunkWriter.depth || error != nil
    }

    func submit(_ item: Item) {
        condition.lock()
        while queue.count >= ChunkWriter.depth && error == nil { condition.wait() }
        if error == nil {
            queue.append(item)
            inFlight += item.raw.count
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until everything submitted is committed, stops the thread; the count and head of
    /// the chunks committed, and what stopped the writer if something did.
    func finish() -> (seq: Int64, head: [UInt8], failure: Error?) {
        condition.lock()
        while (!queue.isEmpty || busy) && error == nil { condition.wait() }
        done = true
        condition.broadcast()
        let result = (seq, head, error)
        let times = commitTimes
        condition.unlock()
        if let commitLog, !times.isEmpty {
            let fd = open(commitLog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            if fd >= 0 {
                writeAll(fd, Array(times.map { "\($0.took) \($0.at) \(sessionID) \($0.seq)\n" }.joined().utf8))
                close(fd)
            }
        }
        return result
    }

    private func run() {
        condition.lock()
        while true {
            while queue.isEmpty && !done { condition.wait() }
            if queue.isEmpty { break }
            let item = queue.removeFirst()
            busy = true
            let (seq, head) = (self.seq, self.head)
            condition.unlock()
            let chunk = Chunk(sessionID: sessionID, seq: seq, startedAt: item.startedAt, frames: item.frames, rawBytes: item.raw.count,
                              data: compressor.compress(item.raw), previousHash: head)
            let t0 = commitLog == nil ? 0 : Clock.now
            var failed: Error?
            do { try store.appendChunk(chunk) } catch { failed = error }
            let committedAt = Clock.now
            let took = committedAt - t0
            condition.lock()
            busy = false
            inFlight -= item.raw.count
            if let failed {
                error = failed
                queue.removeAll()
                inFlight = 0
            } else {
                self.head = chunk.hash
                self.seq += 1
                if commitLog != nil { commitTimes.append((took, committedAt, seq)) }
            }
            condition.broadcast()
            // A full pipe already says so.
            var byte: UInt8 = 1
            _ = write(committedWrite, &byte, 1)
        }
        condition.unlock()
    }

    /// Takes what `committed` holds, after the loop woke for it.
    func drainCommitted() {
        while readSome(committed, max: 256)?.isEmpty == false {}
    }

    deinit {
        for fd in [committed, committedWrite] where fd >= 0 { close(fd) }
    }
}
