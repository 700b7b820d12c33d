/// What of a recording may reach a reviewer's terminal when it is played back.
///
/// A recording holds whatever the session printed, and the person reviewed chose that. Played raw,
/// `ESC ] 52` writes the reviewer's clipboard, a title set renames their window, and requests
/// such as `ESC [ 6 n` (where is the cursor?) or `ESC [ c` (what are you?) make the terminal type
/// its answer into the reviewer's own input. So only what draws passes: text, cursor moves,
/// colour (SGR), erase and scroll, the alternate screen and a few harmless modes. Everything
/// else is left out and counted, so replay can say what it did not show.
///
/// A stream: sequences and characters split between frames are held until complete. Pure.
public struct TerminalFilter: Sendable {
    /// How many sequences of each kind were left out, by a name a reviewer understands.
    public private(set) var dropped: [String: Int] = [:]

    private enum State: Sendable {
        case ground
        case escape
        /// `ESC (`, `ESC #` …: one more byte ends it.
        case escapeWith(UInt8)
        case csi
        /// OSC, DCS, APC, PM, SOS: up to BEL or `ESC \`; none passes.
        case string(introducer: UInt8, sawEscape: Bool)
    }

    private var state = State.ground
    /// The sequence so far (a CSI whole; a string's first bytes, to name it).
    private var sequence: [UInt8] = []
    private var stringLength = 0
    /// A UTF-8 character begun but not finished.
    private var character: [UInt8] = []
    private var characterNeeds = 0

    static let maxCSI = 64
    static let maxString = 1 << 16
    /// Private modes (`CSI ? n h/l`) that only change how the screen is drawn or the cursor looks.
    static let safePrivateModes: Set<Int> = [1, 7, 12, 25, 47, 1047, 1048, 1049, 2004]
    /// CSI finals without parameters of their own kind that move the cursor, erase, scroll, colour.
    static let drawingFinals = Set("@ABCDEFGHIJKLMPSTXZ`abdefgmrsu".utf8)

    public init() {}

    /// The bytes of `input` that may reach a terminal (with what an earlier call held back).
    public mutating func feed(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        for b in input { step(b, &out) }
        return out
    }

    /// The end of the stream: an unfinished sequence is left out.
    public mutating func finish() -> [UInt8] {
        switch state {
        case .ground: break
        case .string(let introducer, _): drop(Self.stringName(introducer, sequence))
        default: drop("unfinished escape sequence")
        }
        state = .ground
        sequence = []
        if !character.isEmpty { character = []; characterNeeds = 0 }
        return []
    }

    /// One line for the reviewer: `left out 2 terminal sequences: clipboard write (OSC 52) ×1, …`; nil when none.
    public var summary: String? {
        let total = dropped.values.reduce(0, +)
        guard total > 0 else { return nil }
        let parts = dropped.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }
        return "left out \(total) terminal sequence\(total == 1 ? "" : "s") that could act on your terminal: " + parts.joined(separator: ", ")
    }

    private mutating func drop(_ name: String) { dropped[name, default: 0] += 1 }

    private mutating func step(_ b: UInt8, _ out: inout [UInt8]) {
        switch state {
        case .ground:
            ground(b, &out)
        case .escape:
            escape(b, &out)
        case .escapeWith(let first):
            state = .ground
            // Character sets: ASCII and line drawing are what full-screen programs use.
            if (first == UInt8(ascii: "(") || first == UInt8(ascii: ")")) && (b == UInt8(ascii: "B") || b == UInt8(ascii: "0")) {
                out += [0x1B, first, b]
            } else if b < 0x20 || b > 0x7E {
                drop("other escape sequence")
                ground(b, &out)
            } else {
                drop("other escape sequence")
            }
        case .csi:
            csi(b, &out)
        case .string(let introducer, let sawEscape):
            if sawEscape {
                // `ESC \` ends the string; any other escape ends it too and starts anew.
                drop(Self.stringName(introducer, sequence))
                sequence = []
                state = .ground
                if b != UInt8(ascii: "\\") { state = .escape; sequence = [0x1B]; escape(b, &out) }
            } else if b == 0x07 && introducer == UInt8(ascii: "]") || b == 0x18 || b == 0x1A {
                drop(Self.stringName(introducer, sequence))
                sequence = []
                state = .ground
            } else if b == 0x1B {
                state = .string(introducer: introducer, sawEscape: true)
            } else {
                if sequence.count < 16 { sequence.append(b) }
                stringLength += 1
                if stringLength > Self.maxString {
                    // Terminals give up on endless strings too; what follows is text again.
                    drop(Self.stringName(introducer, sequence))
                    sequence = []
                    state = .ground
                }
            }
        }
    }

    private mutating func ground(_ b: UInt8, _ out: inout [UInt8]) {
        if characterNeeds > 0 {
            if b & 0xC0 == 0x80 {
                character.append(b)
                characterNeeds -= 1
                if characterNeeds == 0 {
                    // U+0080–U+009F: C1 controls (CSI, OSC, DCS …) spelled in UTF-8.
                    if character.count == 2 && character[0] == 0xC2 && character[1] < 0xA0 { drop("C1 control") } else { out += character }
                    character = []
                }
                return
            }
            // Not a character after all: its bytes are shown as they came (the terminal shows �).
            out += character
            character = []
            characterNeeds = 0
        }
        switch b {
        case 0x1B:
            state = .escape
            sequence = [0x1B]
        case 0x07, 0x08, 0x09, 0x0A, 0x0D:
            out.append(b)
        case 0x00..<0x20, 0x7F:
            drop("control character")
        case 0xC0...0xDF: character = [b]; characterNeeds = 1
        case 0xE0...0xEF: character = [b]; characterNeeds = 2
        case 0xF0...0xF7: character = [b]; characterNeeds = 3
        case 0x80...0x9F:
            // A lone 8-bit C1 control: a terminal not in UTF-8 would act on it.
            drop("C1 control")
        default:
            out.append(b)
        }
    }

    private mutating func escape(_ b: UInt8, _ out: inout [UInt8]) {
        state = .ground
        switch b {
        case UInt8(ascii: "["):
            state = .csi
            sequence = [0x1B, b]
        case UInt8(ascii: "]"), UInt8(ascii: "P"), UInt8(ascii: "_"), UInt8(ascii: "^"), UInt8(ascii: "X"):
            state = .string(introducer: b, sawEscape: false)
            sequence = []
            stringLength = 0
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "#"), UInt8(ascii: "%"), UInt8(ascii: " "):
            state = .escapeWith(b)
        case UInt8(ascii: "7"), UInt8(ascii: "8"), UInt8(ascii: "M"), UInt8(ascii: "D"), UInt8(ascii: "E"), UInt8(ascii: "H"),
             UInt8(ascii: "="), UInt8(ascii: ">"):
            // Save and restore the cursor, index, reverse index, next line, tab set, keypad modes.
            out += [0x1B, b]
        case 0x1B:
            drop("other escape sequence")
            state = .escape
        case UInt8(ascii: "c"):
            drop("terminal reset (RIS)")
        case UInt8(ascii: "Z"):
            drop("identification request (DECID)")
        default:
            drop("other escape sequence")
            if b < 0x20 || b > 0x7E { ground(b, &out) }
        }
    }

    private mutating func csi(_ b: UInt8, _ out: inout [UInt8]) {
        guard (0x20...0x7E).contains(b) else {
            // A control inside a sequence: the sequence is not one this filter can vouch for.
            drop("malformed control sequence")
            state = .ground
            sequence = []
            ground(b, &out)
            return
        }
        sequence.append(b)
        if (0x40...0x7E).contains(b) {
            state = .ground
            let body = sequence
            sequence = []
            if let refused = Self.refusal(body) { drop(refused) } else { out += body }
            return
        }
        if sequence.count > Self.maxCSI {
            drop("malformed control sequence")
            state = .ground
            sequence = []
        }
    }

    /// Why a complete CSI sequence may not pass; nil when it only draws.
    static func refusal(_ seq: [UInt8]) -> String? {
        let final = seq[seq.count - 1]
        let inner = seq[2..<(seq.count - 1)]
        let params = inner.filter { (0x30...0x3F).contains($0) }
        let intermediates = inner.filter { (0x20...0x2F).contains($0) }
        let marker = params.first.flatMap { "?<=>".utf8.contains($0) ? $0 : nil }
        let numbers = String(decoding: params.filter { $0 != marker }, as: UTF8.self)
            .split(separator: ";", omittingEmptySubsequences: false).map { Int($0) }
        switch final {
        case UInt8(ascii: "n"): return "device status request (DSR, CPR)"
        case UInt8(ascii: "c"): return "device attributes request (DA)"
        case UInt8(ascii: "x"): return "terminal parameters request"
        case UInt8(ascii: "t"): return "window operation or report"
        default: break
        }
        if !intermediates.isEmpty {
            // Cursor style (`CSI 2 SP q`) only; `$p`, `$w` … make the terminal report.
            if intermediates == [0x20] && final == UInt8(ascii: "q") && marker == nil { return nil }
            return "mode or state request"
        }
        switch marker {
        case nil:
            if final == UInt8(ascii: "h") || final == UInt8(ascii: "l") {
                return numbers.allSatisfy({ $0 == 4 }) ? nil : "terminal mode change"
            }
            return drawingFinals.contains(final) ? nil : "other control sequence"
        case UInt8(ascii: "?"):
            if final == UInt8(ascii: "h") || final == UInt8(ascii: "l") {
                return numbers.allSatisfy({ $0.map(safePrivateModes.contains) ?? false }) ? nil
                    : "terminal mode change (mouse, focus or other reports)"
            }
            if final == UInt8(ascii: "J") || final == UInt8(ascii: "K") { return nil }
            return "other control sequence"
        default:
            return "terminal query or keyboard mode"
        }
    }

    static func stringName(_ introducer: UInt8, _ start: [UInt8]) -> String {
        switch introducer {
        case UInt8(ascii: "]"):
            let number = String(decoding: start.prefix { $0 != UInt8(ascii: ";") }, as: UTF8.self)
            switch number {
            case "52": return "clipboard write (OSC 52)"
            case "0", "1", "2": return "window title (OSC \(number))"
            case "4", "10", "11", "12", "17", "19", "104", "110", "111", "112": return "colour change or query (OSC \(number))"
            case "8": return "hyperlink (OSC 8)"
            default: return "operating system command (OSC \(number.prefix(6)))"
            }
        case UInt8(ascii: "P"):
            return start.starts(with: Array("$q".utf8)) ? "setting request (DECRQSS)" : "device control string (DCS)"
        case UInt8(ascii: "_"): return "application program command (APC)"
        case UInt8(ascii: "^"): return "privacy message (PM)"
        default: return "start of string (SOS)"
        }
    }
}
