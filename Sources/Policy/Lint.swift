/// Warnings for a policy that loads but does not say what its author meant: rules that can never
/// apply, and rules that repeat others.
enum Lint {
    static func warnings(_ policy: Policy) -> [Diagnostic] {
        var out: [Diagnostic] = []
        var seen = Set<SourceRef>()
        for name in policy.roles.keys.sorted() {
            guard let role = policy.roles[name] else { continue }
            for (k, rule) in role.rules.enumerated() where !seen.contains(rule.ref) {
                if let reason = shadow(rule, at: k, in: role.rules) {
                    seen.insert(rule.ref)
                    out.append(Diagnostic(.warning, rule.ref, reason))
                }
            }
            out += snapshotWarnings(role)
        }
        for c in policy.contracts {
            if let rules = c.snapshot?.rules, let role = policy.roles[c.role] { out += snapshotWarnings(role, rules: rules) }
        }
        for c in policy.contracts where c.reasonRequired && c.reasonPattern == nil {
            out.append(Diagnostic(.warning, c.ref, "contract `\(c.name)` requires a reason but gives no `pattern`; any text will do"))
        }
        return out
    }

    /// Why `rule` can never change a decision, if it cannot.
    static func shadow(_ rule: Rule, at index: Int, in rules: [Rule]) -> String? {
        let names = Set(rule.commands)
        func covers(_ other: Rule) -> Bool {
            other.commands.contains("*") || names.isSubset(of: Set(other.commands))
        }
        let what = rule.commands.joined(separator: ", ")
        if rule.kind != .deny {
            if let deny = rules.first(where: { $0.kind == .deny && $0.isUnconditional && covers($0) }) {
                return "this \(rule.kind.rawValue) rule for \(what) never applies: \(deny.ref) denies it always"
            }
        }
        if rule.kind == .allow, let confirm = rules.first(where: { $0.kind == .confirm && $0.isUnconditional && covers($0) }) {
            return "this allow rule for \(what) never applies: \(confirm.ref) asks for confirmation always"
        }
        // A rule naming helpers adds them, whatever else allows its command.
        for (k, other) in rules.enumerated() where k < index && other.kind == rule.kind && covers(other) && rule.helpers == nil {
            if other.isUnconditional && other.ref != rule.ref {
                return "this \(rule.kind.rawValue) rule for \(what) repeats \(other.ref), which already matches every use"
            }
            if Set(other.commands) == names, other.arguments?.map(\.text) == rule.arguments?.map(\.text),
               other.options?.map(\.text) == rule.options?.map(\.text), other.when == nil, rule.when == nil,
               other.hosts == nil, rule.hosts == nil, other.ref != rule.ref {
                return "this \(rule.kind.rawValue) rule repeats \(other.ref)"
            }
        }
        return nil
    }
}
