import Foundation
import ShellSyntax

/// A recording as reviewers read it: rendered text, asciicast v2, JSON. Pure: frames in, bytes out.
public enum Transcript {
    /// The text a terminal would have left, line by line: carriage returns, backspaces, erase to
    /// end of line and cursor moves resolved, other control sequences dropped; the alternate
    /// screen and exec mode's standard input in marked sections of their own (`Renderer`).
    /// No control character is left in it.
    public static func render(_ frames: [Frame]) -> String {
        var r = Renderer()
        for f in frames { r.feed(f) }
        return r.finish()
    }

    /// What full-text search indexes for one chunk: its output, rendered.
    public static func searchableText(_ frames: [Frame]) -> String {
        render(frames).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// asciicast v2 (one JSON header line, then `[time, code, data]` lines): output and stderr as
    /// "o", typed and piped input as "i", resizes as "r", decisions and other markers as "m".
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
            case .output, .stderr, .input, .stdin:
                // A character split between two frames is sent whole, with the later one.
                let key: Frame.Kind = f.kind == .input || f.kind == .stdin ? .input : .output
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
        if event == "snapshot", let changes = object["changes"] as? [String] { label += ": " + changes.joined(separator: "; ") }
        if event == "snapshot-restored", let paths = object["restored"] as? [String] { label += ": " + paths.joined(separator: ", ") }
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
        case .stdin: return "stdin"
        }
    }

    /// How many of `bytes` end on a whole UTF-8 character (a character cut at a chunk's end waits for the next).
    public static func completeUTF8Prefix(_ bytes: [UInt8]) -> Int {
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
        return Visible.json(String(decoding: data, as: UTF8.self))
    }
}

extension Transcript {
    /// The diff of each snapshot marker, in order (without its last newline): what a line changed
    /// in watched files, shown by `sessions show` and the web app at that moment.
    public static func snapshotDiffs(_ frames: [Frame]) -> [String] {
        frames.compactMap { frame in
            guard frame.kind == .marker, let o = try? JSONSerialization.jsonObject(with: Data(frame.data)) as? [String: Any],
                  o["event"] as? String == "snapshot" else { return nil }
            var diff = o["diff"] as? String ?? ""
            if diff.hasSuffix("\n") { diff.removeLast() }
            return diff
        }
    }
}
