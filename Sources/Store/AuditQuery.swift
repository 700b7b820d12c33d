import GRDB
import Policy

/// sudoreplay-like search expressions over audit events, compiled to SQL:
/// `command rm and user alice`, `decision deny and since "2 hours ago"`, `cwd /var/lib/*`,
/// `(role operator or role dba) and not decision allow`. Values are globs where that makes sense.
public struct AuditQuery: Sendable {
    public struct SyntaxError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// The WHERE clause, over `audit_events AS a`.
    public let sql: String
    public let arguments: [String]
    /// Time bounds are resolved when parsed (against `now`), so a query is a value.
    public let integerArguments: [Int: Int64]

    public static let fields = ["command", "user", "host", "role", "decision", "kind", "rule", "reason", "line", "cwd",
                                "session", "grant", "since", "until"]

    /// Parses `words` (as the shell split them, or one string split here) at time `now` (seconds).
    public init(_ words: [String], now: Int64) throws(SyntaxError) {
        var parser = Parser(tokens: try AuditQuery.tokens(words), now: now)
        let clause = try parser.expression()
        guard parser.position == parser.tokens.count else {
            throw SyntaxError(description: "unexpected `\(parser.tokens[parser.position])`")
        }
        sql = clause
        arguments = parser.arguments
        integerArguments = parser.integers
    }

    /// The bound values in order, as GRDB takes them.
    public var statementArguments: StatementArguments {
        var values: [DatabaseValueConvertible] = []
        var text = arguments.makeIterator()
        for k in 0..<(arguments.count + integerArguments.count) {
            if let n = integerArguments[k] { values.append(n) } else if let s = text.next() { values.append(s) }
        }
        return StatementArguments(values)
    }

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

    /// "2 hours ago", "90m", "7d" (ago), or an ISO 8601 time; seconds since the epoch.
    public static func time(_ text: String, now: Int64) -> Int64? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let absolute = Timestamp.parse(text) { return absolute }
        if t == "now" { return now }
        if t == "today" { return now - now % 86_400 }
        if t == "yesterday" { return now - now % 86_400 - 86_400 }
        var phrase = t.hasSuffix(" ago") ? String(t.dropLast(4)) : t
        let units: [(String, Int)] = [("seconds", 1), ("second", 1), ("minutes", 60), ("minute", 60), ("hours", 3600), ("hour", 3600),
                                      ("days", 86_400), ("day", 86_400), ("weeks", 604_800), ("week", 604_800)]
        for (name, seconds) in units where phrase.hasSuffix(" " + name) {
            guard let n = Int64(phrase.dropLast(name.count + 1).trimmingCharacters(in: .whitespaces)) else { return nil }
            return now - n * Int64(seconds)
        }
        if phrase.hasSuffix("w"), let n = Int64(phrase.dropLast()) { return now - n * 604_800 }
        phrase = phrase.replacingOccurrences(of: " ", with: "")
        guard let seconds = Duration.seconds(phrase) else { return nil }
        return now - Int64(seconds)
    }

    struct Parser {
        var tokens: [String]
        var now: Int64
        var position = 0
        var arguments: [String] = []
        var integers: [Int: Int64] = [:]
        var count = 0

        mutating func next() -> String? {
            guard position < tokens.count else { return nil }
            defer { position += 1 }
            return tokens[position]
        }

        func peek() -> String? { position < tokens.count ? tokens[position].lowercased() : nil }

        mutating func expression() throws(SyntaxError) -> String {
            var parts = [try conjunction()]
            while peek() == "or" {
                position += 1
                parts.append(try conjunction())
            }
            return parts.count == 1 ? parts[0] : "(" + parts.joined(separator: " OR ") + ")"
        }

        mutating func conjunction() throws(SyntaxError) -> String {
            var parts = [try unary()]
            while let p = peek(), p == "and" || (p != "or" && p != ")") {
                if p == "and" { position += 1 }
                parts.append(try unary())
            }
            return parts.count == 1 ? parts[0] : "(" + parts.joined(separator: " AND ") + ")"
        }

        mutating func unary() throws(SyntaxError) -> String {
            guard let token = peek() else { throw SyntaxError(description: "the expression ends too early") }
            if token == "not" || token == "!" {
                position += 1
                return "NOT " + (try unary())
            }
            if token == "(" {
                position += 1
                let inner = try expression()
                guard next() == ")" else { throw SyntaxError(description: "a `(` without its `)`") }
                return inner
            }
            return try term()
        }

        mutating func text(_ value: String) -> String {
            arguments.append(value)
            count += 1
            return "?"
        }

        mutating func integer(_ value: Int64) -> String {
            integers[count] = value
            count += 1
            return "?"
        }

        mutating func term() throws(SyntaxError) -> String {
            let field = next()!.lowercased()
            guard AuditQuery.fields.contains(field) else {
                throw SyntaxError(description: "unknown field `\(field)`; fields are \(AuditQuery.fields.joined(separator: ", "))")
            }
            guard let value = next(), value != ")" else { throw SyntaxError(description: "`\(field)` needs a value") }
            switch field {
            case "command":
                let (p1, p2, p3, p4) = (text(value), text("*/" + value), text(value), text("*/" + value))
                return """
                    (EXISTS (SELECT 1 FROM json_each(a.data, '$.commands') c \
                    WHERE json_extract(c.value, '$.argv[0]') GLOB \(p1) OR json_extract(c.value, '$.argv[0]') GLOB \(p2)) \
                    OR (a.kind = \(AuditKind.guard.sql) AND (a.line GLOB \(p3) OR a.line GLOB \(p4))))
                    """
            case "user": return "a.identity GLOB \(text(value))"
            case "host": return "a.host GLOB \(text(value))"
            case "role": return "a.session_id IN (SELECT id FROM sessions WHERE role GLOB \(text(value)))"
            case "decision":
                guard ["allow", "deny", "confirm"].contains(value) else {
                    throw SyntaxError(description: "decision is allow, deny or confirm, not `\(value)`")
                }
                return "a.decision = \(text(value))"
            case "kind": return "a.kind GLOB \(text(value))"
            case "rule": return "a.rule GLOB \(text(value))"
            case "reason": return "a.reason GLOB \(text(value))"
            case "line": return "a.line GLOB \(text(value))"
            case "cwd": return "json_extract(a.data, '$.cwd') GLOB \(text(value))"
            case "session": return "a.session_id GLOB \(text(value + "*"))"
            case "grant":
                guard let id = Int64(value) else { throw SyntaxError(description: "grant needs a number, not `\(value)`") }
                return "a.session_id IN (SELECT id FROM sessions WHERE grant_id = \(integer(id)))"
            default:
                guard let t = AuditQuery.time(value, now: now) else {
                    throw SyntaxError(description: "`\(value)` is not a time (2 hours ago, 30m, 7d, 2026-11-27T10:00Z)")
                }
                return "a.at \(field == "since" ? ">=" : "<=") \(integer(t * 1_000_000))"
            }
        }
    }
}
