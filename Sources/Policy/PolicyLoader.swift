import Yams

/// Turns policy files into a checked `Policy`. A policy with any error does not load at all:
/// sessions refuse to start rather than run with part of their rules.
public enum PolicyLoader {
    static let roleKeys = ["role", "description", "extends", "allow", "deny", "confirm", "writes", "when", "hosts",
                           "environment", "guard", "filesystem", "confirm_limit", "alert_on", "transfers", "snapshot",
                           "snapshot_limit", "offline", "recording"]
    static let ruleKeys = ["cmd", "args", "option", "reason", "when", "hosts", "alert", "signal", "effects", "statements"]
    static let allowKeys = ruleKeys + ["helpers"]
    static let confirmKeys = ruleKeys + ["dry_run", "phrase", "without_dry_run"]
    static let globalKeys = ["trusted_paths", "env_deny", "people"]
    static let contractKeys = ["contract", "description", "role", "requesters", "hosts", "default_duration", "max_duration",
                               "reason", "approval", "windows", "pending_ttl", "confirm_tokens", "snapshot", "snapshot_limit"]

    /// `lint: false` skips the warnings (what a session needs is the policy, fast; `policy lint` and
    /// `doctor` ask for them).
    public static func load(_ files: [PolicyFile], lint: Bool = true) throws(PolicyError) -> Policy {
        var diagnostics: [Diagnostic] = []
        var global = GlobalSettings()
        var roles: [String: Role] = [:]
        var contracts: [Contract] = []
        for file in files.sorted(by: { $0.path < $1.path }) {
            var reader = YAMLReader(file: file.path)
            let kind = classify(file.path)
            if kind == nil { continue }
            guard let document = reader.document(file.text) else {
                diagnostics += reader.diagnostics
                continue
            }
            switch kind {
            case .global:
                if let g = parseGlobal(document, &reader) { global = g }
            case .role:
                if let role = parseRole(document, &reader) {
                    if let existing = roles[role.name] {
                        reader.error(document, "role `\(role.name)` is already defined in \(existing.ref)")
                    } else {
                        roles[role.name] = role
                    }
                }
            case .contract:
                if let c = parseContract(document, &reader) {
                    if contracts.contains(where: { $0.name == c.name }) {
                        reader.error(document, "contract `\(c.name)` is defined twice")
                    } else {
                        contracts.append(c)
                    }
                }
            case nil:
                break
            }
            diagnostics += reader.diagnostics
        }
        let compiled = compile(roles, &diagnostics)
        for c in contracts where roles[c.role] == nil {
            diagnostics.append(Diagnostic(.error, c.ref, "contract `\(c.name)` grants unknown role `\(c.role)`",
                                          hint: YAMLReader.closest(c.role, in: Array(roles.keys)).map { "did you mean `\($0)`?" }))
        }
        let errors = diagnostics.filter { $0.severity == .error }
        if !errors.isEmpty { throw PolicyError(diagnostics: diagnostics) }
        var policy = Policy(global: global, roles: compiled, contracts: contracts, warnings: diagnostics)
        if lint { policy.warnings += Lint.warnings(policy) }
        return policy
    }

    enum FileKind { case global, role, contract }

    static func classify(_ path: String) -> FileKind? {
        guard path.hasSuffix(".yaml") || path.hasSuffix(".yml") else { return nil }
        if path == "policy.yaml" || path == "policy.yml" { return .global }
        if path.hasPrefix("roles/") { return .role }
        if path.hasPrefix("contracts/") { return .contract }
        return nil
    }

    // MARK: policy.yaml

    static func parseGlobal(_ node: Node, _ r: inout YAMLReader) -> GlobalSettings? {
        guard let entries = r.mapping(node, "policy.yaml", allowed: globalKeys) else { return nil }
        var trusted = GlobalSettings.defaultTrustedPaths
        var envDeny: [String] = []
        var people: [String: [String]] = [:]
        for (key, _, value) in entries {
            switch key {
            case "trusted_paths":
                let paths = r.items(value, "trusted_paths")
                for (p, n) in paths where !p.hasPrefix("/") || p.contains("..") {
                    r.error(n, "trusted path `\(p)` must be absolute, without `..`")
                }
                trusted = paths.map { PathName.normalized($0.text) }
            case "env_deny":
                let names = r.items(value, "env_deny")
                for (n, node) in names {
                    do { _ = try Glob(n) } catch { r.error(node, "env_deny `\(n)`: \(error)") }
                }
                envDeny = names.map(\.text)
            case "people":
                guard let m = r.mapping(value, "people", allowed: (value.mapping?.keys.compactMap(\.string)) ?? []) else { continue }
                for (identity, _, groups) in m {
                    people[identity] = r.strings(groups, "the groups of `\(identity)`") ?? []
                }
            default:
                break
            }
        }
        return GlobalSettings(trustedPaths: trusted, envDeny: envDeny, people: people, ref: r.ref(node))
    }

    // MARK: roles

    static func parseRole(_ node: Node, _ r: inout YAMLReader) -> Role? {
        guard let entries = r.mapping(node, "a role", allowed: roleKeys) else { return nil }
        var role = Role(name: "", description: "", ref: r.ref(node), extends: [], rules: [], writes: [], when: nil, hosts: nil,
                        environment: [:], guardEnabled: nil, filesystem: nil, confirmLimit: nil, alertOn: [], transfers: nil)
        for (key, keyNode, value) in entries {
            switch key {
            case "role":
                guard let name = r.string(value, "role") else { continue }
                if name.isEmpty || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) {
                    r.error(value, "role name `\(name)` may hold only letters, digits, `-` and `_`")
                }
                role.name = name
                role.ref = r.ref(keyNode)
            case "description":
                role.description = r.string(value, "description") ?? ""
            case "extends":
                role.extends = r.strings(value, "extends") ?? []
            case "allow", "deny", "confirm":
                guard let seq = value.sequence else {
                    r.error(value, "`\(key)` must be a list of rules (`- cmd: …`)")
                    continue
                }
                for item in seq {
                    if let rule = parseRule(item, Rule.Kind(rawValue: key)!, &r) { role.rules.append(rule) }
                }
            case "writes":
                role.writes = pathGlobs(value, "writes", &r)
            case "when":
                role.when = parseWhen(value, &r)
            case "hosts":
                role.hosts = parseHosts(value, &r)
            case "environment":
                guard let m = r.mapping(value, "environment", allowed: value.mapping?.keys.compactMap(\.string) ?? []) else { continue }
                for (name, nameNode, v) in m {
                    if !VariableName.isValid(name) { r.error(nameNode, "`\(name)` is not a variable name") }
                    role.environment[name] = r.string(v, "the value of \(name)") ?? ""
                }
            case "guard":
                role.guardEnabled = r.bool(value, "guard")
            case "filesystem":
                guard let m = r.mapping(value, "filesystem", allowed: ["read_only", "writable"]) else { continue }
                var fs = FilesystemRules(readOnly: false, writable: [])
                for (k, _, v) in m {
                    if k == "read_only" { fs.readOnly = r.bool(v, "read_only") ?? false }
                    if k == "writable" { fs.writable = r.strings(v, "writable") ?? [] }
                }
                role.filesystem = fs
            case "confirm_limit":
                guard let m = r.mapping(value, "confirm_limit", allowed: ["count", "per"]) else { continue }
                var limit = ConfirmLimit(count: 0, perSeconds: 0)
                for (k, _, v) in m {
                    if k == "count" { limit.count = r.int(v, "count") ?? 0 }
                    if k == "per" { limit.perSeconds = r.duration(v, "per") ?? 0 }
                }
                if limit.count == 0 || limit.perSeconds == 0 { r.error(value, "confirm_limit needs `count` and `per`") }
                role.confirmLimit = limit
            case "alert_on":
                let events = r.strings(value, "alert_on") ?? []
                for e in events where !["deny", "confirm", "guard"].contains(e) {
                    r.error(value, "alert_on `\(e)`: events are deny, confirm and guard")
                }
                role.alertOn = Set(events)
            case "transfers":
                role.transfers = parseTransfers(value, &r)
            case "snapshot":
                role.snapshot = parseSnapshot(value, &r)
            case "snapshot_limit":
                role.snapshotLimit = parseSnapshotLimit(value, &r)
            case "offline":
                role.offline = parseOffline(value, &r)
            case "recording":
                guard let s = r.string(value, "recording") else { continue }
                guard let mode = RecordingMode(rawValue: s) else {
                    r.error(value, "recording must be buffered or strict")
                    continue
                }
                role.recording = mode
            default:
                break
            }
        }
        if role.name.isEmpty {
            r.error(node, "a role file needs `role: NAME`")
            return nil
        }
        return role
    }

    /// `offline: deny` or `offline: {cached: 10m}`.
    static func parseOffline(_ value: Node, _ r: inout YAMLReader) -> OfflineRule? {
        if value.scalar?.string == "deny" { return .deny }
        guard value.mapping != nil else {
            r.error(value, "offline must be deny or {cached: DURATION}")
            return nil
        }
        guard let m = r.mapping(value, "offline", allowed: ["cached"]), let (_, _, v) = m.first, let seconds = r.duration(v, "cached"), seconds > 0 else {
            r.error(value, "offline must be deny or {cached: DURATION}")
            return nil
        }
        return .cached(seconds: Int64(seconds))
    }

    static func parseTransfers(_ value: Node, _ r: inout YAMLReader) -> TransferRules? {
        guard let m = r.mapping(value, "transfers", allowed: ["sftp", "scp", "rsync"]) else { return nil }
        var t = TransferRules(sftp: .deny, scp: .deny, rsync: .deny)
        for (k, _, v) in m {
            guard let s = r.string(v, k), let mode = TransferRules.Mode(rawValue: s) else {
                r.error(v, "`\(k)` must be deny, read-only or read-write")
                continue
            }
            switch k {
            case "sftp": t.sftp = mode
            case "scp": t.scp = mode
            default: t.rsync = mode
            }
        }
        return t
    }

    static func pathGlobs(_ value: Node, _ what: String, _ r: inout YAMLReader) -> [String] {
        let paths = r.items(value, what)
        for (p, n) in paths {
            if !p.hasPrefix("/") && !p.hasPrefix("~") { r.error(n, "`\(p)` in \(what) must be an absolute path or start with ~") }
            do { _ = try Glob(p, path: true) } catch { r.error(n, "`\(p)` in \(what): \(error)") }
        }
        return paths.map(\.text)
    }

    static func parseRule(_ node: Node, _ kind: Rule.Kind, _ r: inout YAMLReader) -> Rule? {
        let what = "a \(kind.rawValue) rule"
        guard let entries = r.mapping(node, what, allowed: kind == .confirm ? confirmKeys : kind == .allow ? allowKeys : ruleKeys) else { return nil }
        var rule = Rule(kind: kind, ref: r.ref(node), commands: [], arguments: nil, options: nil, reason: nil, when: nil,
                        hosts: nil, confirm: kind == .confirm ? ConfirmSpec() : nil, alert: false)
        var sawCommand = false
        for (key, _, value) in entries {
            switch key {
            case "cmd":
                sawCommand = true
                for (c, n) in r.items(value, "cmd") {
                    if c == "*" || (!c.isEmpty && !c.contains("/") && !c.contains(where: \.isWhitespace)) {
                        rule.commands.append(c)
                    } else if c.hasPrefix("/") && !c.contains("..") {
                        rule.commands.append(PathName.normalized(c))
                    } else {
                        r.error(n, "cmd `\(c)`: name a command (`ls`) or give an absolute path (`/opt/app/bin/tool`)")
                    }
                }
            case "args":
                var patterns: [ArgumentPattern] = []
                for (a, n) in r.items(value, "args") {
                    do { patterns.append(try ArgumentPattern(a)) } catch { r.error(n, "args `\(a)`: \(error)") }
                }
                rule.arguments = patterns
            case "option":
                var options: [OptionMatcher] = []
                for (o, n) in r.items(value, "option") {
                    do { options.append(try OptionMatcher(o)) } catch { r.error(n, "option: \(error)") }
                }
                rule.options = options
            case "helpers":
                rule.helpers = r.items(value, "helpers").compactMap { item in
                    do {
                        let words = try ArgumentPattern.split(item.text)
                        guard let c = words.first, c.hasPrefix("/") && !c.contains("..") || !c.isEmpty && !c.contains("/") && c != "*" else {
                            r.error(item.node, "helpers `\(item.text)`: start with a command name (`tbl`) or an absolute path, then its arguments (`sh -c *`)")
                            return nil
                        }
                        let args = words.count > 1 ? try ArgumentPattern(words: Array(words.dropFirst())) : nil
                        return Helper(command: c.hasPrefix("/") ? PathName.normalized(c) : c, arguments: args)
                    } catch {
                        r.error(item.node, "helpers `\(item.text)`: \(error)")
                        return nil
                    }
                }
            case "signal":
                rule.signals = r.items(value, "signal").map { item in
                    guard let s = Signals.canonical(item.text) else {
                        r.error(item.node, "signal `\(item.text)` is not a signal name or number (HUP, TERM, 9 …)")
                        return item.text
                    }
                    return s
                }
            case "effects":
                rule.effects = vocabulary(value, "effects", ToolFacts.knownEffects, &r)
            case "statements":
                rule.statements = vocabulary(value, "statements", StatementAnalysis.knownKinds, &r)
            case "reason":
                rule.reason = r.string(value, "reason")
            case "when":
                rule.when = parseWhen(value, &r)
            case "hosts":
                rule.hosts = parseHosts(value, &r)
            case "alert":
                rule.alert = r.bool(value, "alert") ?? false
            case "dry_run":
                if let s = value.scalar?.string {
                    switch s {
                    case "builtin": rule.confirm?.dryRun = .builtin
                    case "none": rule.confirm?.dryRun = .none
                    default: r.error(value, "dry_run is `builtin`, `none`, or a command template like [\"{argv}\", \"--dry-run\"]")
                    }
                } else if let template = r.strings(value, "dry_run"), !template.isEmpty {
                    rule.confirm?.dryRun = .command(template)
                }
            case "phrase":
                guard let s = r.string(value, "phrase"), let p = ConfirmSpec.Phrase(rawValue: s) else {
                    r.error(value, "phrase is hostname, count or yes")
                    continue
                }
                rule.confirm?.phrase = p
            case "without_dry_run":
                switch r.string(value, "without_dry_run") {
                case "deny": rule.confirm?.withoutDryRun = .deny
                case "confirm": rule.confirm?.withoutDryRun = .confirm
                default: r.error(value, "without_dry_run is deny or confirm")
                }
            default:
                break
            }
        }
        if rule.commands.isEmpty {
            if !sawCommand { r.error(node, "\(what) needs `cmd:` (a name, an absolute path, a list of them, or `*`)") }
            return nil
        }
        return rule
    }

    /// Names from a fixed list, each checked (a misspelt effect would never match).
    static func vocabulary(_ value: Node, _ what: String, _ known: Set<String>, _ r: inout YAMLReader) -> [String] {
        let items = r.items(value, what)
        for (name, node) in items where !known.contains(name) {
            r.error(node, "\(what) `\(name)` is unknown", hint: YAMLReader.closest(name, in: known.sorted()).map { "did you mean `\($0)`?" })
        }
        return items.map(\.text)
    }

    static func parseWhen(_ node: Node, _ r: inout YAMLReader) -> TimeCondition? {
        guard let entries = r.mapping(node, "when", allowed: ["not", "only"]) else { return nil }
        var condition = TimeCondition(only: [], not: [])
        for (key, _, value) in entries {
            for (text, n) in r.items(value, key) {
                do {
                    let w = try TimeWindow(text)
                    if key == "not" { condition.not.append(w) } else { condition.only.append(w) }
                } catch {
                    r.error(n, error.description)
                }
            }
        }
        return condition
    }

    static func parseHosts(_ node: Node, _ r: inout YAMLReader) -> HostCondition? {
        guard let m = node.mapping else {
            r.error(node, "hosts must be a mapping of tags, like `{env: production}` or `{name: \"prod-*\"}`")
            return nil
        }
        var condition = HostCondition(requirements: [])
        for (k, v) in m {
            guard let key = k.string, let value = v.scalar?.string else {
                r.error(k, "hosts: each entry is `tag: value`")
                continue
            }
            do { condition.requirements.append((key, try Glob(value))) } catch { r.error(v, "hosts `\(key)`: \(error)") }
        }
        return condition
    }

    // MARK: contracts

    static func parseContract(_ node: Node, _ r: inout YAMLReader) -> Contract? {
        guard let entries = r.mapping(node, "a contract", allowed: contractKeys) else { return nil }
        var c = Contract(name: "", description: "", ref: r.ref(node), role: "", requesterGroups: [], requesterPeople: [],
                         hostNames: [], hostTags: nil, defaultDuration: 1800, maxDuration: 7200, reasonRequired: true,
                         reasonPattern: nil, approval: .approvers(count: 1, groups: [], people: []), denyWindows: [],
                         pendingTTL: 3600)
        var approvalGiven = false
        var snapshotLimit: Int?
        for (key, _, value) in entries {
            switch key {
            case "contract": c.name = r.string(value, "contract") ?? ""
            case "snapshot": c.snapshot = SnapshotSettings(rules: parseSnapshot(value, &r))
            case "snapshot_limit": snapshotLimit = parseSnapshotLimit(value, &r)
            case "description": c.description = r.string(value, "description") ?? ""
            case "role": c.role = r.string(value, "role") ?? ""
            case "requesters":
                guard let m = r.mapping(value, "requesters", allowed: ["groups", "people"]) else { continue }
                for (k, _, v) in m {
                    if k == "groups" { c.requesterGroups = r.strings(v, "groups") ?? [] } else { c.requesterPeople = r.strings(v, "people") ?? [] }
                }
            case "hosts":
                if value.mapping != nil {
                    c.hostTags = parseHosts(value, &r)
                } else {
                    for (g, n) in r.items(value, "hosts") {
                        do { c.hostNames.append(try Glob(g)) } catch { r.error(n, "hosts `\(g)`: \(error)") }
                    }
                }
            case "default_duration": c.defaultDuration = r.duration(value, "default_duration") ?? c.defaultDuration
            case "max_duration": c.maxDuration = r.duration(value, "max_duration") ?? c.maxDuration
            case "pending_ttl": c.pendingTTL = r.duration(value, "pending_ttl") ?? c.pendingTTL
            case "confirm_tokens": c.confirmTokens = r.bool(value, "confirm_tokens") ?? false
            case "reason":
                guard let m = r.mapping(value, "reason", allowed: ["required", "pattern"]) else { continue }
                for (k, _, v) in m {
                    if k == "required" { c.reasonRequired = r.bool(v, "required") ?? true }
                    if k == "pattern", let p = r.string(v, "pattern") {
                        if (try? Regex(p)) == nil { r.error(v, "pattern `\(p)` is not a valid regular expression") }
                        c.reasonPattern = p
                    }
                }
            case "approval":
                approvalGiven = true
                if let approval = parseApproval(value, &r) { c.approval = approval }
            case "windows":
                guard let m = r.mapping(value, "windows", allowed: ["deny"]) else { continue }
                for (_, _, v) in m {
                    for (text, n) in r.items(v, "windows.deny") {
                        do { c.denyWindows.append(try TimeWindow(text)) } catch { r.error(n, error.description) }
                    }
                }
            default:
                break
            }
        }
        if let limit = snapshotLimit {
            if c.snapshot == nil { r.error(node, "contract `\(c.name)` sets snapshot_limit but watches nothing: add `snapshot:`") }
            c.snapshot?.limit = limit
        }
        if c.name.isEmpty { r.error(node, "a contract file needs `contract: NAME`") }
        if c.role.isEmpty { r.error(node, "contract `\(c.name)` needs `role:`") }
        if !approvalGiven { r.error(node, "contract `\(c.name)` needs `approval:` (`{auto: true}` or approvers)") }
        if c.requesterGroups.isEmpty && c.requesterPeople.isEmpty {
            r.error(node, "contract `\(c.name)` names no requesters: give `requesters: {groups: [...]}`")
        }
        if c.defaultDuration > c.maxDuration {
            r.error(node, "contract `\(c.name)`: default_duration is longer than max_duration")
        }
        return c.name.isEmpty || c.role.isEmpty ? nil : c
    }

    // MARK: inheritance

    static func compile(_ roles: [String: Role], _ diagnostics: inout [Diagnostic]) -> [String: CompiledRole] {
        var compiled: [String: CompiledRole] = [:]
        var visiting: [String] = []

        func resolve(_ name: String) -> CompiledRole? {
            if let done = compiled[name] { return done }
            guard let role = roles[name] else { return nil }
            if visiting.contains(name) {
                diagnostics.append(Diagnostic(.error, role.ref, "role `\(name)` extends itself: \((visiting + [name]).joined(separator: " → "))"))
                return nil
            }
            visiting.append(name)
            defer { visiting.removeLast() }
            var rules: [Rule] = []
            var writes: [String] = []
            var environment: [String: String] = [:]
            var snapshot: SnapshotSettings?
            for parent in role.extends {
                guard roles[parent] != nil else {
                    diagnostics.append(Diagnostic(.error, role.ref, "role `\(name)` extends unknown role `\(parent)`",
                                                  hint: YAMLReader.closest(parent, in: Array(roles.keys)).map { "did you mean `\($0)`?" }))
                    continue
                }
                guard let p = resolve(parent) else { continue }
                rules += p.rules
                writes += p.writes
                environment.merge(p.environment) { _, new in new }
                snapshot = p.snapshot ?? snapshot
            }
            rules += role.rules
            writes += role.writes
            environment.merge(role.environment) { _, new in new }
            // A role's own snapshot entries replace what it inherits; its limit applies to either.
            if let own = role.snapshot { snapshot = SnapshotSettings(rules: own) }
            if let limit = role.snapshotLimit {
                if snapshot == nil {
                    diagnostics.append(Diagnostic(.error, role.ref, "role `\(name)` sets snapshot_limit but watches nothing: add `snapshot:`"))
                }
                snapshot?.limit = limit
            }
            let result = CompiledRole(role: role, rules: rules, writes: writes, environment: environment, snapshot: snapshot)
            compiled[name] = result
            return result
        }
        for name in roles.keys.sorted() { _ = resolve(name) }
        return compiled
    }
}

/// Lexical path handling, no file system: the pure core cannot look at the disk.
public enum PathName {
    /// Collapses `//` and `/./`, drops a trailing `/`; keeps `..` (callers treat it as untrusted).
    public static func normalized(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        let parts = path.split(separator: "/").filter { $0 != "." }
        let joined = parts.joined(separator: "/")
        return absolute ? "/" + joined : (joined.isEmpty ? "." : joined)
    }

    /// `..` resolved lexically against the path's own components.
    public static func resolved(_ path: String, cwd: String?) -> String? {
        var base: [Substring] = []
        if !path.hasPrefix("/") {
            guard let cwd, cwd.hasPrefix("/") else { return nil }
            base = cwd.split(separator: "/")
        }
        for part in path.split(separator: "/") {
            if part == "." || part.isEmpty { continue }
            if part == ".." { if !base.isEmpty { base.removeLast() }; continue }
            base.append(part)
        }
        return "/" + base.joined(separator: "/")
    }

    public static func directory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public static func base(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}

enum VariableName {
    static func isValid(_ s: String) -> Bool {
        guard let f = s.unicodeScalars.first, f == "_" || (f.isASCII && f.properties.isAlphabetic) else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil)) }
    }
}
