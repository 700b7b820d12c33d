/// Who must approve a request under a contract: `count` of some groups or people, or `all:` and
/// `any:` of such rules (a peer *and* a lead), never the requester, each approver counted once.
public indirect enum ApprovalRule: Sendable, Equatable, Codable {
    case approvers(count: Int, groups: [String], people: [String])
    case all([ApprovalRule])
    case any([ApprovalRule])

    /// One approval as the rule sees it: the person, and the groups they held when approving.
    public struct Approver: Sendable, Equatable {
        public var identity: String
        public var groups: Set<String>

        public init(identity: String, groups: Set<String>) {
            self.identity = identity
            self.groups = groups
        }
    }

    /// Whether this person's approval can count towards some part of the rule.
    public func admits(identity: String, groups: Set<String>) -> Bool {
        switch self {
        case .approvers(_, let g, let people): return people.contains(identity) || g.contains(where: groups.contains)
        case .all(let rules), .any(let rules): return rules.contains { $0.admits(identity: identity, groups: groups) }
        }
    }

    /// The groups of the rule a person approves as (kept with the approval, so a later change of
    /// groups does not change what an approval counted for).
    public func relevantGroups(_ groups: Set<String>) -> [String] {
        Set(allGroups).intersection(groups).sorted()
    }

    var allGroups: [String] {
        switch self {
        case .approvers(_, let g, _): return g
        case .all(let rules), .any(let rules): return rules.flatMap(\.allGroups)
        }
    }

    /// Satisfied when the approvers can be assigned to its parts with nobody used twice: one
    /// person in both `sre` and `security` is one approval, not the two an `all:` of them needs.
    public func isSatisfied(by approvers: [Approver]) -> Bool {
        !ways(Set(approvers.indices), approvers).isEmpty
    }

    /// Each set of approvers (by index) that satisfies the rule, as small as the rule allows.
    /// Requests carry a handful of approvals, so enumerating is cheap; the first hit suffices.
    /// A part tries at most 64 ways: past that a rule may wait for one more approval, never
    /// pass one it should not.
    func ways(_ available: Set<Int>, _ approvers: [Approver]) -> [Set<Int>] {
        switch self {
        case .approvers(let count, let groups, let people):
            let eligible = available.filter {
                people.contains(approvers[$0].identity) || groups.contains(where: approvers[$0].groups.contains)
            }.sorted()
            guard eligible.count >= count else { return [] }
            return Self.combinations(eligible, count).map(Set.init)
        case .any(let rules):
            for r in rules {
                let found = r.ways(available, approvers)
                if !found.isEmpty { return found }
            }
            return []
        case .all(let rules):
            return Self.assign(rules[...], available, approvers, used: []).map { [$0] } ?? []
        }
    }

    private static func assign(_ rules: ArraySlice<ApprovalRule>, _ available: Set<Int>, _ approvers: [Approver], used: Set<Int>) -> Set<Int>? {
        guard let first = rules.first else { return used }
        for way in first.ways(available, approvers) {
            if let done = assign(rules.dropFirst(), available.subtracting(way), approvers, used: used.union(way)) { return done }
        }
        return nil
    }

    private static func combinations(_ items: [Int], _ k: Int) -> [[Int]] {
        guard k > 0 else { return [[]] }
        guard items.count >= k else { return [] }
        var result: [[Int]] = []
        for (i, first) in items.enumerated() {
            for rest in combinations(Array(items[(i + 1)...]), k - 1) { result.append([first] + rest) }
            if result.count >= 64 { break }
        }
        return result
    }

    /// The fewest approvals that can satisfy the rule.
    public var fewestApprovals: Int {
        switch self {
        case .approvers(let count, _, _): return count
        case .all(let rules): return rules.reduce(0) { $0 + $1.fewestApprovals }
        case .any(let rules): return rules.map(\.fewestApprovals).min() ?? 0
        }
    }

    /// What the rule asks, for people: "1 of group sre and 1 of group security".
    public var description: String {
        switch self {
        case .approvers(let count, let groups, let people):
            let who = (groups.map { "group \($0)" } + people).joined(separator: " or ")
            return "\(count) of \(who)"
        case .all(let rules): return rules.map { $0.nested(" and ") }.joined(separator: " and ")
        case .any(let rules): return rules.map { $0.nested(" or ") }.joined(separator: " or ")
        }
    }

    private func nested(_ joiner: String) -> String {
        if case .approvers = self { return description }
        return "(\(description))"
    }

    /// What is still missing after these approvals ("" when satisfied): the parts of an `all:`
    /// not yet met, or the whole of an `any:` none of whose parts is.
    public func outstanding(after approvers: [Approver]) -> String {
        if isSatisfied(by: approvers) { return "" }
        switch self {
        case .approvers(let count, let groups, let people):
            let have = approvers.filter { people.contains($0.identity) || groups.contains(where: $0.groups.contains) }.count
            let who = (groups.map { "group \($0)" } + people).joined(separator: " or ")
            return "\(count - min(have, count)) more of \(who)"
        case .all(let rules):
            return rules.filter { !$0.isSatisfied(by: approvers) }.map { $0.outstanding(after: approvers) }.joined(separator: " and ")
        case .any:
            return description
        }
    }
}

/// An on-call plug-in (`approval: {auto_if: {command: [...], timeout: 3s}}`): a program asked
/// whether the requester may be approved at once (exit 0); anything else leaves the request to
/// people.
public struct OnCallCheck: Sendable, Equatable {
    /// argv; `{identity}`, `{role}`, `{hosts}`, `{contract}` and `{grant}` are filled in.
    public var command: [String]
    /// Milliseconds.
    public var timeout: Int

    public init(command: [String], timeout: Int) {
        self.command = command
        self.timeout = timeout
    }

    public func argv(identity: String, role: String, hosts: String, contract: String, grant: Int64) -> [String] {
        let values = ["{identity}": identity, "{role}": role, "{hosts}": hosts, "{contract}": contract, "{grant}": String(grant)]
        return command.map { arg in
            var out = ""
            var rest = Substring(arg)
            while let open = rest.firstIndex(of: "{") {
                out += rest[..<open]
                if let close = rest[open...].firstIndex(of: "}"), let value = values[String(rest[open...close])] {
                    out += value
                    rest = rest[rest.index(after: close)...]
                } else {
                    out.append("{")
                    rest = rest[rest.index(after: open)...]
                }
            }
            return out + rest
        }
    }
}
