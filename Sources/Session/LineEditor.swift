import Foundation

/// jitsh's own line editor: emacs keys, history with Ctrl-R search, Tab completion. It is fed
/// bytes from the raw terminal and returns what to draw, so the session stays one event loop.
final class LineEditor {
    enum Event: Equatable {
        case submit(String)
        case endOfInput
        case interrupt
    }

    private(set) var buffer: [Unicode.Scalar] = []
    private(set) var cursor = 0
    private(set) var prompt = ""
    var history: [String] = []
    private var historyIndex: Int?
    private var stash: [Unicode.Scalar] = []
    private var killRing: [Unicode.Scalar] = []
    private var escape: [UInt8] = []
    private var utf8: [UInt8] = []
    private var search: (query: [Unicode.Scalar], match: Int?)?
    private var lastWasTab = false
    /// The line as the terminal shows it after the prompt, and its cursor (nil: unknown, after
    /// the search prompt). Edits send only what changed, as readline does: a redraw per key
    /// made recordings show each line dozens of times and slow links pay ~50 bytes a key.
    private var shown: (line: [Unicode.Scalar], cursor: Int)?
    /// Bytes typed after a submitted line, kept for the lines after it: every byte belongs to
    /// exactly one line, whatever a read delivered at once.
    private var pending: [UInt8] = []
    /// Inside a bracketed paste (ESC [200~ … ESC [201~): what was pasted so far.
    private var paste: [UInt8]?
    /// Dropping bytes up to the next line end (the start of that line went to a job).
    var skippingToLineEnd = false
    /// Bytes dropped since the caller last asked (invalid UTF-8, a paste over the bound, the
    /// rest of a line whose start went to a job): the session marks them in the recording.
    private(set) var dropped = 0
    static let pasteLimit = 1 << 20
    /// Bracketed paste on (at the prompt) and off (before a line runs), as readline does.
    static let pasteOn = Array("\u{1B}[?2004h".utf8), pasteOff = Array("\u{1B}[?2004l".utf8)

    var hasPending: Bool { !pending.isEmpty }

    func takeDropped() -> Int {
        defer { dropped = 0 }
        return dropped
    }
    let complete: (_ line: String, _ cursor: Int) -> [String]

    init(history: [String], complete: @escaping (String, Int) -> [String]) {
        self.history = history
        self.complete = complete
    }

    var text: String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: buffer)
        return String(s)
    }

    /// Starts a new line under `prompt`; returns what to draw.
    func begin(prompt: String) -> [UInt8] {
        self.prompt = prompt
        buffer = []
        cursor = 0
        historyIndex = nil
        search = nil
        return LineEditor.pasteOn + render()
    }

    /// The whole line drawn again from the start of the row (the cursor may be anywhere).
    func render() -> [UInt8] {
        var out = "\r"
        if let search {
            let match = search.match.map { history[$0] } ?? ""
            out += "(reverse-i-search)`\(String(String.UnicodeScalarView(search.query)))': \(match)\u{1B}[K"
            shown = nil
            return Array(out.utf8)
        }
        let line = visible
        out += prompt + String(String.UnicodeScalarView(line)) + "\u{1B}[K" + TerminalColumns.move(line[cursor...], back: true)
        shown = (line, cursor)
        return Array(out.utf8)
    }

    /// A pasted newline stays in the line, shown as ↵, until Enter runs the whole of it.
    private var visible: [Unicode.Scalar] {
        buffer.map { $0 == "\n" ? "↵" : $0 == "\t" ? "⇥" : $0 }
    }

    /// What turns the line shown into the line now: the cursor back to the first difference,
    /// the rest written, what is left of the old line cleared, the cursor put in place.
    private func refresh() -> [UInt8] {
        guard search == nil, let (old, at) = shown else { return render() }
        let line = visible
        var out: String
        if line == old {
            out = at > cursor ? TerminalColumns.move(line[cursor..<at], back: true) : TerminalColumns.move(line[at..<cursor], back: false)
        } else {
            var same = 0
            while same < old.count && same < line.count && old[same] == line[same] { same += 1 }
            out = at > same ? TerminalColumns.move(old[same..<at], back: true) : TerminalColumns.move(old[at..<same], back: false)
            out += String(String.UnicodeScalarView(line[same...]))
            if TerminalColumns.width(old[same...]) > TerminalColumns.width(line[same...]) { out += "\u{1B}[K" }
            out += TerminalColumns.move(line[cursor...], back: true)
        }
        shown = (line, cursor)
        return Array(out.utf8)
    }

    /// Feeds typed bytes; returns what to draw and what happened.
    func feed(_ bytes: [UInt8]) -> (output: [UInt8], events: [Event]) {
        var output: [UInt8] = []
        var events: [Event] = []
        let input = pending + bytes
        pending = []
        for (k, b) in input.enumerated() {
            if !events.isEmpty {
                pending = Array(input[k...])
                break
            }
            if skippingToLineEnd {
                if b == 0x0D || b == 0x0A { skippingToLineEnd = false }
                dropped += 1
                continue
            }
            if paste != nil {
                pasted(b, &output)
                continue
            }
            if !escape.isEmpty || b == 0x1B {
                escape.append(b)
                if let done = escapeSequence() {
                    escape.removeAll()
                    output += key(done, &events)
                } else if escape.count > 8 {
                    escape.removeAll()
                }
                continue
            }
            if b >= 0x80 || !utf8.isEmpty {
                // A byte that cannot continue the sequence ends it as invalid; the byte itself is
                // then a key of its own (an Enter or Ctrl-C after a stray byte is not lost).
                if !utf8.isEmpty && b & 0xC0 != 0x80 {
                    dropped += utf8.count
                    utf8.removeAll()
                    output += [0x07]
                    if b < 0x80 {
                        output += key(.byte(b), &events)
                        continue
                    }
                }
                if utf8.isEmpty && !(0xC2...0xF4).contains(b) {
                    dropped += 1
                    output += [0x07]
                    continue
                }
                utf8.append(b)
                if let s = String(validating: utf8, as: UTF8.self), let scalar = s.unicodeScalars.first {
                    utf8.removeAll()
                    output += insert([scalar])
                } else if utf8.count >= LineEditor.sequenceLength(utf8[0]) {
                    dropped += utf8.count
                    utf8.removeAll()
                    output += [0x07]
                }
                continue
            }
            output += key(.byte(b), &events)
        }
        return (output, events)
    }

    static func sequenceLength(_ lead: UInt8) -> Int { lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2 }

    /// A byte inside a bracketed paste: kept until the closing ESC [201~, then inserted as text
    /// (newlines and tabs included; other control bytes and invalid UTF-8 dropped).
    private func pasted(_ b: UInt8, _ output: inout [UInt8]) {
        paste!.append(b)
        let end: [UInt8] = [0x1B, 0x5B, 0x32, 0x30, 0x31, 0x7E]
        if paste!.count > LineEditor.pasteLimit + end.count {
            dropped += paste!.count
            paste = nil
            output += [0x07]
            return
        }
        guard paste!.count >= end.count, Array(paste!.suffix(end.count)) == end else { return }
        var text = Array(paste!.dropLast(end.count))
        paste = nil
        // Terminals send Enter in a paste as CR; a CR LF pair is one line end.
        var normalized: [UInt8] = []
        var k = 0
        while k < text.count {
            let c = text[k]
            if c == 0x0D {
                normalized.append(0x0A)
                if k + 1 < text.count && text[k + 1] == 0x0A { k += 1 }
            } else if c == 0x0A || c == 0x09 || c >= 0x20 && c != 0x7F {
                normalized.append(c)
            } else {
                dropped += 1
            }
            k += 1
        }
        text = normalized
        let scalars = Array(String(decoding: text, as: UTF8.self).unicodeScalars)
        let clean = scalars.filter { $0 != "\u{FFFD}" }
        if clean.count != scalars.count { dropped += scalars.count - clean.count }
        output += insert(clean)
    }

    enum Key: Equatable {
        case byte(UInt8)
        case up, down, left, right, home, end, delete, wordLeft, wordRight
        case pasteStart
        case unknown
    }

    private func escapeSequence() -> Key? {
        guard escape.count >= 2 else { return nil }
        let s = String(decoding: escape, as: UTF8.self)
        switch s {
        case "\u{1B}[A", "\u{1B}OA": return .up
        case "\u{1B}[B", "\u{1B}OB": return .down
        case "\u{1B}[C", "\u{1B}OC": return .right
        case "\u{1B}[D", "\u{1B}OD": return .left
        case "\u{1B}[H", "\u{1B}OH", "\u{1B}[1~", "\u{1B}[7~": return .home
        case "\u{1B}[F", "\u{1B}OF", "\u{1B}[4~", "\u{1B}[8~": return .end
        case "\u{1B}[3~": return .delete
        case "\u{1B}[200~": return .pasteStart
        case "\u{1B}b", "\u{1B}[1;5D", "\u{1B}[1;3D": return .wordLeft
        case "\u{1B}f", "\u{1B}[1;5C", "\u{1B}[1;3C": return .wordRight
        default:
            // ESC [ … final byte, or ESC x: a sequence we do not know ends here.
            if escape[1] == UInt8(ascii: "[") || escape[1] == UInt8(ascii: "O") {
                if escape.count >= 3, let last = escape.last, (0x40...0x7E).contains(last) { return .unknown }
                return nil
            }
            return .unknown
        }
    }

    private func insert(_ scalars: [Unicode.Scalar]) -> [UInt8] {
        if search != nil { return searchInput(scalars) }
        buffer.insert(contentsOf: scalars, at: cursor)
        cursor += scalars.count
        return refresh()
    }

    private func key(_ k: Key, _ events: inout [Event]) -> [UInt8] {
        let tab = k == .byte(0x09)
        defer { lastWasTab = tab }
        if search != nil, case .byte(let b) = k, b != 0x12, b != 0x07, b != 0x03, b != 0x7F, b != 0x08, b >= 0x20 || b == 0x0D {
            if b >= 0x20 { return searchInput([Unicode.Scalar(b)]) }
        }
        if search != nil {
            switch k {
            case .byte(0x12): return searchNext()
            case .byte(0x07), .byte(0x03):
                search = nil
                return render()
            case .byte(0x7F), .byte(0x08):
                if !(search?.query.isEmpty ?? true) { search?.query.removeLast() }
                return searchRefresh(from: history.count)
            default:
                // Accept the match and handle the key in the line.
                if let m = search?.match { buffer = Array(history[m].unicodeScalars); cursor = buffer.count }
                search = nil
                if k == .byte(0x0D) { break }
                return render() + key(k, &events)
            }
        }
        switch k {
        case .pasteStart:
            paste = []
            return []
        case .byte(0x0D), .byte(0x0A):
            events.append(.submit(text))
            return Array("\r\n".utf8) + LineEditor.pasteOff
        case .byte(0x03):
            events.append(.interrupt)
            return Array("^C\r\n".utf8)
        case .byte(0x04):
            if buffer.isEmpty {
                events.append(.endOfInput)
                return []
            }
            return deleteForward()
        case .byte(0x01), .home: cursor = 0
        case .byte(0x05), .end: cursor = buffer.count
        case .byte(0x02), .left: cursor = max(0, cursor - 1)
        case .byte(0x06), .right: cursor = min(buffer.count, cursor + 1)
        case .byte(0x7F), .byte(0x08):
            guard cursor > 0 else { return [] }
            buffer.remove(at: cursor - 1)
            cursor -= 1
        case .delete: return deleteForward()
        case .byte(0x0B):
            killRing = Array(buffer[cursor...])
            buffer.removeSubrange(cursor...)
        case .byte(0x15):
            killRing = Array(buffer[..<cursor])
            buffer.removeSubrange(..<cursor)
            cursor = 0
        case .byte(0x17):
            var start = cursor
            while start > 0, buffer[start - 1] == " " { start -= 1 }
            while start > 0, buffer[start - 1] != " " { start -= 1 }
            killRing = Array(buffer[start..<cursor])
            buffer.removeSubrange(start..<cursor)
            cursor = start
        case .byte(0x19):
            buffer.insert(contentsOf: killRing, at: cursor)
            cursor += killRing.count
        case .wordLeft:
            while cursor > 0, buffer[cursor - 1] == " " { cursor -= 1 }
            while cursor > 0, buffer[cursor - 1] != " " { cursor -= 1 }
        case .wordRight:
            while cursor < buffer.count, buffer[cursor] == " " { cursor += 1 }
            while cursor < buffer.count, buffer[cursor] != " " { cursor += 1 }
        case .byte(0x10), .up: return historyMove(-1)
        case .byte(0x0E), .down: return historyMove(1)
        case .byte(0x0C): return Array("\u{1B}[H\u{1B}[2J".utf8) + render()
        case .byte(0x12):
            search = ([], nil)
            return render()
        case .byte(0x09): return completion()
        case .byte(let b) where b >= 0x20 && b < 0x7F: return insert([Unicode.Scalar(b)])
        default: return []
        }
        return refresh()
    }

    private func deleteForward() -> [UInt8] {
        guard cursor < buffer.count else { return [] }
        buffer.remove(at: cursor)
        return refresh()
    }

    private func historyMove(_ step: Int) -> [UInt8] {
        guard !history.isEmpty else { return [] }
        let current = historyIndex ?? history.count
        let next = current + step
        guard next >= 0, next <= history.count else { return [] }
        if historyIndex == nil { stash = buffer }
        historyIndex = next == history.count ? nil : next
        buffer = next == history.count ? stash : Array(history[next].unicodeScalars)
        cursor = buffer.count
        return refresh()
    }

    private func searchInput(_ scalars: [Unicode.Scalar]) -> [UInt8] {
        search?.query += scalars
        return searchRefresh(from: search?.match.map { $0 + 1 } ?? history.count)
    }

    private func searchRefresh(from start: Int) -> [UInt8] {
        guard let q = search?.query else { return render() }
        let needle = String(String.UnicodeScalarView(q))
        var k = min(start, history.count) - 1
        while k >= 0 {
            if needle.isEmpty || history[k].contains(needle) { break }
            k -= 1
        }
        let previous = search?.match
        search?.match = k >= 0 ? k : previous
        return render()
    }

    private func searchNext() -> [UInt8] {
        guard let m = search?.match else { return searchRefresh(from: history.count) }
        return searchRefresh(from: m)
    }

    private func completion() -> [UInt8] {
        let line = text
        let candidates = complete(line, cursor)
        var start = cursor
        while start > 0, buffer[start - 1] != " " { start -= 1 }
        let word = String(String.UnicodeScalarView(buffer[start..<cursor]))
        guard !candidates.isEmpty else { return [0x07] }
        var common = candidates[0]
        for c in candidates.dropFirst() {
            while !c.hasPrefix(common) { common.removeLast() }
        }
        if candidates.count == 1 {
            let completed = candidates[0] + (candidates[0].hasSuffix("/") ? "" : " ")
            return replace(word: start, with: completed)
        }
        if common.count > word.count { return replace(word: start, with: common) }
        if lastWasTab {
            let list = candidates.sorted().joined(separator: "  ")
            return Array("\r\n\(list)\r\n".utf8) + render()
        }
        return [0x07]
    }

    private func replace(word start: Int, with text: String) -> [UInt8] {
        buffer.replaceSubrange(start..<cursor, with: Array(text.unicodeScalars))
        cursor = start + text.unicodeScalars.count
        return refresh()
    }
}
