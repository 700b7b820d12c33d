import Foundation

/// A recording as reviewers read it: rendered text, asciicast v2, JSON. Pure: frames in, bytes out.
public enum Transcript {
    /// The text a terminal would have left, line by line: carriage returns, backspaces, erase to
    /// end of line and cursor moves resolved, other control sequences dropped, full-screen
    /// programs' alternate screen left out (it is not a transcript; replay shows it).
    public static func render(_ frames: [Frame]) -> String {
        var r = Renderer()
        for f in frames where f.kind == .output || f.kind == .stderr { r.feed(f.data) }
        return r.finish()
    }

    /// What full-text search indexes for one chunk: its output, rendered.
    public static func searchableText(_ frames: [Frame]) -> String {
        render(frames).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// asciicast v2 (one JSON header line, then `[time, code, data]` lines): output and stderr as
    /// "o", typed input as "i", resizes as "r", decisions and other markers as "m".
    public static func asciicast(_ session: SessionRecord, _ frames: [Frame]) -> String {
        var header: [String: Any] = ["version": 2, "width": session.width, "height": session.height,
                                     "timestamp": session.startedAt / 1_000_000,
                                     "title": "jitsh \(session.id): \(session.identity) as \(session.role) on \(session.host)",
                                     "env": ["TERM": "xterm-256color", "SHELL": "/bin/bash"]]
        if let size = frames.first(where: { $0.kind == .resize })?.size, size.cols > 0, frames.first?.kind == .resize {
            header["width"] = size.cols
            header["height"] = size.rows
        }
        var lines = [json(header)]
        var pending: [Frame.Kind: [UInt8]] = [:]
        for f in frames {
            let t = Double(f.offset) / 1_000_000
            func event(_ code: String, _ text: String) { lines.append(json([(t * 1_000_000).rounded() / 1_000_000, code, text])) }
            switch f.kind {
            case .output, .stderr, .input:
                // A character split between two frames is sent whole, with the later one.
                let key: Frame.Kind = f.kind == .input ? .input : .output
                let bytes = (pending[key] ?? []) + f.data
                let cut = completeUTF8Prefix(bytes)
                pending[key] = Array(bytes[cut...])
                if cut > 0 { event(key == .input ? "i" : "o", String(decoding: bytes[..<cut], as: UTF8.self)) }
            case .resize:
                if let s = f.size { event("r", "\(s.cols)x\(s.rows)") }
            case .marker:
                event("m", markerLabel(f.data))
            case .redacted:
                event("m", "input typed without echo (redacted)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `decided deny: rm -rf / (roles/x.yaml:3)` from a marker's JSON.
    public static func markerLabel(_ data: [UInt8]) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else { return "marker" }
        let event = object["event"] as? String ?? "marker"
        var label = event
        if let decision = object["decision"] as? String { label += " \(decision)" }
        if let line = object["line"] as? String { label += ": \(line)" }
        if let program = object["program"] as? String { label += ": \(program)" }
        if let reason = object["reason"] as? String, !reason.isEmpty { label += " (\(reason))" }
        if let status = object["status"] { label += " \(status)" }
        return label
    }

    /// The frames as JSON lines: time, kind, text (or base64 when not UTF-8).
    public static func jsonLines(_ frames: [Frame]) -> String {
        frames.map { f -> String in
            var o: [String: Any] = ["t": Double(f.offset) / 1_000_000, "kind": kindName(f.kind)]
            switch f.kind {
            case .resize: if let s = f.size { o["rows"] = s.rows; o["cols"] = s.cols }
            case .marker: o["marker"] = (try? JSONSerialization.jsonObject(with: Data(f.data))) ?? [:]
            case .redacted: o["redacted"] = true
            default:
                if let s = String(validating: f.data, as: UTF8.self) { o["text"] = s } else { o["base64"] = Data(f.data).base64EncodedString() }
            }
            return json(o)
        }.joined(separator: "\n") + (frames.isEmpty ? "" : "\n")
    }

    public static func kindName(_ k: Frame.Kind) -> String {
        switch k {
        case .output: return "output"
        case .input: return "input"
        case .stderr: return "stderr"
        case .resize: return "resize"
        case .marker: return "marker"
        case .redacted: return "redacted"
        }
    }

    static func completeUTF8Prefix(_ bytes: [UInt8]) -> Int {
        var k = bytes.count
        var back = 0
        while k > 0 && back < 4 {
            let b = bytes[k - 1]
            if b & 0xC0 == 0x80 { k -= 1; back += 1; continue }
            if b >= 0xC0 {
                let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
                return back + 1 >= need ? bytes.count : k - 1
            }
            return bytes.count
        }
        return bytes.count
    }

    static func json(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A line-oriented terminal: enough to turn a session's output into the text it left.
struct Renderer {
    private var lines: [String] = []
    private var line: [Character] = []
    private var column = 0
    private var alternate = false
    private var escape: [UInt8]?
    private var carry: [UInt8] = []

    mutating func feed(_ bytes: [UInt8]) {
        let all = carry + bytes
        let cut = Transcript.completeUTF8Prefix(all)
        carry = Array(all[cut...])
        for scalar in String(decoding: all[..<cut], as: UTF8.self).unicodeScalars { step(scalar) }
    }

    private mutating func step(_ s: Unicode.Scalar) {
        if var e = escape {
            e.append(UInt8(truncatingIfNeeded: s.value))
            escape = e
            if let done = sequenceEnd(e) { escape = nil; if done { apply(e) } }
            return
        }
        switch s {
        case "\u{1B}": escape = [0x1B]
        case "\r": column = 0
        case "\n": newline()
        case "\u{8}": column = max(0, column - 1)
        case "\t": put(contentsOf: Array(repeating: " ", count: 8 - column % 8))
        default:
            if s.value < 0x20 || s.value == 0x7F { return }
            if !alternate { put(contentsOf: [Character(s)]) }
        }
    }

    /// nil while the sequence goes on; true when complete and meaningful, false to drop it.
    private func sequenceEnd(_ e: [UInt8]) -> Bool? {
        guard e.count >= 2 else { return nil }
        switch e[1] {
        case UInt8(ascii: "["):
            guard e.count >= 3, let last = e.last, (0x40...0x7E).contains(last) else { return e.count > 64 ? false : nil }
            return true
        case UInt8(ascii: "]"), UInt8(ascii: "P"), UInt8(ascii: "_"):
            if e.last == 0x07 || (e.count >= 2 && e[e.count - 2] == 0x1B && e.last == UInt8(ascii: "\\")) { return false }
            return e.count > 4096 ? false : nil
        case UInt8(ascii: "("), UInt8(ascii: ")"):
            return e.count >= 3 ? false : nil
        default:
            return false
        }
    }

    private mutating func apply(_ e: [UInt8]) {
        let body = String(decoding: e.dropFirst(2).dropLast(), as: UTF8.self)
        let n = max(1, Int(body) ?? 1)
        switch e.last {
        case UInt8(ascii: "K"):
            if !alternate && (body.isEmpty || body == "0") && column < line.count { line.removeSubrange(column...) }
            if body == "2" { line.removeAll() }
        case UInt8(ascii: "C"): column += n
        case UInt8(ascii: "D"): column = max(0, column - n)
        case UInt8(ascii: "G"): column = max(0, n - 1)
        case UInt8(ascii: "h"), UInt8(ascii: "l"):
            if ["?1049", "?47", "?1047"].contains(body) { alternate = e.last == UInt8(ascii: "h"); if alternate { newline() } }
        default: break
        }
    }

    private mutating func put(contentsOf chars: [Character]) {
        for c in chars {
            if column < line.count { line[column] = c } else {
                if column > line.count { line += Array(repeating: " ", count: column - line.count) }
                line.append(c)
            }
            column += 1
        }
    }

    private mutating func newline() {
        if !alternate || !line.isEmpty {
            let text = String(line)
            if !(alternate && text.isEmpty) { lines.append(text.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)) }
        }
        line = []
        column = 0
    }

    mutating func finish() -> String {
        if !line.isEmpty { newline() }
        return lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")
    }
}
