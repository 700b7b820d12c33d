import Policy

/// sudoreplay-like search expressions over audit events: `command rm and user alice`,
/// `decision deny and since "2 hours ago"`, `cwd /var/lib/*`, `(role operator or role dba) and
/// not decision allow`. Values are globs where that makes sense. The parse is an expression
/// tree each back end compiles (SQLite here, PostgreSQL in its module) or evaluates (memory).
public struct AuditQuery: Sendable {
    public struct SyntaxError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// What a term compares: the event's own columns, its JSON data, or its session's row.
    public enum Field: String, Sendable, CaseIterable {
        case command, user, host, role, decision, kind, rule, reason, line, cwd, session
    }

    public indirect enum Expression: Sendable, Equatable {
        case all([Expression])
        case any([Expression])
        case not(Expression)
        /// The field matches the glob (`session` matches ids starting with the value).
        case matches(Field, String)
        /// Events of sessions under this grant.
        case grant(Int64)
        /// Events at or after (`since`) or at or before the time, in microseconds.
        case since(Int64)
        case until(Int64)
    }

    public let expression: Expression

    public static let fields = Field.allCases.map(\.rawValue) + ["grant", "since", "until"]

    /// Parses `words` (as the shell split them, or one string split here) at time `now` (microseconds).
    public init(_ words: [String], now: Int64) throws(SyntaxError) {
        var parser = Parser(tokens: try AuditQuery.tokens(words), now: now)
        let parsed = try parser.expression()
        guard parser.position == parser.tokens.count else {
            throw SyntaxError(description: "unexpected `\(parser.tokens[parser.position])`")
        }
        expression = parsed
    }

    public init(_ expression: Expression) { self.expression = expression }

    /// This query and `other` both.
    public func and(_ other: Expression) -> AuditQuery { AuditQuery(.all([expression, other])) }

    static func tokens(_ words: [String]) throws(SyntaxError) -> [String] {
        var out: [String] = []
        for word in words {
            var current = ""
            var quote: Character?
            var any = false
            for c in word {
                if let q = quote {
                    if c == q { quote = nil } else { current.append(c) }
                } else if c == "\"" || c == "'" {
                    quote = c
                    any = true
                } else if c == " " || c == "\t" {
                    if any || !current.isEmpty { out.append(current) }
                    current = ""
                    any = false
                } else if c == "(" || c == ")" {
                    if any || !current.isEmpty { out.append(current) }
                    out.append(String(c))
                    current = ""
                    any = false
                } else {
                    current.append(c)
                }
            }
            if quote != nil { throw SyntaxError(description: "an unterminated quote in `\(word)`") }
            if any || !current.isEmpty { out.append(current) }
        }
        // `2 hours ago` may arrive as three words: join the time phrase after since/until.
        var joined: [String] = []
        var k = 0
        while k < out.count {
            joined.append(out[k])
            if ["since", "until"].contains(out[k].lowercased()), k + 2 < out.count, Int(out[k + 1]) != nil,
               out[k + 2].lowercased().hasPrefix("second") || out[k + 2].lowercased().hasPrefix("minute")
                || out[k + 2].lowercased().hasPrefix("hour") || out[k + 2].lowercased().hasPrefix("day")
                || out[k + 2].lowercased().hasPrefix("week") {
                let ago = k + 3 < out.count && out[k + 3].lowercased() == "ago"
                joined.append(out[k + 1] + " " + out[k + 2] + (ago ? " ago" : ""))
                k += ago ? 4 : 3
                continue
            }
            k += 1
        }
        return joined
    }

    /// "2 hours ago", "90m", "7d" (ago), or an ISO 8601 time; microseconds since the epoch, as `now`.
    public static func time(_ text: String, now: Int64) -> Int64? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let absolute = Timestamp.microseconds(text) { return absolute }
        if t == "now" { return now }
        let day = 86_400 * Duration.second
        if t == "today" { return now - now % day }
        if t == "yesterday" { return now - now % day - day }
        var phrase = t.hasSuffix(" ago") ? String(t.dropLast(4)) : t
        let units: [(String, Int64)] = [("seconds", 1), ("second", 1), ("minutes", 60), ("minute", 60), ("hours", 3600), ("hour", 3600),
                                        ("days", 86_400), ("day", 86_400), ("weeks", 604_800), ("week", 604_800)]
        for (name, seconds) in units where phrase.hasSuffix(" " + name) {
            guard let n = Int64(phrase.dropLast(name.count + 1).trimmingCharacters(in: .whitespaces)) else { return nil }
            return now - n * seconds * Duration.second
        }
        if phrase.hasSuffix("w"), let n = Int64(phrase.dropLast()) { return now - n * 604_800 * Duration.second }
        phrase = phrase.replacingOccurrences(of: " ", with: "")
        guard let seconds = Duration.seconds(phrase) else { return nil }
        return now - Duration.microseconds(seconds: seconds)
    }

    struct Parser {
        var tokens: [String]
        var now: Int64
        var position = 0

        mutating func next() -> String? {
            guard position < tokens.count else { return nil }
            defer { position += 1 }
            return tokens[position]
        }

        func peek() -> String? { position < tokens.count ? tokens[position].lowercased() : nil }

        mutating func expression() throws(SyntaxError) -> Expression {
            var parts = [try conjunction()]
            while peek() == "or" {
                position += 1
                parts.append(try conjunction())
            }
            return parts.count == 1 ? parts[0] : .any(parts)
        }

        mutating func conjunction() throws(SyntaxError) -> Expression {
            var parts = [try unary()]
            while let p = peek(), p == "and" || (p != "or" && p != ")") {
                if p == "and" { position += 1 }
                parts.append(try unary())
            }
            return parts.count == 1 ? parts[0] : .all(parts)
        }

        mutating func unary() throws(SyntaxError) -> Expression {
            guard let token = peek() else { throw SyntaxError(description: "the expression ends too early") }
            if token == "not" || token == "!" {
                position += 1
                return .not(try unary())
            }
            if token == "(" {
                position += 1
                let inner = try expression()
                guard next() == ")" else { throw SyntaxError(description: "a `(` without its `)`") }
                return inner
            }
            return try term()
        }

        mutating func term() throws(SyntaxError) -> Expression {
            let name = next()!.lowercased()
            guard AuditQuery.fields.contains(name) else {
                throw SyntaxError(description: "unknown field `\(name)`; fields are \(AuditQuery.fields.joined(separator: ", "))")
            }
            guard let value = next(), value != ")" else { throw SyntaxError(description: "`\(name)` needs a value") }
            if let field = Field(rawValue: name) {
                if field == .decision && !["allow", "deny", "confirm"].contains(value) {
                    throw SyntaxError(description: "decision is allow, deny or confirm, not `\(value)`")
                }
                return .matches(field, value)
            }
            if name == "grant" {
                guard let id = Int64(value) else { throw SyntaxError(description: "grant needs a number, not `\(value)`") }
                return .grant(id)
            }
            guard let t = AuditQuery.time(value, now: now) else {
                throw SyntaxError(description: "`\(value)` is not a time (2 hours ago, 30m, 7d, 2026-11-27T10:00Z)")
            }
            return name == "since" ? .since(t) : .until(t)
        }
    }
}
