import Crypto
import CZlib
import CZstd
import Foundation

/// One thing that happened in a session, in the order it happened.
public struct Frame: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        /// What the user saw: program output, and jitsh's own prompt, echo and messages.
        case output = 1
        /// What the user typed.
        case input = 2
        /// Exec mode's standard error (standard output is `output`).
        case stderr = 3
        /// The terminal's new size: rows, columns.
        case resize = 4
        /// A line decided, confirmed, started, exited …: JSON.
        case marker = 5
        /// Input typed while the terminal did not echo (a password): only its length is kept.
        case redacted = 6
        /// Exec mode's standard input (`ssh host 'cat > f' < f`), as jitsh passed it to the line.
        case stdin = 7
    }

    public var kind: Kind
    /// Microseconds since the session started.
    public var offset: UInt64
    public var data: [UInt8]

    public init(_ kind: Kind, offset: UInt64, data: [UInt8]) {
        self.kind = kind
        self.offset = offset
        self.data = data
    }

    public static func resize(rows: Int, cols: Int, offset: UInt64) -> Frame {
        Frame(.resize, offset: offset, data: [UInt8(rows >> 8 & 0xFF), UInt8(rows & 0xFF), UInt8(cols >> 8 & 0xFF), UInt8(cols & 0xFF)])
    }

    public var size: (rows: Int, cols: Int)? {
        guard kind == .resize, data.count == 4 else { return nil }
        return (Int(data[0]) << 8 | Int(data[1]), Int(data[2]) << 8 | Int(data[3]))
    }
}

/// Frames serialized: kind, varint offset, varint length, bytes.
public enum FrameCodec {
    public static func encode(_ frames: [Frame], into out: inout [UInt8]) {
        for f in frames { encode(f, into: &out) }
    }

    public static func encode(_ f: Frame, into out: inout [UInt8]) {
        encode(f.kind, offset: f.offset, data: f.data[...], into: &out)
    }

    /// One frame straight from the bytes read: the recorder's hot path, with no `Frame` (and no
    /// copy of the bytes) in between.
    public static func encode(_ kind: Frame.Kind, offset: UInt64, data: ArraySlice<UInt8>, into out: inout [UInt8]) {
        out.append(kind.rawValue)
        varint(offset, &out)
        varint(UInt64(data.count), &out)
        out.append(contentsOf: data)
    }

    public static func varint(_ value: UInt64, _ out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// nil when the bytes are not a sequence of whole frames.
    public static func decode(_ bytes: [UInt8]) -> [Frame]? {
        var frames: [Frame] = []
        var k = 0
        func readVarint() -> UInt64? {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while k < bytes.count {
                let b = bytes[k]
                k += 1
                v |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
                if shift > 63 { return nil }
            }
            return nil
        }
        while k < bytes.count {
            guard let kind = Frame.Kind(rawValue: bytes[k]) else { return nil }
            k += 1
            guard let offset = readVarint(), let length = readVarint(), length <= UInt64(bytes.count - k) else { return nil }
            frames.append(Frame(kind, offset: offset, data: Array(bytes[k..<(k + Int(length))])))
            k += Int(length)
        }
        return frames
    }
}

/// zlib, fast level: file images of snapshots, and the recording chunks written before zstd
/// (they stay readable: `ChunkCodec`).
public enum Deflate {
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        var length = compressBound(uLong(input.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                compress2(dst.baseAddress, &length, src.baseAddress, uLong(input.count), 1)
            }
        }
        guard status == Z_OK else { return [] }
        return Array(out.prefix(Int(length)))
    }

    public static func decompress(_ input: [UInt8], expectedLength: Int) -> [UInt8]? {
        guard expectedLength >= 0, expectedLength <= 64 << 20 else { return nil }
        var length = uLongf(expectedLength)
        var out = [UInt8](repeating: 0, count: max(expectedLength, 1))
        let status = input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                uncompress(dst.baseAddress, &length, src.baseAddress, uLong(input.count))
            }
        }
        guard status == Z_OK, Int(length) == expectedLength else { return nil }
        return Array(out.prefix(expectedLength))
    }
}

/// How a chunk's frames are compressed, told by the stored bytes themselves, so chunks of both
/// kinds sit in one store (and one chain) without a schema change: a zstd frame begins with its
/// magic number (28 B5 2F FD), a zlib stream with a header naming deflate whose first two bytes
/// are a multiple of 31; the two cannot be mistaken for each other. The chunk's hash covers those
/// bytes, so a chunk cannot be made to decode another way without breaking the chain.
public enum ChunkCodec: String, Sendable, CaseIterable {
    /// Every chunk written before zstd: deflate at level 1.
    case zlib
    /// New chunks: zstd level 1.
    case zstd

    public static let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

    /// The codec of stored chunk data; nil when it is neither.
    public static func of(_ data: [UInt8]) -> ChunkCodec? {
        if data.count >= 4 && data[0] == 0x28 && data[1] == 0xB5 && data[2] == 0x2F && data[3] == 0xFD { return .zstd }
        if data.count >= 2 && data[0] & 0x0F == 8 && data[0] >> 4 <= 7 && (UInt16(data[0]) << 8 | UInt16(data[1])) % 31 == 0 {
            return .zlib
        }
        return nil
    }

    /// The frames' bytes, exactly `expectedLength` of them, or nil.
    public static func decompress(_ data: [UInt8], expectedLength: Int) -> [UInt8]? {
        switch of(data) {
        case .zstd: return Zstd.decompress(data, expectedLength: expectedLength)
        case .zlib: return Deflate.decompress(data, expectedLength: expectedLength)
        case nil: return nil
        }
    }
}

/// zstd through libzstd. A compressor keeps one context for every chunk it compresses: a context
/// made per chunk would allocate and clear its tables each time, which costs as much as a small
/// chunk's compression.
public final class Zstd {
    /// Level 1: on the bench's text in 32 and 64 KiB chunks it stores a little less than deflate level 1
    /// and compresses two to three times as fast; the negative (faster) levels store 17-45 % more,
    /// past the bound on stored bytes.
    public static let level: Int32 = 1
    private let context: OpaquePointer

    public init() {
        guard let context = ZSTD_createCCtx() else { fatalError("zstd: no memory for a compression context") }
        self.context = context
    }

    deinit { ZSTD_freeCCtx(context) }

    /// The input as one zstd frame that records its size; [] if zstd refused (it does not, short of memory).
    public func compress(_ input: [UInt8]) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var failed = false
        let out = [UInt8](unsafeUninitializedCapacity: bound) { dst, count in
            let n = input.withUnsafeBytes { src in
                ZSTD_compressCCtx(context, dst.baseAddress, bound, src.baseAddress, src.count, Zstd.level)
            }
            failed = ZSTD_isError(n) != 0
            count = failed ? 0 : n
        }
        return failed ? [] : out
    }

    /// One frame that says it holds `expectedLength` bytes and does; nil otherwise.
    public static func decompress(_ input: [UInt8], expectedLength: Int) -> [UInt8]? {
        guard expectedLength >= 0, expectedLength <= 64 << 20 else { return nil }
        let declared = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        guard declared == UInt64(expectedLength), ZSTD_findFrameCompressedSize(input, input.count) == input.count else { return nil }
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: max(expectedLength, 1)) { dst, count in
            let n = input.withUnsafeBytes { src in ZSTD_decompress(dst.baseAddress, expectedLength, src.baseAddress, src.count) }
            ok = ZSTD_isError(n) == 0 && n == expectedLength
            count = ok ? n : 0
        }
        return ok ? out : nil
    }
}

/// A stored piece of a recording: frames, compressed, chained to the one before by hash.
public struct Chunk: Sendable, Equatable {
    public var sessionID: String
    public var seq: Int64
    public var startedAt: Int64
    public var frames: Int
    public var rawBytes: Int
    public var data: [UInt8]
    public var previousHash: [UInt8]
    public var hash: [UInt8]

    public init(sessionID: String, seq: Int64, startedAt: Int64, frames: Int, rawBytes: Int, data: [UInt8], previousHash: [UInt8]) {
        self.sessionID = sessionID
        self.seq = seq
        self.startedAt = startedAt
        self.frames = frames
        self.rawBytes = rawBytes
        self.data = data
        self.previousHash = previousHash
        self.hash = Chunk.hash(sessionID: sessionID, seq: seq, startedAt: startedAt, frames: frames, rawBytes: rawBytes, data: data,
                               previousHash: previousHash)
    }

    /// SHA-256 over the previous hash and everything the chunk says.
    public static func hash(sessionID: String, seq: Int64, startedAt: Int64, frames: Int, rawBytes: Int, data: [UInt8],
                            previousHash: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(data: previousHash)
        h.update(data: Array(sessionID.utf8))
        for v in [seq, startedAt, Int64(frames), Int64(rawBytes)] {
            withUnsafeBytes(of: v.bigEndian) { h.update(bufferPointer: $0) }
        }
        h.update(data: data)
        return Array(h.finalize())
    }

    /// The first link of every chain: a session's id, hashed.
    public static func genesis(_ sessionID: String) -> [UInt8] {
        Array(SHA256.hash(data: Array("jitsh-session:\(sessionID)".utf8)))
    }

    public func decodedFrames() -> [Frame]? {
        guard let raw = ChunkCodec.decompress(data, expectedLength: rawBytes) else { return nil }
        return FrameCodec.decode(raw)
    }
}

/// The signed end of a session: how many chunks, the chain's last hash, why it ended.
public struct SessionEnd: Sendable, Equatable {
    public var sessionID: String
    public var endedAt: Int64
    public var exitReason: String
    public var exitStatus: Int?
    public var chunks: Int64
    public var chainHead: [UInt8]
    public var signature: [UInt8]?
    public var keyID: String

    public init(sessionID: String, endedAt: Int64, exitReason: String, exitStatus: Int?, chunks: Int64, chainHead: [UInt8],
                signature: [UInt8]? = nil, keyID: String = "") {
        self.sessionID = sessionID
        self.endedAt = endedAt
        self.exitReason = exitReason
        self.exitStatus = exitStatus
        self.chunks = chunks
        self.chainHead = chainHead
        self.signature = signature
        self.keyID = keyID
    }

    /// What the signature covers.
    public var signedMessage: Data {
        var m = Data("jitsh-session-end:\(sessionID):\(chunks):\(endedAt):\(exitReason):".utf8)
        m.append(contentsOf: chainHead)
        return m
    }
}
