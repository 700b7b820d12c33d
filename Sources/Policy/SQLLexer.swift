/// SQL as the server and the client read it: comments, whitespace of every kind, case, quoted
/// identifiers, strings (with `''`, `E'\''`, `$tag$…$tag$`), several statements, and the client's
/// own commands (psql's `\o`, mysql's `system`). A statement is decided on its tokens, never on
/// its spelling: `DROP/**/TABLE`, `drop\tTABLE` and `DROP  TABLE` are one thing.
struct SQLLexer {
    enum Dialect: Sendable { case postgres, mysql }

    enum Token: Equatable {
        /// An unquoted word, upper-cased: a keyword or an identifier.
        case word(String)
        case quotedIdentifier
        case string(String)
        case number
        case symbol(Character)
        /// A client command: its name (without the backslash, lower-cased for mysql's long forms)
        /// and its argument text up to the end of the line.
        case meta(String, String)
        /// psql's `:name`, `:'name'`: text substituted before the server sees it.
        case variable
    }

    /// A statement's tokens, in order; client commands stand alone.
    typealias Statement = [Token]

    let dialect: Dialect
    private let s: [Unicode.Scalar]
    private var k = 0

    init(_ text: String, dialect: Dialect) {
        self.dialect = dialect
        s = Array(text.unicodeScalars)
    }

    /// mysql's long client commands, recognised as the first word of a statement.
    static let mysqlClientCommands: Set<String> = ["SYSTEM", "TEE", "NOTEE", "PAGER", "NOPAGER", "SOURCE", "EDIT", "DELIMITER",
                                                   "CONNECT", "CHARSET", "WARNINGS", "NOWARNING", "PRINT", "PROMPT", "REHASH",
                                                   "STATUS", "EXIT", "QUIT", "EGO", "GO", "CLEAR", "RESETCONNECTION"]

    private func at(_ o: Int = 0) -> Unicode.Scalar? { k + o < s.count ? s[k + o] : nil }

    static func isSpace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0C}" || c == "\u{0B}" }
    static func isIdentStart(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || c.value >= 0x80
    }
    static func isIdent(_ c: Unicode.Scalar) -> Bool { isIdentStart(c) || (c >= "0" && c <= "9") || c == "$" }

    mutating func statements() -> [Statement] {
        var out: [Statement] = []
        var current: Statement = []
        func finish() {
            if !current.isEmpty { out.append(current) }
            current = []
        }
        while let c = at() {
            if SQLLexer.isSpace(c) { k += 1; continue }
            if c == "-" && at(1) == "-" && (dialect == .postgres || at(2).map(SQLLexer.isSpace) ?? true) { skipLine(); continue }
            if c == "#" && dialect == .mysql { skipLine(); continue }
            if c == "/" && at(1) == "*" {
                if dialect == .mysql && at(2) == "!" {
                    // mysql runs what an executable comment holds: its markers are whitespace.
                    k += 3
                    while let d = at(), d >= "0" && d <= "9" { k += 1 }
                    continue
                }
                skipComment()
                continue
            }
            if dialect == .mysql && c == "*" && at(1) == "/" { k += 2; continue }
            if c == ";" { k += 1; finish(); continue }
            if c == "\\" {
                if dialect == .postgres && at(1) == "\\" { k += 2; finish(); continue }
                finish()
                out.append([meta()])
                continue
            }
            if c == "'" { current.append(.string(quoted("'", backslash: dialect == .mysql))); continue }
            if c == "\"" {
                if dialect == .mysql { current.append(.string(quoted("\"", backslash: true))) } else {
                    _ = quoted("\"", backslash: false)
                    current.append(.quotedIdentifier)
                }
                continue
            }
            if c == "`" && dialect == .mysql { _ = quoted("`", backslash: false); current.append(.quotedIdentifier); continue }
            if c == "$" && dialect == .postgres, let body = dollarQuoted() { current.append(.string(body)); continue }
            if c == ":" && dialect == .postgres && at(1) != ":" && (current.last != .symbol(":")),
               let n = at(1), SQLLexer.isIdentStart(n) || n == "'" || n == "\"" || n == "{" {
                k += 1
                current.append(.variable)
                continue
            }
            if SQLLexer.isIdentStart(c) {
                let start = k
                while let d = at(), SQLLexer.isIdent(d) { k += 1 }
                let word = String(String.UnicodeScalarView(s[start..<k])).uppercased()
                // E'…' (escapes), B'…', X'…', N'…', U&'…': one string.
                if at() == "'" && ["E", "B", "X", "N"].contains(word) {
                    current.append(.string(quoted("'", backslash: word == "E" || dialect == .mysql)))
                    continue
                }
                if dialect == .mysql && current.isEmpty && SQLLexer.mysqlClientCommands.contains(word) {
                    out.append([.meta(word.lowercased(), restOfLine())])
                    continue
                }
                current.append(.word(word))
                continue
            }
            if c >= "0" && c <= "9" {
                while let d = at(), SQLLexer.isIdent(d) || d == "." { k += 1 }
                current.append(.number)
                continue
            }
            current.append(.symbol(Character(c)))
            k += 1
        }
        finish()
        return out
    }

    private mutating func skipLine() {
        while let c = at(), c != "\n" { k += 1 }
    }

    /// PostgreSQL nests block comments; mysql does not.
    private mutating func skipComment() {
        k += 2
        var depth = 1
        while let c = at() {
            if c == "*" && at(1) == "/" {
                k += 2
                depth -= 1
                if depth == 0 || dialect == .mysql { return }
            } else if c == "/" && at(1) == "*" && dialect == .postgres {
                k += 2
                depth += 1
            } else {
                k += 1
            }
        }
    }

    private mutating func quoted(_ q: Unicode.Scalar, backslash: Bool) -> String {
        k += 1
        var text = String.UnicodeScalarView()
        while let c = at() {
            if backslash && c == "\\" {
                if let n = at(1) { text.append(n) }
                k += 2
                continue
            }
            if c == q {
                if at(1) == q { text.append(q); k += 2; continue }
                k += 1
                return String(text)
            }
            text.append(c)
            k += 1
        }
        return String(text)
    }

    /// `$tag$…$tag$`; nil when the `$` starts no dollar quote (`$1`).
    private mutating func dollarQuoted() -> String? {
        var j = k + 1
        while j < s.count, s[j] != "$" {
            guard SQLLexer.isIdent(s[j]), s[j] != "$", !(j == k + 1 && s[j] >= "0" && s[j] <= "9") else { return nil }
            j += 1
        }
        guard j < s.count else { return nil }
        let tag = Array(s[k...j])
        var m = j + 1
        while m + tag.count <= s.count {
            if Array(s[m..<(m + tag.count)]) == tag {
                let body = String(String.UnicodeScalarView(s[(j + 1)..<m]))
                k = m + tag.count
                return body
            }
            m += 1
        }
        k = s.count
        return String(String.UnicodeScalarView(s[(j + 1)...]))
    }

    private mutating func restOfLine() -> String {
        let start = k
        while let c = at(), c != "\n" {
            // psql ends a command's arguments at `\\` too.
            if dialect == .postgres && c == "\\" && at(1) == "\\" { break }
            k += 1
        }
        return String(String.UnicodeScalarView(s[start..<k]))
    }

    /// A backslash command: psql's name is letters (or one other character: `\!`, `\?`); mysql's is one character.
    private mutating func meta() -> Token {
        k += 1
        let start = k
        if dialect == .postgres {
            while let c = at(), (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || (c >= "0" && c <= "9" && k > start) { k += 1 }
            if k == start, at() != nil { k += 1 }
        } else if at() != nil {
            k += 1
        }
        let name = String(String.UnicodeScalarView(s[start..<k]))
        return .meta(name, restOfLine())
    }
}
