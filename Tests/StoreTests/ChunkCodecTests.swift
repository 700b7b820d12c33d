import Foundation
@testable import Store
import Testing

/// Chunks are zstd since issue 23; every chunk written before is zlib and must still read and
/// verify, alone or chained with zstd chunks in one session.
@Suite struct ChunkCodecTests {
    /// A chunk's data as jitsh wrote it before zstd (zlib level 1), kept as bytes so the test does
    /// not depend on today's encoder: a resize, `ls` and its output, `exit` typed.
    static let oldZlibData: [UInt8] = [
        0x78, 0x01, 0x63, 0x61, 0x60, 0x61, 0x90, 0x60, 0x08, 0x60, 0xDC, 0xC0, 0xA9, 0xAD, 0xA2, 0x90, 0x53, 0xAC, 0xA0, 0x5F,
        0x96, 0x58, 0xA4, 0x9F, 0x93, 0x9F, 0xCE, 0xCB, 0x55, 0x5C, 0x59, 0x0C, 0xA4, 0x15, 0x14, 0x12, 0x4B, 0x4B, 0x32, 0xF4,
        0xC0, 0xAC, 0xEC, 0xD4, 0xA2, 0x3C, 0x10, 0x8B, 0x97, 0x8B, 0xA9, 0x61, 0xDF, 0x24, 0x46, 0xD6, 0xD4, 0x8A, 0xCC, 0x12,
        0x5E, 0x00, 0x28, 0x84, 0x12, 0xB2,
    ]
    static let oldFrames = [
        Frame.resize(rows: 24, cols: 80, offset: 0),
        Frame(.output, offset: 1200, data: Array("$ ls /var/log\r\nsyslog  auth.log  kern.log\r\n".utf8)),
        Frame(.input, offset: 2_400_000, data: Array("exit\r".utf8)),
    ]
    static let oldRawBytes = 65

    @Test func anOldZlibChunkDecodesToItsFrames() {
        #expect(ChunkCodec.of(Self.oldZlibData) == .zlib)
        let chunk = Chunk(sessionID: "old", seq: 0, startedAt: 1, frames: 3, rawBytes: Self.oldRawBytes, data: Self.oldZlibData,
                          previousHash: Chunk.genesis("old"))
        #expect(chunk.decodedFrames() == Self.oldFrames)
    }

    @Test func newChunksAreOneZstdFrame() throws {
        var raw: [UInt8] = []
        FrameCodec.encode(Self.oldFrames, into: &raw)
        let data = Zstd().compress(raw)
        #expect(Array(data.prefix(4)) == ChunkCodec.zstdMagic)
        #expect(ChunkCodec.of(data) == .zstd)
        #expect(ChunkCodec.decompress(data, expectedLength: raw.count) == raw)
    }

    /// One compressor serves a whole session: each chunk stands alone all the same.
    @Test func aReusedCompressorMakesChunksThatDecodeAlone() {
        let zstd = Zstd()
        let inputs = [Array(repeating: UInt8(ascii: "a"), count: 100_000), Array("short".utf8), [], Array((0..<5000).map { UInt8($0 % 251) })]
        for input in inputs {
            #expect(Zstd.decompress(zstd.compress(input), expectedLength: input.count) == input)
        }
    }

    /// What does not decode exactly is no recording: a wrong length, bytes cut or added, another format.
    @Test(arguments: [
        ("zstd, the length said is one short", "short"),
        ("zstd, the length said is one long", "long"),
        ("zstd, the last byte cut", "cut"),
        ("zstd, a byte after the frame", "trailing"),
        ("zlib, the last byte cut", "zlib-cut"),
        ("neither codec", "neither"),
        ("empty", "empty"),
    ])
    func whatDoesNotDecodeExactlyIsRefused(_ what: String, _ change: String) {
        let raw = Array("the same line, again and again; ".utf8) + Array(repeating: UInt8(ascii: "x"), count: 300)
        let zstd = Zstd().compress(raw)
        let cases: [String: ([UInt8], Int)] = [
            "short": (zstd, raw.count - 1),
            "long": (zstd, raw.count + 1),
            "cut": (Array(zstd.dropLast()), raw.count),
            "trailing": (zstd + [0], raw.count),
            "zlib-cut": (Array(Self.oldZlibData.dropLast()), Self.oldRawBytes),
            "neither": (Array("plain text".utf8), 10),
            "empty": ([], 0),
        ]
        let (data, length) = cases[change]!
        #expect(ChunkCodec.decompress(data, expectedLength: length) == nil, "\(what)")
    }

    /// A session recorded across the upgrade: zlib chunks, then zstd ones, in one chain, signed.
    @Test func aSessionOfOldAndNewChunksVerifies() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-codec-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(path: dir.appendingPathComponent("jitsh.db").path, create: true)
        let key = SigningKey(privateKey: .init())
        let id = "0123456789abcdef"
        let start: Int64 = 1_790_000_000_000_000
        try store.startSession(SessionRecord(id: id, identity: "alice", login: "alice", role: "readonly", grantID: nil, host: "prod-1",
                                             client: "10.0.0.1", mode: "interactive", command: "", startedAt: start),
                               event: AuditEvent(at: start, sessionID: id, identity: "alice", host: "prod-1", kind: .sessionStart))
        let old = Chunk(sessionID: id, seq: 0, startedAt: start, frames: 3, rawBytes: Self.oldRawBytes, data: Self.oldZlibData,
                        previousHash: Chunk.genesis(id))
        try store.appendChunk(old)
        var raw: [UInt8] = []
        let later = Frame(.output, offset: 3_000_000, data: Array("after the upgrade\r\n".utf8))
        FrameCodec.encode(later, into: &raw)
        let new = Chunk(sessionID: id, seq: 1, startedAt: start + 3_000_000, frames: 1, rawBytes: raw.count, data: Zstd().compress(raw),
                        previousHash: old.hash)
        try store.appendChunk(new)
        var end = SessionEnd(sessionID: id, endedAt: start + 4_000_000, exitReason: "exit", exitStatus: 0, chunks: 2, chainHead: new.hash)
        end.signature = Array(try key.sign(end.signedMessage))
        end.keyID = key.id
        try store.endSession(end, event: AuditEvent(at: end.endedAt, sessionID: id, identity: "alice", host: "prod-1", kind: .sessionEnd))

        let verification = try store.verify(id, key: key.publicKey)
        #expect(verification.ok, "\(verification.problems)")
        let frames = try store.chunks(session: id).flatMap { $0.decodedFrames() ?? [] }
        #expect(frames == Self.oldFrames + [later])
    }
}
