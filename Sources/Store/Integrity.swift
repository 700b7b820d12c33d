import Crypto
import Foundation
import GRDB
import Policy

/// The outcome of checking one recording.
public struct Verification: Sendable, Equatable {
    public var sessionID: String
    /// Empty when the recording is intact.
    public var problems: [String]
    /// What was checked, for the `ok` line.
    public var summary: String

    public var ok: Bool { problems.isEmpty }

    public init(sessionID: String, problems: [String], summary: String) {
        (self.sessionID, self.problems, self.summary) = (sessionID, problems, summary)
    }
}

/// A pruned recording's stand-in: who removed which chunks when, and the chain head they had,
/// signed, so verification still accounts for them.
public struct Tombstone: Sendable, Equatable {
    public var sessionID: String
    /// Microseconds since the epoch, always a whole second: the signature names the second, as
    /// tombstones signed while the store counted grants and prunes in seconds do.
    public var prunedAt: Int64
    public var actor: String
    public var chunks: Int64
    public var firstAt: Int64
    public var lastAt: Int64
    public var chainHead: [UInt8]
    public var signature: [UInt8]
    public var keyID: String

    public var signedMessage: Data {
        var d = Data("jitsh tombstone v1".utf8) + Data([0])
        for field in [sessionID, String(prunedAt / Duration.second), actor, String(chunks), String(firstAt), String(lastAt)] {
            d += Data(field.utf8) + Data([0])
        }
        return d + Data(chainHead)
    }
}

extension SQLiteStore {
    /// Recomputes the hash chain and checks the signature of the end (or of the tombstone).
    public func verify(_ id: String, key: Curve25519.Signing.PublicKey) throws -> Verification {
        var problems: [String] = []
        guard let session = try session(id) else { return Verification(sessionID: id, problems: ["no such session"], summary: "") }
        let end = try sessionEnd(id)
        if let tomb = try tombstone(id) {
            if !SigningKey.verify(Data(tomb.signature), of: tomb.signedMessage, with: key) {
                problems.append("bad signature on the tombstone of the pruned recording")
            }
            if tomb.prunedAt % Duration.second != 0 { problems.append("the tombstone's time is not the whole second its signature names") }
            if let end, end.chainHead != tomb.chainHead || end.chunks != tomb.chunks {
                problems.append("the tombstone's chain head does not match the session's signed end")
            }
            return Verification(sessionID: id, problems: problems,
                                summary: "pruned \(Timestamp.format(microseconds: tomb.prunedAt)) by \(tomb.actor): \(tomb.chunks) chunks accounted for")
        }
        let chunks = try self.chunks(session: id)
        var head = Chunk.genesis(id)
        var expected: Int64 = 0
        var frames: [Frame] = []
        for c in chunks {
            if c.seq != expected {
                problems.append(c.seq > expected ? "missing chunk \(expected)\(c.seq - expected > 1 ? "…\(c.seq - 1)" : "")" : "chunk \(c.seq) out of order")
                expected = c.seq
            }
            if c.previousHash != head { problems.append("chunk \(c.seq) does not follow the chunk before it (reordered or replaced)") }
            let recomputed = Chunk.hash(sessionID: c.sessionID, seq: c.seq, startedAt: c.startedAt, frames: c.frames, rawBytes: c.rawBytes,
                                        data: c.data, previousHash: c.previousHash)
            if recomputed != c.hash { problems.append("altered chunk \(c.seq): its content does not match its hash") }
            if let decoded = c.decodedFrames() { frames += decoded } else { problems.append("chunk \(c.seq) cannot be decoded") }
            head = c.hash
            expected += 1
        }
        let (imageProblems, images) = try verifyImages(id, frames: frames)
        problems += imageProblems
        guard let end else {
            if let note = EndNote.read(id, store: location) {
                let signed = note.end.signature.map { SigningKey.verify(Data($0), of: note.end.signedMessage, with: key) } ?? false
                let matches = note.end.chunks == Int64(chunks.count) && note.end.chainHead == head
                problems.append("the session ended (\(note.end.exitReason)) but the store could not take its end: \(note.cause); "
                                + "its end note beside the store is \(signed ? "signed" : "NOT validly signed") and "
                                + (matches ? "matches the \(chunks.count) chunks stored" : "says \(note.end.chunks) chunks, \(chunks.count) are stored"))
                return Verification(sessionID: id, problems: problems, summary: "")
            }
            problems.append("unsigned: the session has no end (jitsh was killed, or it is still running); \(chunks.count) chunks chain correctly up to there")
            return Verification(sessionID: id, problems: problems, summary: "")
        }
        if end.chunks != Int64(chunks.count) {
            problems.append(end.chunks > Int64(chunks.count) ? "missing chunk: the end says \(end.chunks) chunks, \(chunks.count) are stored"
                                                            : "\(Int64(chunks.count) - end.chunks) chunks after the signed end")
        }
        if end.chainHead != head { problems.append("the signed chain head does not match the chunks") }
        if let signature = end.signature {
            if !SigningKey.verify(Data(signature), of: end.signedMessage, with: key) {
                problems.append("bad signature (key \(end.keyID); this host's key is \(SigningKey.id(of: key)))")
            }
        } else {
            problems.append("unsigned: the end carries no signature")
        }
        let duration = Double(end.endedAt - session.startedAt) / 1_000_000
        return Verification(sessionID: id, problems: problems,
                            summary: "\(chunks.count) chunks\(images > 0 ? ", \(images) snapshot images" : ""), hash chain and signature (key \(end.keyID)) intact, \(String(format: "%.1f", duration)) s")
    }

    public func allSessionIDs(host: String? = nil) throws -> [String] {
        try database.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM sessions WHERE ? IS NULL OR host GLOB ? ORDER BY started_at, id", arguments: [host, host])
        }
    }

    public func tombstone(_ id: String) throws -> Tombstone? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tombstones WHERE session_id = ?", arguments: [id]).map { r in
                Tombstone(sessionID: r["session_id"], prunedAt: r["pruned_at"], actor: r["actor"], chunks: r["chunks"], firstAt: r["first_at"],
                          lastAt: r["last_at"], chainHead: Array(r["chain_head"] as Data), signature: Array(r["signature"] as Data),
                          keyID: r["key_id"])
            }
        }
    }

    /// Sessions started before `cutoff` (µs) whose recordings are still stored. With
    /// `shippedOnly` (a fleet host's spool), only those whose signed end reached the central
    /// store, so pruning never loses what was not shipped.
    public func prunable(before cutoff: Int64, shippedOnly: Bool = false) throws -> [String] {
        let shipped = shippedOnly
            ? """
              AND EXISTS (SELECT 1 FROM commit_points p WHERE p.session_id = s.id AND p.ended = 1 AND p.quarantined IS NULL
                          AND NOT EXISTS (SELECT 1 FROM snapshot_images i WHERE i.session_id = s.id AND i.seq > p.image_seq))
              """ : ""
        return try database.read { db in
            try String.fetchAll(db, sql: """
                SELECT s.id FROM sessions s WHERE s.started_at < ?
                AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.session_id = s.id)
                AND (EXISTS (SELECT 1 FROM session_ends e WHERE e.session_id = s.id) OR s.started_at < ? - 86400000000)
                \(shipped)
                ORDER BY s.started_at
                """, arguments: [cutoff, cutoff])
        }
    }

    /// Removes a recording's chunks, leaving a signed tombstone, in one transaction.
    public func prune(_ id: String, actor: String, key: SigningKey, now: Int64) throws -> Tombstone {
        let prunedAt = now - now % Duration.second
        return try database.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT seq, started_at, hash FROM chunks WHERE session_id = ? ORDER BY seq", arguments: [id])
            var tomb = Tombstone(sessionID: id, prunedAt: prunedAt, actor: actor, chunks: Int64(rows.count),
                                 firstAt: rows.first?["started_at"] ?? 0, lastAt: rows.last?["started_at"] ?? 0,
                                 chainHead: rows.last.map { Array($0["hash"] as Data) } ?? Chunk.genesis(id), signature: [], keyID: key.id)
            tomb.signature = Array(try key.sign(tomb.signedMessage))
            try db.execute(sql: """
                INSERT INTO tombstones (session_id, pruned_at, actor, chunks, first_at, last_at, chain_head, signature, key_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, prunedAt, actor, tomb.chunks, tomb.firstAt, tomb.lastAt, Data(tomb.chainHead), Data(tomb.signature), tomb.keyID])
            try Self.unindex(session: id, db)
            try db.execute(sql: "DELETE FROM chunks WHERE session_id = ?", arguments: [id])
            // The images hold what watched files contained: they go with the recording.
            try db.execute(sql: "DELETE FROM snapshot_images WHERE session_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM snapshot_contents WHERE session_id = ?", arguments: [id])
            return tomb
        }
    }
}
