/// The patterns review filters take (`--user 'a*'`, `host prod-?`), with SQLite's GLOB meaning
/// in every back end: `*` any run, `?` one character, `[a-z]` and `[^…]` sets, `]` first in a set
/// is itself, no escapes, case counts. PostgreSQL gets the same as an anchored regular expression,
/// the memory store matches here.
public enum StoreGlob {
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        matches(Array(pattern.unicodeScalars)[...], Array(text.unicodeScalars)[...])
    }

    private static func matches(_ p: ArraySlice<Unicode.Scalar>, _ t: ArraySlice<Unicode.Scalar>) -> Bool {
        var p = p, t = t
        while let c = p.first {
            switch c {
            case "*":
                p = p.dropFirst()
                while p.first == "*" { p = p.dropFirst() }
                if p.isEmpty { return true }
                while true {
                    if matches(p, t) { return true }
                    if t.isEmpty { return false }
                    t = t.dropFirst()
                }
            case "?":
                guard !t.isEmpty else { return false }
                (p, t) = (p.dropFirst(), t.dropFirst())
            case "[":
                guard let set = CharacterSet(p), let ch = t.first else { return false }
                guard set.contains(ch) else { return false }
                (p, t) = (p.dropFirst(set.length), t.dropFirst())
            default:
                guard t.first == c else { return false }
                (p, t) = (p.dropFirst(), t.dropFirst())
            }
        }
        return t.isEmpty
    }

    /// `[…]` at the start of `p`; nil when it never closes (SQLite then matches nothing).
    struct CharacterSet {
        var inverted = false
        var ranges: [ClosedRange<Unicode.Scalar>] = []
        var length = 0

        init?(_ p: ArraySlice<Unicode.Scalar>) {
            var k = p.startIndex + 1
            if k < p.endIndex, p[k] == "^" { inverted = true; k += 1 }
            var first = true
            while k < p.endIndex {
                let c = p[k]
                if c == "]" && !first {
                    length = k - p.startIndex + 1
                    return
                }
                first = false
                if k + 2 < p.endIndex, p[k + 1] == "-", p[k + 2] != "]", c <= p[k + 2] {
                    ranges.append(c...p[k + 2])
                    k += 3
                } else {
                    ranges.append(c...c)
                    k += 1
                }
            }
            return nil
        }

        func contains(_ c: Unicode.Scalar) -> Bool { ranges.contains { $0.contains(c) } != inverted }
    }

    /// The same pattern as an anchored POSIX regular expression (PostgreSQL's `~`). A set that
    /// never closes matches nothing, as in SQLite.
    public static func regex(_ pattern: String) -> String {
        let p = Array(pattern.unicodeScalars)
        var out = "^"
        var k = 0
        while k < p.count {
            let c = p[k]
            switch c {
            case "*": out += ".*"
            case "?": out += "."
            case "[":
                guard let set = CharacterSet(p[k...]) else { return "^[^\\s\\S]$" }
                out += "[" + (set.inverted ? "^" : "")
                for r in set.ranges {
                    out += escapedInSet(r.lowerBound) + (r.lowerBound == r.upperBound ? "" : "-" + escapedInSet(r.upperBound))
                }
                out += "]"
                k += set.length
                continue
            default:
                out += "\\^$.|?*+()[]{}".unicodeScalars.contains(c) ? "\\" + String(c) : String(c)
            }
            k += 1
        }
        return out + "$"
    }

    /// Inside a bracket expression only `\`, `[`, `]`, `^` and `-` could mean something else.
    private static func escapedInSet(_ c: Unicode.Scalar) -> String {
        "\\[]^-".unicodeScalars.contains(c) ? "\\" + String(c) : String(c)
    }
}
