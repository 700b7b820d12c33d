/// The hosts a grant covers, as its request named them: a host name or glob (`prod-*`), or tags
/// (`env=production`, `env=production,tier=web`: every tag must match). Kept as that text, so a
/// host that joins the fleet later with the tags is covered without a new grant.
public enum HostSet: Sendable, Equatable, CustomStringConvertible {
    case names(Glob)
    case tags([Tag])

    public struct Tag: Sendable, Equatable {
        public var key: String
        public var value: Glob
    }

    /// nil: not a host set (an empty tag, a bad glob).
    public init?(_ text: String) {
        guard text.contains("=") else {
            guard !text.isEmpty, let glob = try? Glob(text) else { return nil }
            self = .names(glob)
            return
        }
        var tags: [Tag] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { return nil }
            let key = String(pair[0].drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
            let value = String(pair[1].drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
            guard !key.isEmpty, !value.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || "_-.".contains($0) }),
                  let glob = try? Glob(value) else { return nil }
            tags.append(Tag(key: key, value: glob))
        }
        self = .tags(tags)
    }

    public var description: String {
        switch self {
        case .names(let glob): return glob.pattern
        case .tags(let tags): return tags.map { "\($0.key)=\($0.value.pattern)" }.joined(separator: ",")
        }
    }

    public func covers(_ host: HostInfo) -> Bool {
        switch self {
        case .names(let glob): return glob.matches(host.name)
        case .tags(let tags):
            return tags.allSatisfy { tag in
                let actual = tag.key == "name" ? host.name : host.tags[tag.key]
                return actual.map(tag.value.matches) ?? false
            }
        }
    }

    /// Whether every host a tag set can name is one the contract's `hosts:` tags cover: each
    /// tag the contract asks for is in the set with a value it matches (or the same pattern).
    public func isWithin(_ condition: HostCondition) -> Bool {
        guard case .tags(let tags) = self else { return false }
        return condition.requirements.allSatisfy { req in
            tags.contains { $0.key == req.key && ($0.value.pattern == req.value.pattern || ($0.value.isLiteral && req.value.matches($0.value.pattern))) }
        }
    }
}
