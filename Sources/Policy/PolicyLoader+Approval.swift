import Yams

/// `approval:` of a contract: `{auto: true}`, `{count: 1, groups: [sre]}`, `{all: [...]}` or
/// `{any: [...]}` (nested as deep as needed), each with an optional `auto_if:` plug-in.
extension PolicyLoader {
    static let approvalKeys = ["auto", "count", "groups", "people", "all", "any", "auto_if"]

    static func parseApproval(_ node: Node, _ r: inout YAMLReader) -> Contract.Approval? {
        guard let m = r.mapping(node, "approval", allowed: approvalKeys) else { return nil }
        var auto = false
        var onCall: OnCallCheck?
        for (k, _, v) in m {
            if k == "auto" { auto = r.bool(v, "auto") ?? false }
            if k == "auto_if" { onCall = parseOnCall(v, &r) }
        }
        let ruleKeys = Set(m.map(\.key)).subtracting(["auto", "auto_if"])
        if auto {
            if !ruleKeys.isEmpty { r.error(node, "approval: `auto: true` approves every request; drop \(ruleKeys.sorted().joined(separator: ", ")) or `auto`") }
            if onCall != nil { r.error(node, "approval: `auto_if` asks a plug-in before people; with `auto: true` nobody is asked") }
            return .automatic
        }
        guard !ruleKeys.isEmpty else {
            r.error(node, "approval names no approvers: give `groups`, `people`, `all:`, `any:`, or `auto: true`")
            return nil
        }
        guard let rule = parseRule(node, m.filter { ruleKeys.contains($0.key) }, &r) else { return nil }
        return Contract.Approval(rule: rule, onCall: onCall)
    }

    static func parseRule(_ node: Node, _ m: [(key: String, keyNode: Node, value: Node)], _ r: inout YAMLReader) -> ApprovalRule? {
        let keys = Set(m.map(\.key))
        if keys.contains("all") || keys.contains("any") {
            guard keys.count == 1 else {
                r.error(node, "approval: `all:` and `any:` stand alone; put counts and groups inside their items")
                return nil
            }
            let (key, _, value) = m[0]
            guard let items = value.sequence, !items.isEmpty else {
                r.error(value, "approval `\(key):` needs a list of rules, like `[{count: 1, groups: [sre]}, {count: 1, groups: [security]}]`")
                return nil
            }
            var rules: [ApprovalRule] = []
            for item in items {
                guard let sub = r.mapping(item, "an approval rule", allowed: ["count", "groups", "people", "all", "any"]) else { return nil }
                guard let rule = parseRule(item, sub, &r) else { return nil }
                rules.append(rule)
            }
            return key == "all" ? .all(rules) : .any(rules)
        }
        var count = 1
        var groups: [String] = [], people: [String] = []
        for (k, _, v) in m {
            switch k {
            case "count": count = r.int(v, "count") ?? 1
            case "groups": groups = r.strings(v, "groups") ?? []
            default: people = r.strings(v, "people") ?? []
            }
        }
        if groups.isEmpty && people.isEmpty {
            r.error(node, "approval names no approvers: give `groups`, `people`, or `auto: true`")
            return nil
        }
        if count < 1 {
            r.error(node, "approval count must be at least 1")
            return nil
        }
        return .approvers(count: count, groups: groups, people: people)
    }

    static func parseOnCall(_ node: Node, _ r: inout YAMLReader) -> OnCallCheck? {
        guard let m = r.mapping(node, "auto_if", allowed: ["command", "timeout"]) else { return nil }
        var command: [String] = []
        var timeout = 3
        for (k, _, v) in m {
            if k == "command" { command = r.strings(v, "auto_if.command") ?? [] }
            if k == "timeout" { timeout = r.duration(v, "auto_if.timeout") ?? timeout }
        }
        guard let program = command.first else {
            r.error(node, "auto_if needs `command: [/usr/local/lib/jitsh/oncall, \"{identity}\", \"{role}\"]`")
            return nil
        }
        if !program.hasPrefix("/") {
            r.error(node, "auto_if: the command `\(program)` must be an absolute path, so no PATH decides what runs")
            return nil
        }
        if timeout < 1 || timeout > 60 {
            r.error(node, "auto_if timeout must be between 1s and 60s (the requester waits for it)")
            return nil
        }
        return OnCallCheck(command: command, timeout: timeout * 1000)
    }
}
