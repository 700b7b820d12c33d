import ShellSyntax

/// How sure a match must be. Allow rules need certainty; deny and confirm rules count anything
/// that could match (a dynamic argument might be the denied one): fail closed both ways.
enum MatchMode {
    case certain
    case possible
}

/// `args:` alternative: space-separated tokens, each a glob on one argument, or `...` for zero
/// or more arguments. The whole argument list must match.
public struct ArgumentPattern: Sendable, CustomStringConvertible {
    enum Token: Sendable {
        case glob(Glob)
        case rest
    }

    let tokens: [Token]
    public let text: String

    public init(_ text: String) throws(Glob.GlobError) {
        self.text = text
        var tokens: [Token] = []
        for word in try ArgumentPattern.split(text) {
            if word == "..." { tokens.append(.rest) } else { tokens.append(.glob(try Glob(word))) }
        }
        self.tokens = tokens
    }

    /// From words already split (a helper's arguments after its name).
    init(words: [String]) throws(Glob.GlobError) {
        text = words.map { $0.contains(where: { $0 == " " || $0 == "\t" }) ? "'\($0)'" : $0 }.joined(separator: " ")
        var tokens: [Token] = []
        for word in words {
            if word == "..." { tokens.append(.rest) } else { tokens.append(.glob(try Glob(word))) }
        }
        self.tokens = tokens
    }

    public var description: String { text }

    /// Splits on blanks; single or double quotes keep blanks inside one token.
    static func split(_ text: String) throws(Glob.GlobError) -> [String] {
        var out: [String] = []
        var current = ""
        var quote: Character?
        var inToken = false
        for c in text {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
                inToken = true
            } else if c == " " || c == "\t" {
                if inToken { out.append(current); current = ""; inToken = false }
            } else {
                current.append(c)
                inToken = true
            }
        }
        if quote != nil { throw Glob.GlobError(description: "unterminated quote in `\(text)`") }
        if inToken { out.append(current) }
        return out
    }

    func matches(_ fields: ArraySlice<Field>, mode: MatchMode) -> Bool {
        var memo: [Int: Bool] = [:]
        return match(0, fields.startIndex, fields, mode, &memo)
    }

    private func match(_ ti: Int, _ fi: Int, _ fields: ArraySlice<Field>, _ mode: MatchMode, _ memo: inout [Int: Bool]) -> Bool {
        let key = ti * (fields.count + 2) + (fi - fields.startIndex)
        if let known = memo[key] { return known }
        let result: Bool
        if ti == tokens.count {
            // What is left may only be fields that could expand to nothing.
            result = fields[fi...].allSatisfy { mode == .possible && $0.variadic && !$0.isStatic }
        } else if case .rest = tokens[ti] {
            result = (fi...fields.endIndex).contains { match(ti + 1, $0, fields, mode, &memo) }
        } else if case .glob(let g) = tokens[ti] {
            if fi == fields.endIndex {
                result = false
            } else {
                let f = fields[fi]
                if f.isStatic {
                    result = g.matches(f.text) && match(ti + 1, fi + 1, fields, mode, &memo)
                } else if mode == .certain {
                    // An unknown argument satisfies only `*`, and only when it is one argument.
                    result = !f.variadic && g.pattern == "*" && match(ti + 1, fi + 1, fields, mode, &memo)
                } else if f.variadic {
                    // Zero, one, or several arguments: any of them could match.
                    result = match(ti, fi + 1, fields, mode, &memo) || match(ti + 1, fi + 1, fields, mode, &memo)
                        || match(ti + 1, fi, fields, mode, &memo)
                } else {
                    result = match(ti + 1, fi + 1, fields, mode, &memo)
                }
            }
        } else {
            result = false
        }
        memo[key] = result
        return result
    }
}

/// `option:` entry. `--in-place` matches `--in-place`, `--in-place=x` and abbreviations
/// getopt accepts (`--in-pl`); `-delete` matches itself or `-delete=…`; `-i` also matches inside
/// a cluster (`-ni`).
public struct OptionMatcher: Sendable, CustomStringConvertible {
    public let text: String

    public init(_ text: String) throws(Glob.GlobError) {
        guard text.hasPrefix("-"), text.count > 1 else {
            throw Glob.GlobError(description: "an option starts with `-`: `\(text)`")
        }
        self.text = text
    }

    public var description: String { text }

    func matches(_ argument: String) -> Bool {
        if text.hasPrefix("--") {
            guard argument.hasPrefix("--"), argument.count > 2 else { return false }
            let name = argument.prefix { $0 != "=" }
            return text.hasPrefix(name)
        }
        if text.count > 2 {
            return argument == text || argument.hasPrefix(text + "=")
        }
        let letter = text.last!
        return argument == text || (argument.hasPrefix("-") && !argument.hasPrefix("--") && argument.dropFirst().contains(letter))
    }

    /// The argument that matched (or that could, if it is dynamic), among those before `--`.
    static func firstMatch(_ matchers: [OptionMatcher], in arguments: ArraySlice<Field>, mode: MatchMode) -> Field? {
        for f in arguments {
            if f.staticText == "--" { return nil }
            guard f.isStatic else {
                if mode == .possible { return f }
                continue
            }
            if matchers.contains(where: { $0.matches(f.text) }) { return f }
        }
        return nil
    }
}

/// `hosts: {env: production, name: "prod-*"}`: every key must match (`name` is the host name,
/// other keys are the host's tags); values are globs.
public struct HostCondition: Sendable {
    public var requirements: [(key: String, value: Glob)]

    public func matches(_ host: HostInfo) -> Bool {
        requirements.allSatisfy { req in
            let actual = req.key == "name" ? host.name : host.tags[req.key]
            return actual.map(req.value.matches) ?? false
        }
    }

    public var description: String {
        requirements.map { "\($0.key)=\($0.value.pattern)" }.joined(separator: ", ")
    }
}

/// The host a decision is for (from /etc/jitsh/jitsh.yaml).
public struct HostInfo: Sendable, Equatable {
    public var name: String
    public var tags: [String: String]

    public init(name: String, tags: [String: String] = [:]) {
        self.name = name
        self.tags = tags
    }

    /// The name up to the first dot, which confirmation phrases use (as molly-guard does).
    public var shortName: String { String(name.prefix { $0 != "." }) }
}
