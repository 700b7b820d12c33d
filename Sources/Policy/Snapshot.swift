import Yams

/// `snapshot:` in a role: the files jitsh keeps before- and after-images of at every line, how a
/// change to them is checked, and what happens when the check fails.
///
/// ```yaml
/// snapshot:
///   - paths: ["/etc/nginx/**"]
///     check: ["nginx", "-t"]
///     on_failure: restore
///   - paths: ["/etc/systemd/system/**", "/etc/cron.d/**"]
/// snapshot_limit: 64MiB
/// ```
public struct SnapshotRule: Sendable, Equatable {
    /// What a failed change leads to.
    public enum OnFailure: String, Sendable, CaseIterable {
        /// The before-images go back at once.
        case restore
        /// The person is asked, with a typed phrase; without a terminal the change is restored.
        case ask
        /// The change stays; the images and the diff are still kept.
        case keep
    }

    public var ref: SourceRef
    /// Absolute path globs (`~` is the person's home): `/etc/nginx/**`, `/etc/hosts`.
    public var paths: [String]
    /// The program and arguments run (without a shell) after a line changed a watched file.
    public var check: [String]?
    public var onFailure: OnFailure
    /// `line_failure: true`: a line that exits non-zero after changing a watched file has failed too.
    public var lineFailure: Bool

    public init(ref: SourceRef, paths: [String], check: [String]? = nil, onFailure: OnFailure = .restore, lineFailure: Bool = false) {
        self.ref = ref
        self.paths = paths
        self.check = check
        self.onFailure = onFailure
        self.lineFailure = lineFailure
    }

    /// How a line that changed this rule's files went.
    public enum Outcome: Sendable, Equatable {
        case kept
        /// Failed: `why` is one line for the person (`check nginx -t exited with status 1`).
        case failed(why: String, action: OnFailure)
    }

    /// Pure: the line's exit status and the check's (nil when it did not finish in time, absent
    /// when the rule has none) decide what happens to the change.
    public func outcome(lineStatus: Int32, checkStatus: Int32??) -> Outcome {
        if let check, let status = checkStatus {
            let shown = check.joined(separator: " ")
            guard let status else { return .failed(why: "the check `\(shown)` did not finish in time", action: onFailure) }
            if status != 0 { return .failed(why: "the check `\(shown)` exited with status \(status)", action: onFailure) }
        }
        if lineFailure && lineStatus != 0 {
            return .failed(why: "the line exited with status \(lineStatus)", action: onFailure)
        }
        return .kept
    }

    /// One test for all the rule's patterns, made once: `DIR/**` (the common case) is a prefix
    /// comparison, so a walk of a thousand files does not run the glob matcher a thousand times.
    public func matcher(home: String) -> @Sendable (String) -> Bool {
        var prefixes: [String] = []
        var globs: [Glob] = []
        for p in paths {
            let expanded = SnapshotRule.expand(p, home: home)
            let head = expanded.hasSuffix("/**") ? String(expanded.dropLast(3)) : nil
            if let head, !head.contains(where: { "*?[\\".contains($0) }) {
                prefixes.append(head == "/" || head.isEmpty ? "/" : head + "/")
            } else if let g = try? Glob(expanded, path: true) {
                globs.append(g)
            }
        }
        // Bytes, not characters: a prefix of a path is a prefix of its UTF-8.
        let heads = prefixes.map { Array($0.utf8) }
        return { [heads, globs] path in
            heads.contains { head in path.utf8.count >= head.count && path.utf8.starts(with: head) } || globs.contains { $0.matches(path) }
        }
    }

    static func expand(_ pattern: String, home: String) -> String {
        pattern == "~" ? home : pattern.hasPrefix("~/") ? home + pattern.dropFirst() : pattern
    }

    /// The directories (or files) to walk for `pattern`: its part before the first wildcard,
    /// cut at a `/`. `/etc/nginx/**` → `/etc/nginx`; `/etc/cron.d/*.conf` → `/etc/cron.d`.
    public static func walkRoot(_ pattern: String, home: String) -> String {
        let expanded = expand(pattern, home: home)
        guard let wild = expanded.firstIndex(where: { "*?[\\".contains($0) }) else { return PathName.normalized(expanded) }
        let literal = expanded[..<wild]
        guard let slash = literal.lastIndex(of: "/") else { return "/" }
        let root = String(literal[..<slash])
        return root.isEmpty ? "/" : PathName.normalized(root)
    }
}

/// A role's snapshot settings: its rules (its own, or those of the roles it extends) and the
/// bound on what one session may keep.
public struct SnapshotSettings: Sendable, Equatable {
    public var rules: [SnapshotRule]
    /// Bytes of images (before and after, each content once) one session may keep.
    public var limit: Int

    public static let defaultLimit = 64 << 20

    public init(rules: [SnapshotRule], limit: Int = SnapshotSettings.defaultLimit) {
        self.rules = rules
        self.limit = limit
    }

    /// The first rule covering `path`, whose check and `on_failure` apply to it.
    public func rule(for path: String, home: String) -> Int? { rules.firstIndex { $0.matcher(home: home)(path) } }

    /// Whether any rule covers `path`.
    public func matcher(home: String) -> @Sendable (String) -> Bool {
        let all = rules.map { $0.matcher(home: home) }
        return { path in all.contains { $0(path) } }
    }

    /// Every path to walk, each once, none inside another.
    public func walkRoots(home: String) -> [String] {
        let all = Set(rules.flatMap { $0.paths.map { SnapshotRule.walkRoot($0, home: home) } }).sorted()
        return all.filter { root in !all.contains { $0 != root && ($0 == "/" || root.hasPrefix($0 + "/")) } }
    }
}

extension Policy {
    /// What sessions of `role` under a grant of `contract` watch: the contract's `snapshot:`
    /// when it has one (for this role), else the role's.
    public func snapshot(role: String, contract: String?) -> SnapshotSettings? {
        if let c = contracts.first(where: { $0.name == contract && $0.role == role }), let s = c.snapshot { return s }
        return roles[role]?.snapshot
    }
}

/// Sizes as written in a policy: `64MiB`, `512KiB`, `1GiB`, `4096`.
public enum ByteSize {
    public static func parse(_ text: String) -> Int? {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("B", 1)]
        let t = text.filter { $0 != " " }
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            guard let n = Int(t.dropLast(suffix.count)), n >= 0 else { return nil }
            return n.multipliedReportingOverflow(by: factor).overflow ? nil : n * factor
        }
        return Int(t).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// `64 MiB`, `1.5 KiB`, `12 B`.
    public static func describe(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        for (unit, factor) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes >= factor {
            let whole = bytes / factor, tenth = bytes % factor * 10 / factor
            return tenth == 0 ? "\(whole) \(unit)" : "\(whole).\(tenth) \(unit)"
        }
        return "\(bytes) B"
    }
}

extension PolicyLoader {
    static let snapshotKeys = ["paths", "check", "on_failure", "line_failure"]

    static func parseSnapshot(_ value: Node, _ r: inout YAMLReader) -> [SnapshotRule] {
        guard let seq = value.sequence else {
            r.error(value, "`snapshot` must be a list of entries (`- paths: [\"/etc/nginx/**\"]`)")
            return []
        }
        var rules: [SnapshotRule] = []
        for item in seq {
            guard let entries = r.mapping(item, "a snapshot entry", allowed: snapshotKeys) else { continue }
            var rule = SnapshotRule(ref: r.ref(item), paths: [])
            var onFailureGiven = false
            for (key, _, v) in entries {
                switch key {
                case "paths":
                    rule.paths = pathGlobs(v, "snapshot paths", &r)
                    for (p, n) in r.items(v, "snapshot paths") where p.split(separator: "/").contains("..") {
                        r.error(n, "`\(p)` in snapshot paths must not contain `..`")
                    }
                case "check":
                    let argv = r.strings(v, "check") ?? []
                    if argv.isEmpty || argv[0].isEmpty {
                        r.error(v, "check is a program and its arguments, like [\"nginx\", \"-t\"]")
                    } else {
                        rule.check = argv
                    }
                case "on_failure":
                    guard let s = r.string(v, "on_failure"), let f = SnapshotRule.OnFailure(rawValue: s) else {
                        r.error(v, "on_failure is restore, ask or keep")
                        continue
                    }
                    rule.onFailure = f
                    onFailureGiven = true
                case "line_failure":
                    rule.lineFailure = r.bool(v, "line_failure") ?? false
                default:
                    break
                }
            }
            if rule.paths.isEmpty {
                r.error(item, "a snapshot entry needs `paths:` (absolute globs like \"/etc/nginx/**\")")
                continue
            }
            // Without a check or line_failure nothing can fail: the entry only keeps images and diffs.
            if !onFailureGiven && rule.check == nil && !rule.lineFailure { rule.onFailure = .keep }
            rules.append(rule)
        }
        return rules
    }

    static func parseSnapshotLimit(_ value: Node, _ r: inout YAMLReader) -> Int? {
        guard let s = value.scalar?.string, let n = ByteSize.parse(s), n > 0 else {
            r.error(value, "snapshot_limit is a size like 64MiB, 512KiB or 1GiB")
            return nil
        }
        return n
    }
}

extension Lint {
    /// Snapshot entries that cannot do what they say (a contract's are judged against its role).
    static func snapshotWarnings(_ role: CompiledRole, rules: [SnapshotRule]? = nil) -> [Diagnostic] {
        var out: [Diagnostic] = []
        for rule in rules ?? role.role.snapshot ?? [] {
            if rule.onFailure != .keep && rule.check == nil && !rule.lineFailure {
                out.append(Diagnostic(.warning, rule.ref, "on_failure: \(rule.onFailure.rawValue) never applies: the entry has no `check` and no `line_failure: true`"))
            }
            if let check = rule.check, !check[0].hasPrefix("/") {
                out.append(Diagnostic(.warning, rule.ref, "check `\(check[0])` is looked up in the trusted paths; an absolute path says exactly which program runs"))
            }
            for p in rule.paths {
                let root = SnapshotRule.walkRoot(p, home: "~")
                guard role.writesPattern(covering: root, home: "~") == nil, role.writesPattern(covering: root + "/x", home: "~") == nil else { continue }
                out.append(Diagnostic(.warning, rule.ref, "snapshot path `\(p)` is not in the role's writes: its lines cannot change it (sudo aside)"))
            }
        }
        return out
    }
}
