import Foundation
import Store
#if canImport(Glibc)
import Glibc
#endif

/// Records a session into the store as it happens: frames are gathered and committed as a
/// compressed, hash-chained chunk every 250 ms or 32 KiB, so a killed jitsh loses at most that.
/// Memory stays flat: nothing is kept after it is committed.
final class Recorder {
    let store: SQLiteStore
    let sessionID: String
    let startedAt: Int64
    let flushBytes: Int
    let flushMicroseconds: Int64
    private(set) var seq: Int64 = 0
    private(set) var head: [UInt8]
    private var pending: [UInt8] = []
    private var pendingFrames = 0
    private var pendingSince: Int64?
    /// Set when a chunk could not be written; the session must stop.
    private(set) var failure: Error?
    /// make bench only: `JITSH_BENCH_COMMIT_LOG=FILE` (honoured for root alone, never for a setgid
    /// jitsh run by a user) appends each chunk's commit time in µs to FILE when the session ends.
    private let commitLog = getuid() == 0 ? ProcessInfo.processInfo.environment["JITSH_BENCH_COMMIT_LOG"] : nil
    private var commitTimes: [Int64] = []

    init(store: SQLiteStore, sessionID: String, startedAt: Int64, flushBytes: Int = 32 * 1024, flushMicroseconds: Int64 = 250_000) {
        self.store = store
        self.sessionID = sessionID
        self.startedAt = startedAt
        self.flushBytes = flushBytes
        self.flushMicroseconds = flushMicroseconds
        head = Chunk.genesis(sessionID)
    }

    var offset: UInt64 { UInt64(max(0, Clock.microseconds - startedAt)) }

    func record(_ kind: Frame.Kind, _ bytes: [UInt8]) {
        guard failure == nil else { return }
        // Large bursts are cut so no chunk grows far past the flush size.
        var rest = bytes[...]
        repeat {
            let piece = rest.prefix(flushBytes)
            rest = rest.dropFirst(piece.count)
            if pendingSince == nil { pendingSince = Clock.microseconds }
            FrameCodec.encode(Frame(kind, offset: offset, data: Array(piece)), into: &pending)
            pendingFrames += 1
            if pending.count >= flushBytes { flush() }
        } while !rest.isEmpty
    }

    func resize(rows: Int, cols: Int) {
        guard failure == nil else { return }
        if pendingSince == nil { pendingSince = Clock.microseconds }
        FrameCodec.encode(Frame.resize(rows: rows, cols: cols, offset: offset), into: &pending)
        pendingFrames += 1
    }

    func marker(_ fields: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        record(.marker, Array(data))
    }

    /// Microseconds until the next chunk is due (nil: nothing pending).
    var dueIn: Int64? {
        guard let since = pendingSince else { return nil }
        return max(0, since + flushMicroseconds - Clock.microseconds)
    }

    func flushIfDue() {
        if let due = dueIn, due == 0 { flush() }
    }

    func flush() {
        guard failure == nil, !pending.isEmpty else { return }
        let compressed = Deflate.compress(pending)
        let chunk = Chunk(sessionID: sessionID, seq: seq, startedAt: pendingSince ?? Clock.microseconds, frames: pendingFrames,
                          rawBytes: pending.count, data: compressed, previousHash: head)
        do {
            let t0 = commitLog == nil ? 0 : Clock.microseconds
            try store.appendChunk(chunk)
            if commitLog != nil { commitTimes.append(Clock.microseconds - t0) }
            head = chunk.hash
            seq += 1
            pending.removeAll(keepingCapacity: true)
            pendingFrames = 0
            pendingSince = nil
        } catch {
            failure = error
        }
    }

    /// Commits what is left and signs the chain head.
    func finish(reason: String, status: Int?, key: SigningKey?, identity: String, host: String) throws {
        flush()
        if let commitLog, !commitTimes.isEmpty {
            let fd = open(commitLog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            if fd >= 0 {
                writeAll(fd, Array(commitTimes.map { "\($0)\n" }.joined().utf8))
                close(fd)
            }
        }
        if let failure { throw failure }
        var end = SessionEnd(sessionID: sessionID, endedAt: Clock.microseconds, exitReason: reason, exitStatus: status, chunks: seq,
                             chainHead: head)
        if let key {
            end.signature = Array(try key.sign(end.signedMessage))
            end.keyID = key.id
        }
        try store.endSession(end, event: AuditEvent(at: end.endedAt, sessionID: sessionID, identity: identity, host: host,
                                                    kind: "session-end", reason: reason,
                                                    data: "{\"chunks\":\(seq),\"status\":\(status.map(String.init) ?? "null")}"))
    }
}
