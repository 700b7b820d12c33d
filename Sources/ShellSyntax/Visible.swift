/// User text as a person's terminal must show it: every control character visible, none acted on.
///
/// A grant reason, a command line or a recorded snippet is typed by the person being reviewed.
/// Printed raw, `ESC ] 52 ; c ; … BEL` writes the reviewer's clipboard, `ESC [ 2 J` clears their
/// screen, `CR` or `ESC [ 2 K` overwrites what they read, and a newline forges a whole table row.
/// Every human-readable printer goes through here; JSON does not (its own escapes are exact).
public enum Visible {
    /// One field of a row or message: newlines too are shown (`⏎`), so the field stays on its line.
    public static func text(_ s: String) -> String {
        escape(s, keepNewlines: false)
    }

    /// Text whose newlines are its own line breaks (a report, a transcript): every other control shown.
    public static func lines(_ s: String) -> String {
        escape(s, keepNewlines: true)
    }

    /// Whether a scalar would act on a terminal, or reorder what it shows, rather than print.
    public static func isControl(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        return v < 0x20 || (0x7F...0x9F).contains(v) || isLayoutControl(v)
    }

    /// Bidirectional overrides and Unicode line separators: they print nothing yet move what
    /// follows (a line that reads `ls` but runs `sl`).
    static func isLayoutControl(_ v: UInt32) -> Bool {
        (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) || v == 0x2028 || v == 0x2029 || v == 0x061C
            || v == 0x200E || v == 0x200F
    }

    /// How a control scalar is shown: `\e`, `\r`, `\t`, `⏎`, `\x07`, `\u009b`.
    public static func shown(_ u: Unicode.Scalar) -> String {
        switch u.value {
        case 0x1B: return "\\e"
        case 0x0A: return "⏎"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        case let v where v < 0x20 || v == 0x7F: return "\\x" + hex(v, width: 2)
        case let v: return "\\u" + hex(v, width: 4)
        }
    }

    static func escape(_ s: String, keepNewlines: Bool) -> String {
        // The common case, nothing to show differently, costs one scan and no copy.
        guard s.unicodeScalars.contains(where: isControl) else { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if !isControl(u) || (keepNewlines && u == "\n") {
                out.append(u)
            } else {
                out.append(contentsOf: shown(u).unicodeScalars)
            }
        }
        return String(out)
    }

    /// JSON text made safe to print without changing what it says: DEL, C1 and layout controls
    /// (which JSON encoders leave raw) written as `\uXXXX`. They can only occur inside strings.
    public static func json(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { isControl($0) && $0.value >= 0x7F }) else { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if isControl(u) && u.value >= 0x7F {
                out.append(contentsOf: ("\\u" + hex(u.value, width: 4)).unicodeScalars)
            } else {
                out.append(u)
            }
        }
        return String(out)
    }

    static func hex(_ v: UInt32, width: Int) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
