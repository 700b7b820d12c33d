/// Shell-style patterns: `*`, `?`, `[abc]`, `[!a-z]`, `\x`. For paths, `*` and `?` stop at `/`
/// and `**` crosses directories (`/tmp/**` is everything under /tmp).
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let scalars: [Unicode.Scalar]
    let isPath: Bool

    public init(_ pattern: String, path: Bool = false) throws(GlobError) {
        self.pattern = pattern
        self.scalars = Array(pattern.unicodeScalars)
        self.isPath = path
        try Glob.validate(scalars)
    }

    public var description: String { pattern }

    /// True when the pattern has no wildcard: it matches only itself.
    public var isLiteral: Bool { !scalars.contains { "*?[\\".unicodeScalars.contains($0) } }

    public struct GlobError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    static func validate(_ p: [Unicode.Scalar]) throws(GlobError) {
        var k = 0
        while k < p.count {
            if p[k] == "\\" {
                if k + 1 >= p.count { throw GlobError(description: "pattern ends with a lone `\\`") }
                k += 2
                continue
            }
            if p[k] == "[" {
                guard bracketEnd(p, from: k) != nil else { throw GlobError(description: "`[` without a closing `]`") }
            }
            k += 1
        }
    }

    /// Index just past the `]` closing the bracket expression that starts at `start`.
    static func bracketEnd(_ p: [Unicode.Scalar], from start: Int) -> Int? {
        var k = start + 1
        if k < p.count, p[k] == "!" || p[k] == "^" { k += 1 }
        if k < p.count, p[k] == "]" { k += 1 }
        while k < p.count {
            if p[k] == "]" { return k + 1 }
            k += 1
        }
        return nil
    }

    public func matches(_ text: String) -> Bool {
        let t = Array(text.unicodeScalars)
        var failed = Set<Int>()
        return match(0, 0, t, &failed)
    }

    /// Recursive matcher; `failed` remembers (pattern, text) positions already shown not to
    /// match, so `**` and `*` stay polynomial.
    private func match(_ pi: Int, _ ti: Int, _ t: [Unicode.Scalar], _ failed: inout Set<Int>) -> Bool {
        let key = pi * (t.count + 1) + ti
        if failed.contains(key) { return false }
        var pi = pi, ti = ti
        while pi < scalars.count {
            let c = scalars[pi]
            switch c {
            case "*":
                let double = isPath && pi + 1 < scalars.count && scalars[pi + 1] == "*"
                let next = pi + (double ? 2 : 1)
                var k = ti
                while true {
                    if match(next, k, t, &failed) { return true }
                    if k >= t.count { break }
                    if isPath && !double && t[k] == "/" { break }
                    k += 1
                }
                failed.insert(key)
                return false
            case "?":
                guard ti < t.count, !(isPath && t[ti] == "/") else { failed.insert(key); return false }
                pi += 1
                ti += 1
            case "[":
                guard ti < t.count, let end = Glob.bracketEnd(scalars, from: pi),
                      bracketMatches(Array(scalars[(pi + 1)..<(end - 1)]), t[ti]) else { failed.insert(key); return false }
                pi = end
                ti += 1
            case "\\":
                guard pi + 1 < scalars.count, ti < t.count, scalars[pi + 1] == t[ti] else { failed.insert(key); return false }
                pi += 2
                ti += 1
            default:
                guard ti < t.count, t[ti] == c else { failed.insert(key); return false }
                pi += 1
                ti += 1
            }
        }
        if ti == t.count { return true }
        failed.insert(key)
        return false
    }

    private func bracketMatches(_ set: [Unicode.Scalar], _ c: Unicode.Scalar) -> Bool {
        var items = set[...]
        var negated = false
        if let f = items.first, f == "!" || f == "^" { negated = true; items = items.dropFirst() }
        var found = false
        var k = items.startIndex
        while k < items.endIndex {
            let a = items[k]
            if k + 2 < items.endIndex, items[k + 1] == "-" {
                if a.value <= c.value && c.value <= items[k + 2].value { found = true }
                k += 3
            } else {
                if a == c { found = true }
                k += 1
            }
        }
        return found != negated
    }
}
