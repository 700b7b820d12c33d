import ShellSyntax

/// A line as it was decided in a session, re-decidable under another policy.
public struct RecordedLine: Sendable {
    public var line: String
    public var role: String
    public var host: HostInfo
    /// Seconds since the epoch.
    public var at: Int64
    public var cwd: String?

    public init(line: String, role: String, host: HostInfo, at: Int64, cwd: String?) {
        self.line = line
        self.role = role
        self.host = host
        self.at = at
        self.cwd = cwd
    }
}

/// What a policy change would have done to real use: every recorded line decided under the
/// current and the candidate policy, with the same inputs, and the differences counted per rule.
public struct WhatIf: Sendable {
    public struct Change: Sendable {
        public var line: RecordedLine
        public var before: Decision
        public var after: Decision
    }

    public var lines = 0
    public var changes: [Change] = []

    /// "newly denied", "newly allowed", "newly confirmed", from the verdicts before and after.
    public static func kind(_ c: Change) -> String {
        switch (c.before.verdict, c.after.verdict) {
        case (_, .deny): return "newly denied"
        case (_, .allow): return "newly allowed"
        default: return "newly confirmed"
        }
    }

    public init(_ recorded: [RecordedLine], current: Policy, candidate: Policy, zones: TimeZoneResolver) {
        let before = Decider(current), after = Decider(candidate)
        for r in recorded {
            lines += 1
            let ctx = DecisionContext(host: r.host, epochSeconds: r.at, zones: zones, cwd: r.cwd)
            let a = before.decide(line: r.line, environment: .unknown, role: r.role, context: ctx)
            let b = after.decide(line: r.line, environment: .unknown, role: r.role, context: ctx)
            if a.verdict != b.verdict { changes.append(Change(line: r, before: a, after: b)) }
        }
    }

    /// Counts by kind, then by the rule that decides under the candidate.
    public var counts: [(kind: String, rule: String, count: Int)] {
        var table: [String: [String: Int]] = [:]
        for c in changes { table[WhatIf.kind(c), default: [:]][c.after.rule?.description ?? "(no rule)", default: 0] += 1 }
        return table.sorted { $0.key < $1.key }.flatMap { kind, rules in
            rules.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.map { (kind, $0.key, $0.value) }
        }
    }
}
