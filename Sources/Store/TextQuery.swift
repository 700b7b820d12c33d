import Foundation

/// `audit search --text` as a tree, so every back end answers the same question: SQLite's FTS5
/// reads the text itself (`FullTextQuery.match`), PostgreSQL gets a tsquery compiled from this,
/// the memory store evaluates it. Words are tokenised as FTS5's unicode61 does (runs of letters
/// and digits, case and diacritics folded), so `rm -rf /tmp/x` is the tokens rm, rf, tmp, x.
public indirect enum TextQuery: Sendable, Equatable {
    /// Consecutive tokens; with `prefix`, the last one only has to start the recorded token.
    case phrase([String], prefix: Bool)
    case and(TextQuery, TextQuery)
    case or(TextQuery, TextQuery)
    /// The left side without the right (FTS5's NOT is binary: `a NOT b`).
    case not(TextQuery, TextQuery)

    /// Precedence as FTS5's: NOT binds tighter than AND (also implicit, between terms), AND than OR.
    public static func parse(_ text: String) throws(FullTextQuery.SyntaxError) -> TextQuery {
        var parser = Parser(lexemes: Self.lex(text), text: text)
        guard let lexemes = parser.lexemes, let q = parser.or(), parser.position == lexemes.count else {
            throw FullTextQuery.SyntaxError(text: text)
        }
        return q
    }

    /// The tokens of recorded or typed text.
    public static func tokens(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        for ch in text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil).lowercased() {
            if ch.isLetter || ch.isNumber {
                current.append(ch)
            } else if !current.isEmpty {
                out.append(current)
                current = ""
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// True when the tokens of one recorded text satisfy the query.
    public func matches(_ tokens: [String]) -> Bool {
        switch self {
        case .phrase(let words, let prefix):
            guard !words.isEmpty, tokens.count >= words.count else { return false }
            for start in 0...(tokens.count - words.count) {
                var all = true
                for (k, w) in words.enumerated() {
                    let t = tokens[start + k]
                    if !(t == w || (prefix && k == words.count - 1 && t.hasPrefix(w))) { all = false; break }
                }
                if all { return true }
            }
            return false
        case .and(let a, let b): return a.matches(tokens) && b.matches(tokens)
        case .or(let a, let b): return a.matches(tokens) || b.matches(tokens)
        case .not(let a, let b): return a.matches(tokens) && !b.matches(tokens)
        }
    }

    /// The tokens a hit's snippet brackets.
    public var words: [(String, prefix: Bool)] {
        switch self {
        case .phrase(let w, let prefix): return w.enumerated().map { ($0.element, prefix && $0.offset == w.count - 1) }
        case .and(let a, let b), .or(let a, let b): return a.words + b.words
        case .not(let a, _): return a.words
        }
    }

    /// About twelve tokens around the first matched one, matches in brackets, as FTS5's
    /// `snippet(…, '[', ']', '…', 12)` shows them.
    public func snippet(_ text: String) -> String {
        let tokens = Self.tokens(text)
        let wanted = words
        func hit(_ t: String) -> Bool { wanted.contains { t == $0.0 || ($0.prefix && t.hasPrefix($0.0)) } }
        let first = tokens.firstIndex(where: hit) ?? 0
        let from = max(0, first - 3), to = min(tokens.count, from + 12)
        let shown = tokens[from..<to].map { hit($0) ? "[\($0)]" : $0 }.joined(separator: " ")
        return (from > 0 ? "…" : "") + shown + (to < tokens.count ? "…" : "")
    }

    enum Lexeme: Equatable {
        case word(String), quoted(String), and, or, not, open, close
    }

    /// nil for an unterminated quote.
    static func lex(_ text: String) -> [Lexeme]? {
        var out: [Lexeme] = []
        var word = ""
        var chars = Array(text)[...]
        func flush() {
            guard !word.isEmpty else { return }
            switch word {
            case "AND": out.append(.and)
            case "OR": out.append(.or)
            case "NOT": out.append(.not)
            default: out.append(.word(word))
            }
            word = ""
        }
        while let ch = chars.popFirst() {
            switch ch {
            case " ", "\t", "\n", "\r": flush()
            case "(": flush(); out.append(.open)
            case ")": flush(); out.append(.close)
            case "\"":
                flush()
                guard let end = chars.firstIndex(of: "\"") else { return nil }
                var quoted = String(chars[chars.startIndex..<end])
                chars = chars[(end + 1)...]
                if chars.first == "*" {
                    chars = chars.dropFirst()
                    quoted += "*"
                }
                out.append(.quoted(quoted))
            default: word.append(ch)
            }
        }
        flush()
        return out
    }

    struct Parser {
        let lexemes: [Lexeme]?
        let text: String
        var position = 0

        init(lexemes: [Lexeme]?, text: String) {
            self.lexemes = lexemes
            self.text = text
        }

        var next: Lexeme? { lexemes.flatMap { position < $0.count ? $0[position] : nil } }

        mutating func or() -> TextQuery? {
            guard var left = and() else { return nil }
            while next == .or {
                position += 1
                guard let right = and() else { return nil }
                left = .or(left, right)
            }
            return left
        }

        mutating func and() -> TextQuery? {
            guard var left = not() else { return nil }
            while let n = next, n != .or, n != .close {
                if n == .and { position += 1 }
                guard let right = not() else { return nil }
                left = .and(left, right)
            }
            return left
        }

        mutating func not() -> TextQuery? {
            guard var left = primary() else { return nil }
            while next == .not {
                position += 1
                guard let right = primary() else { return nil }
                left = .not(left, right)
            }
            return left
        }

        mutating func primary() -> TextQuery? {
            switch next {
            case .open:
                position += 1
                guard let inner = or(), next == .close else { return nil }
                position += 1
                return inner
            case .word(let w), .quoted(let w):
                position += 1
                let prefix = w.count > 1 && w.hasSuffix("*")
                let tokens = TextQuery.tokens(prefix ? String(w.dropLast()) : w)
                // Text with no letters or digits (`--`) matches nothing, as an empty FTS5 phrase.
                return .phrase(tokens, prefix: prefix)
            default:
                return nil
            }
        }
    }
}
