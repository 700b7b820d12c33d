import Foundation
import Store

/// A recording as the player takes it: one JSON line per chunk, `{"seq":3,"frames":[[t,"o",text],…]}`
/// with `t` seconds since the start; "o" output (filtered to what draws), "i" typed input, "r"
/// a resize `COLSxROWS`, "m" a marker's label. Terminal bytes travel only as JSON strings, with
/// `<`, `>` and `&` escaped too, so no browser ever reads them as markup. A stream: a sequence or
/// character split between chunks is completed by the next one. Pure.
struct PlayerFeed {
    private var output = TerminalFilter()
    private var input: [UInt8] = []

    /// What the filter left out so far (clipboard writes, title changes, terminal queries).
    var dropped: String? { output.summary }

    mutating func line(_ chunk: Chunk) -> String {
        var out = "{\"seq\":\(chunk.seq),\"frames\":["
        var first = true
        func add(_ t: UInt64, _ code: String, _ text: String) {
            if !first { out += "," }
            first = false
            out += "[\(Self.seconds(t)),\"\(code)\","
            Self.appendJSONString(text, to: &out)
            out += "]"
        }
        for f in chunk.decodedFrames() ?? [] {
            switch f.kind {
            case .output, .stderr:
                let shown = output.feed(f.data)
                if !shown.isEmpty { add(f.offset, "o", String(decoding: shown, as: UTF8.self)) }
            case .input, .stdin:
                let bytes = input + f.data
                let cut = Transcript.completeUTF8Prefix(bytes)
                input = Array(bytes[cut...])
                if cut > 0 { add(f.offset, "i", String(decoding: bytes[..<cut], as: UTF8.self)) }
            case .resize:
                if let s = f.size { add(f.offset, "r", "\(s.cols)x\(s.rows)") }
            case .marker:
                add(f.offset, "m", Transcript.markerLabel(f.data))
            case .redacted:
                add(f.offset, "m", "input typed without echo (redacted)")
            }
        }
        return out + "]}\n"
    }

    /// The last line: whether the session has ended (a live one is fetched again from `seq`).
    func end(ended: Bool, lastSeq: Int64) -> String {
        var out = "{\"end\":true,\"ended\":\(ended),\"seq\":\(lastSeq),\"dropped\":"
        Self.appendJSONString(dropped ?? "", to: &out)
        return out + "}\n"
    }

    static func seconds(_ microseconds: UInt64) -> String {
        "\(microseconds / 1_000_000).\(String(microseconds % 1_000_000).leftPadded(6))"
    }

    /// A JSON string literal: quotes, backslashes, every control character (C0, DEL, C1, the
    /// Unicode line separators) and `<>&` as escapes. On UTF-8 bytes: recordings are large.
    static func appendJSONString(_ s: String, to out: inout String) {
        let u = Array(s.utf8)
        var bytes: [UInt8] = [0x22]
        bytes.reserveCapacity(u.count + u.count / 8 + 2)
        func escape(_ v: UInt32) {
            bytes += [0x5C, 0x75]
            for shift in [12, 8, 4, 0] as [UInt32] { bytes.append(hexDigits[Int((v >> shift) & 0xF)]) }
        }
        var k = 0
        while k < u.count {
            let b = u[k]
            switch b {
            case 0x22: bytes += [0x5C, 0x22]
            case 0x5C: bytes += [0x5C, 0x5C]
            case 0x0A: bytes += [0x5C, 0x6E]
            case 0x0D: bytes += [0x5C, 0x72]
            case 0x09: bytes += [0x5C, 0x74]
            case 0..<0x20, 0x7F, 0x3C, 0x3E, 0x26: escape(UInt32(b))
            case 0xC2 where k + 1 < u.count && (0x80...0x9F).contains(u[k + 1]):
                escape(UInt32(u[k + 1]))
                k += 1
            case 0xE2 where k + 2 < u.count && u[k + 1] == 0x80 && (u[k + 2] == 0xA8 || u[k + 2] == 0xA9):
                escape(0x2028 + UInt32(u[k + 2] - 0xA8))
                k += 2
            default: bytes.append(b)
            }
            k += 1
        }
        bytes.append(0x22)
        out += String(decoding: bytes, as: UTF8.self)
    }

    static let hexDigits = Array("0123456789abcdef".utf8)
}
