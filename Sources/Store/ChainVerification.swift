import Crypto
import Foundation

extension RecordingSink {
    /// The hash chain and signed end of one recording in any back end: what proves that a
    /// session shipped from a spool reached the central store whole and unchanged (the join).
    public func verifyRecording(_ id: String, key: Curve25519.Signing.PublicKey) throws -> Verification {
        guard try session(id) != nil else { return Verification(sessionID: id, problems: ["no such session"], summary: "") }
        var problems: [String] = []
        var head = Chunk.genesis(id)
        var expected: Int64 = 0
        let chunks = try self.chunks(session: id)
        for c in chunks {
            if c.seq != expected { problems.append("chunk \(expected) is missing") }
            if c.previousHash != head { problems.append("chunk \(c.seq) does not follow the chunk before it") }
            if Chunk.hash(sessionID: c.sessionID, seq: c.seq, startedAt: c.startedAt, frames: c.frames, rawBytes: c.rawBytes, data: c.data,
                          previousHash: c.previousHash) != c.hash {
                problems.append("altered chunk \(c.seq): its content does not match its hash")
            }
            head = c.hash
            expected = c.seq + 1
        }
        guard let end = try sessionEnd(id) else {
            return Verification(sessionID: id, problems: problems + ["unsigned: the session has no end"], summary: "")
        }
        if end.chunks != Int64(chunks.count) { problems.append("the end says \(end.chunks) chunks, \(chunks.count) are stored") }
        if end.chainHead != head { problems.append("the signed chain head does not match the chunks") }
        if !(end.signature.map { SigningKey.verify(Data($0), of: end.signedMessage, with: key) } ?? false) {
            problems.append("bad or missing signature (key \(end.keyID))")
        }
        return Verification(sessionID: id, problems: problems, summary: "\(chunks.count) chunks, hash chain and signature (key \(end.keyID)) intact")
    }
}
