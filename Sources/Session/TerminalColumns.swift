/// How far the terminal's cursor goes over a character: the line editor moves it by columns,
/// not by characters, so a line with CJK text or emoji is edited where it is shown.
enum TerminalColumns {
    /// The cursor moved over these characters, by the columns they take.
    static func move(_ over: ArraySlice<Unicode.Scalar>, back: Bool) -> String {
        let n = width(over)
        if n == 0 { return "" }
        if n == 1 && back { return "\u{8}" }
        return "\u{1B}[\(n)\(back ? "D" : "C")"
    }

    static func width(_ text: ArraySlice<Unicode.Scalar>) -> Int {
        text.reduce(0) { $0 + width($1) }
    }

    /// Columns a character takes on a terminal: none for combining marks and zero-width
    /// characters, two for East Asian wide ones and emoji, one for the rest.
    static func width(_ c: Unicode.Scalar) -> Int {
        switch c.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if c.properties.isEmojiPresentation { return 2 }
        switch c.value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
             0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x20000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }
}
