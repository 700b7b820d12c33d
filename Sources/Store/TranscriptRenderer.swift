import ShellSyntax

/// A terminal, enough of one to turn a session's output into the text it left.
///
/// The main screen is line by line: carriage returns, backspaces, erase and cursor moves along
/// the line resolved. The alternate screen (full-screen programs, or `tput smcup` hiding a whole
/// session) is a grid: what scrolls off its top, and each screen as it is cleared or left, goes
/// into the transcript between `── full screen ──` markers, so nothing shown is missing from
/// text exports or search. Standard input piped to an exec-mode line is a section of its own.
struct Renderer {
    private var lines: [String] = []
    private var line: [Character] = []
    private var column = 0
    private var screen: Screen?
    private var rows = 24
    private var cols = 80
    private var escape: [UInt8]?
    private var carry: [UInt8] = []
    private var input: [UInt8] = []

    static let fullScreenStart = "── full screen ──"
    static let fullScreenEnd = "── end of full screen ──"

    mutating func feed(_ frame: Frame) {
        switch frame.kind {
        case .output, .stderr:
            flushInput()
            feed(frame.data)
        case .stdin:
            input += frame.data
        case .resize:
            if let size = frame.size, size.rows > 0, size.cols > 0 {
                rows = min(size.rows, 500)
                cols = min(size.cols, 1000)
                screen?.resize(rows: rows, cols: cols)
            }
        default:
            break
        }
    }

    mutating func feed(_ bytes: [UInt8]) {
        let all = carry + bytes
        let cut = Transcript.completeUTF8Prefix(all)
        carry = Array(all[cut...])
        for scalar in String(decoding: all[..<cut], as: UTF8.self).unicodeScalars { step(scalar) }
    }

    private mutating func flushInput() {
        guard !input.isEmpty else { return }
        var text = Visible.lines(String(decoding: input, as: UTF8.self))
        if text.hasSuffix("\n") { text.removeLast() }
        lines.append("── standard input, \(input.count) bytes ──")
        lines += text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.append("── end of standard input ──")
        input = []
    }

    private mutating func step(_ s: Unicode.Scalar) {
        if var e = escape {
            e.append(UInt8(truncatingIfNeeded: s.value))
            escape = e
            if let done = sequenceEnd(e) { escape = nil; if done { apply(e) } }
            return
        }
        if screen != nil { screenStep(s); return }
        switch s {
        case "\u{1B}": escape = [0x1B]
        case "\r": column = 0
        case "\n", "\u{0B}", "\u{0C}": newline()
        case "\u{8}": column = max(0, column - 1)
        case "\t": put(contentsOf: Array(repeating: " ", count: 8 - column % 8))
        default:
            // C0 controls print nothing on a terminal; C1 and bidirectional controls are shown.
            if s.value < 0x20 || s.value == 0x7F { return }
            if Visible.isControl(s) { put(contentsOf: Array(Visible.shown(s))); return }
            put(contentsOf: [Character(s)])
        }
    }

    private mutating func screenStep(_ s: Unicode.Scalar) {
        switch s {
        case "\u{1B}": escape = [0x1B]
        case "\r": screen?.column = 0
        case "\n", "\u{0B}", "\u{0C}": screen?.lineFeed()
        case "\u{8}": screen?.backspace()
        case "\t": screen?.tab()
        default:
            if s.value < 0x20 || s.value == 0x7F { return }
            if Visible.isControl(s) { for c in Visible.shown(s) { screen?.put(c) }; return }
            screen?.put(Character(s))
        }
    }

    /// nil while the sequence goes on; true when complete and meaningful, false to drop it.
    private func sequenceEnd(_ e: [UInt8]) -> Bool? {
        guard e.count >= 2 else { return nil }
        switch e[1] {
        case UInt8(ascii: "["):
            guard e.count >= 3, let last = e.last, (0x40...0x7E).contains(last) else { return e.count > 64 ? false : nil }
            return true
        case UInt8(ascii: "]"), UInt8(ascii: "P"), UInt8(ascii: "_"), UInt8(ascii: "^"), UInt8(ascii: "X"):
            if e.last == 0x07 || (e.count >= 2 && e[e.count - 2] == 0x1B && e.last == UInt8(ascii: "\\")) { return false }
            return e.count > 4096 ? false : nil
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "#"), UInt8(ascii: "%"):
            return e.count >= 3 ? false : nil
        case UInt8(ascii: "7"), UInt8(ascii: "8"), UInt8(ascii: "M"), UInt8(ascii: "D"), UInt8(ascii: "E"):
            return true
        default:
            return false
        }
    }

    private mutating func apply(_ e: [UInt8]) {
        if e[1] != UInt8(ascii: "[") {
            switch e[1] {
            case UInt8(ascii: "7"): screen?.saveCursor()
            case UInt8(ascii: "8"): screen?.restoreCursor()
            case UInt8(ascii: "M"): screen?.reverseIndex()
            case UInt8(ascii: "D"): screen?.lineFeed()
            case UInt8(ascii: "E"): screen?.column = 0; screen?.lineFeed()
            default: break
            }
            return
        }
        let body = String(decoding: e.dropFirst(2).dropLast(), as: UTF8.self)
        if body.hasPrefix("?") {
            let modes = body.dropFirst().split(separator: ";")
            if modes.contains(where: { ["1049", "47", "1047"].contains($0) }) {
                if e.last == UInt8(ascii: "h") { enterAlternate() } else if e.last == UInt8(ascii: "l") { leaveAlternate() }
            }
            return
        }
        let numbers = body.split(separator: ";", omittingEmptySubsequences: false).map { Int($0) }
        let n = max(1, numbers.first.flatMap { $0 } ?? 1)
        let final = e[e.count - 1]
        if screen != nil { screen?.apply(final, numbers, n); return }
        switch final {
        case UInt8(ascii: "K"):
            if (body.isEmpty || body == "0") && column < line.count { line.removeSubrange(column...) }
            if body == "2" { line.removeAll() }
        case UInt8(ascii: "C"): column += n
        case UInt8(ascii: "D"): column = max(0, column - n)
        case UInt8(ascii: "G"): column = max(0, n - 1)
        default: break
        }
    }

    private mutating func enterAlternate() {
        guard screen == nil else { return }
        if !line.isEmpty { newline() }
        line = []
        column = 0
        screen = Screen(rows: rows, cols: cols)
    }

    private mutating func leaveAlternate() {
        guard var s = screen else { return }
        s.snapshot()
        if !s.emitted.isEmpty { lines += [Renderer.fullScreenStart] + s.emitted + [Renderer.fullScreenEnd] }
        screen = nil
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
        lines.append(Screen.trimmed(line))
        line = []
        column = 0
    }

    mutating func finish() -> String {
        flushInput()
        leaveAlternate()
        if !line.isEmpty { newline() }
        return lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")
    }
}

/// The alternate screen as a grid of cells, and the lines it has let go of.
struct Screen {
    private(set) var rows: Int
    private(set) var cols: Int
    private var cells: [[Character]]
    private var row = 0
    var column = 0
    private var saved = (0, 0)
    /// Lines lost off the top and whole screens at each clear, in order.
    private(set) var emitted: [String] = []
    private var lastSnapshot: [String] = []

    init(rows: Int, cols: Int) {
        self.rows = max(1, rows)
        self.cols = max(1, cols)
        cells = Array(repeating: Array(repeating: " ", count: max(1, cols)), count: max(1, rows))
    }

    static func trimmed(_ chars: [Character]) -> String {
        var end = chars.count
        while end > 0 && chars[end - 1] == " " { end -= 1 }
        return String(chars[..<end])
    }

    private var blank: [Character] { Array(repeating: " ", count: cols) }

    mutating func resize(rows: Int, cols: Int) {
        cells = (0..<rows).map { r in
            let old = r < cells.count ? cells[r] : []
            return (0..<cols).map { c in c < old.count ? old[c] : " " }
        }
        self.rows = rows
        self.cols = cols
        row = min(row, rows - 1)
        column = min(column, cols - 1)
    }

    mutating func put(_ c: Character) {
        if column >= cols { column = 0; lineFeed() }
        cells[row][column] = c
        column += 1
    }

    mutating func lineFeed() {
        if row < rows - 1 { row += 1; return }
        emitted.append(Screen.trimmed(cells[0]))
        cells.removeFirst()
        cells.append(blank)
    }

    mutating func reverseIndex() {
        if row > 0 { row -= 1; return }
        cells.removeLast()
        cells.insert(blank, at: 0)
    }

    mutating func saveCursor() { saved = (row, column) }
    mutating func backspace() { column = max(0, column - 1) }
    mutating func tab() { column = min(cols - 1, (column / 8 + 1) * 8) }
    mutating func restoreCursor() { (row, column) = (min(saved.0, rows - 1), min(saved.1, cols - 1)) }

    /// The screen's text, once for each different screen (a program redrawing the same screen
    /// after each clear adds it once).
    mutating func snapshot() {
        var text = cells.map(Screen.trimmed)
        while text.last?.isEmpty == true { text.removeLast() }
        while text.first?.isEmpty == true { text.removeFirst() }
        guard !text.isEmpty, text != lastSnapshot else { return }
        emitted += text
        lastSnapshot = text
    }

    mutating func apply(_ final: UInt8, _ numbers: [Int?], _ n: Int) {
        func number(_ k: Int) -> Int { k < numbers.count ? (numbers[k] ?? 0) : 0 }
        switch final {
        case UInt8(ascii: "H"), UInt8(ascii: "f"):
            row = min(rows - 1, max(1, number(0)) - 1)
            column = min(cols - 1, max(1, number(1)) - 1)
        case UInt8(ascii: "A"): row = max(0, row - n)
        case UInt8(ascii: "B"), UInt8(ascii: "e"): row = min(rows - 1, row + n)
        case UInt8(ascii: "C"), UInt8(ascii: "a"): column = min(cols - 1, column + n)
        case UInt8(ascii: "D"): column = max(0, column - n)
        case UInt8(ascii: "E"): row = min(rows - 1, row + n); column = 0
        case UInt8(ascii: "F"): row = max(0, row - n); column = 0
        case UInt8(ascii: "G"), UInt8(ascii: "`"): column = min(cols - 1, n - 1)
        case UInt8(ascii: "d"): row = min(rows - 1, n - 1)
        case UInt8(ascii: "s"): saveCursor()
        case UInt8(ascii: "u"): restoreCursor()
        case UInt8(ascii: "J"):
            switch number(0) {
            case 0:
                clear(row, from: column)
                for r in (row + 1)..<max(row + 1, rows) { cells[r] = blank }
            case 1:
                for r in 0..<row { cells[r] = blank }
                for c in 0...min(column, cols - 1) { cells[row][c] = " " }
            default:
                snapshot()
                cells = Array(repeating: blank, count: rows)
            }
        case UInt8(ascii: "K"):
            switch number(0) {
            case 0: clear(row, from: column)
            case 1: for c in 0...min(column, cols - 1) { cells[row][c] = " " }
            default: cells[row] = blank
            }
        case UInt8(ascii: "X"):
            for c in column..<min(cols, column + n) { cells[row][c] = " " }
        case UInt8(ascii: "P"):
            let k = min(n, cols - column)
            cells[row].removeSubrange(column..<(column + k))
            cells[row] += Array(repeating: " ", count: k)
        case UInt8(ascii: "@"):
            let k = min(n, cols - column)
            cells[row].insert(contentsOf: Array(repeating: " ", count: k), at: column)
            cells[row].removeLast(k)
        case UInt8(ascii: "L"):
            for _ in 0..<min(n, rows - row) { cells.insert(blank, at: row); cells.removeLast() }
        case UInt8(ascii: "M"):
            for _ in 0..<min(n, rows - row) { cells.remove(at: row); cells.append(blank) }
        default:
            break
        }
    }

    private mutating func clear(_ r: Int, from c: Int) {
        guard c < cols else { return }
        for k in c..<cols { cells[r][k] = " " }
    }
}
