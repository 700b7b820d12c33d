/// Quoting for bash, in one place: whatever jitsh shows a person to type, or hands bash to run,
/// must be read back by bash as the very same words.
public enum Quote {
    /// Single-quoted: bash reads any text back unchanged (a `'` is written `'\''`).
    public static func always(_ s: String) -> String {
        // By scalar: a `'` followed by a combining mark is still a quote to bash.
        var out = String.UnicodeScalarView()
        out.append("'")
        for c in s.unicodeScalars {
            if c == "'" { out.append(contentsOf: "'\\''".unicodeScalars) } else { out.append(c) }
        }
        out.append("'")
        return String(out)
    }

    /// Bare when a person could type it as it is (letters, digits and `-_./=:,@%+`), else
    /// single-quoted.
    public static func ifNeeded(_ s: String) -> String {
        isBare(s) ? s : always(s)
    }

    /// Words as one line that bash splits back into the same words. A first word with `=` is
    /// quoted: bare, bash would take it for an assignment, not a command.
    public static func line(_ words: [String]) -> String {
        words.enumerated().map { k, w in k == 0 && w.contains("=") ? always(w) : ifNeeded(w) }.joined(separator: " ")
    }

    static func isBare(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || "0123456789-_./=:,@%+".unicodeScalars.contains($0) }
    }
}
