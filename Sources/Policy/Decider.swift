import ShellSyntax

/// Decides a line under a role: every command, redirection, assignment and risk is judged, and
/// the line gets the worst verdict. Built-in protections hold whatever the policy says.
public struct Decider: Sendable {
    public let policy: Policy
    let envDeny: [Glob]

    public init(_ policy: Policy) {
        self.policy = policy
        envDeny = policy.global.envDenyGlobs
    }

    /// Programs that delete what they are given.
    static let deleting: Set<String> = ["rm", "rmdir", "unlink", "shred"]
    /// Top-level directories whose loss breaks the host.
    static let systemDirectories: Set<String> = [
        "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt",
        "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/tmp", "/usr", "/var",
    ]
    /// Writing these is never writing a file.
    static let harmlessWrites: Set<String> = ["/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"]

    public func decide(line: [UInt8], environment: ShellEnvironment, role: String, context: DecisionContext,
                       limits: Limits = .default) -> Decision {
        decide(ParsedLine(line, limits: limits), environment: environment, role: role, context: context)
    }

    /// A line parsed once (the session's prompt and gate parse it): extracted with what the
    /// session knows of its variables, then decided.
    public func decide(_ line: ParsedLine, environment: ShellEnvironment, role: String, context: DecisionContext) -> Decision {
        do {
            return decide(try line.extract(environment: environment), role: role, context: context)
        } catch {
            var d = Decision(verdict: .deny, reason: "the line does not parse: \(error)", rule: nil)
            d.syntaxError = error
            return d
        }
    }

    public func decide(line: String, environment: ShellEnvironment, role: String, context: DecisionContext) -> Decision {
        decide(line: Array(line.utf8), environment: environment, role: role, context: context)
    }

    public func decide(_ extraction: Extraction, role roleName: String, context: DecisionContext) -> Decision {
        var decision = Decision(verdict: .allow, reason: "nothing runs", rule: nil)
        decision.extraction = extraction
        guard let role = policy.role(roleName) else {
            decision.verdict = .deny
            decision.reason = "role `\(roleName)` is not defined in the policy"
            return decision
        }
        let unusable = roleUnusable(role, context)
        // A `cd` anywhere in the line moves relative paths somewhere this decision cannot see.
        var ctx = context
        if extraction.commands.contains(where: { ["cd", "pushd", "popd"].contains($0.name.map(PathName.base) ?? "") }) {
            ctx.cwd = nil
        }
        for command in extraction.commands {
            if let unusable {
                decision.commands.append(CommandDecision(command: command, judgement: Judgement(.deny, unusable), confirm: nil))
            } else {
                decision.commands.append(decide(command, role, ctx))
            }
        }
        for r in extraction.redirects { decision.redirects.append((r, judge(r, role, ctx))) }
        for a in extraction.assignments { decision.assignments.append((a, judge(a))) }
        for r in extraction.risks {
            decision.risks.append((r, Judgement(.deny, "\(r.message) (\(r.kind.rawValue) at \(r.position))")))
        }
        if unusable == nil { protectData(&decision, role, ctx) }
        let all = decision.judgements
        if let worst = all.map(\.verdict).max(), let first = all.first(where: { $0.verdict == worst }) {
            decision.verdict = worst
            decision.reason = first.reason
            decision.rule = first.rule
        }
        decision.alert = all.contains(where: \.alert)
            || (decision.verdict != .allow && role.role.alertOn.contains(decision.verdict.rawValue))
        return decision
    }

    /// Decides a program about to run (the exec guard's view): argv as the kernel sees it.
    public func decideExec(argv: [String], role roleName: String, context: DecisionContext) -> CommandDecision {
        let fields = argv.enumerated().map { Field(text: $0.element, offset: $0.offset) }
        let command = ExtractedCommand(argv: fields, name: argv.first, via: [], context: [], position: Position(offset: 0, line: 1, column: 1),
                                       dynamicReason: nil)
        guard let role = policy.role(roleName) else {
            return CommandDecision(command: command, judgement: Judgement(.deny, "role `\(roleName)` is not defined"), confirm: nil)
        }
        if let unusable = roleUnusable(role, context) {
            return CommandDecision(command: command, judgement: Judgement(.deny, unusable), confirm: nil)
        }
        return decide(command, role, context)
    }

    func roleUnusable(_ role: CompiledRole, _ context: DecisionContext) -> String? {
        if let hosts = role.role.hosts, !hosts.matches(context.host) {
            return "role `\(role.name)` is not for host \(context.host.name) (it needs \(hosts.description))"
        }
        if let when = role.role.when, when.holds(epochSeconds: context.epochSeconds, zones: context.zones) != true {
            return "role `\(role.name)` is not usable now (\(when.description))"
        }
        return nil
    }

    // MARK: Commands

    /// The rule keys a command name matches: bare names by name; an absolute path in a trusted
    /// directory by its name and its path; any other path only by its exact path.
    func keys(for name: String) -> (keys: [String], trusted: Bool) {
        guard name.contains("/") else { return ([name], true) }
        // A relative path (./ls, bin/tool) runs whatever is there: only a rule naming it exactly.
        guard name.hasPrefix("/") else { return ([name], false) }
        let path = PathName.normalized(name)
        if path.hasPrefix("/"), !path.split(separator: "/").contains(".."),
           policy.global.trustedPaths.contains(PathName.directory(path)) {
            return ([PathName.base(path), path], true)
        }
        return ([path], false)
    }

    func decide(_ command: ExtractedCommand, _ role: CompiledRole, _ ctx: DecisionContext) -> CommandDecision {
        func result(_ j: Judgement, _ confirm: ConfirmSpec? = nil) -> CommandDecision {
            CommandDecision(command: command, judgement: j, confirm: confirm)
        }
        guard let name = command.name else {
            return result(Judgement(.deny, "cannot tell which command runs: \(command.dynamicReason ?? "its name is not static")"))
        }
        if let why = protection(command, name, ctx) ?? LoginFiles.protection(command, name, ctx) { return result(Judgement(.deny, why)) }
        let (keys, trusted) = self.keys(for: name)
        var candidates = keys.flatMap { role.index[$0] ?? [] } + role.anyCommand
        candidates.sort()
        var confirmRule: Rule?
        var allowRule: Rule?
        var previous = -1
        for k in candidates where k != previous {
            previous = k
            let rule = role.rules[k]
            switch rule.kind {
            case .deny:
                guard applies(rule, ctx, failClosed: true), matches(rule, command, .possible) else { continue }
                return result(Judgement(.deny, rule.reason ?? "denied", rule: rule.ref, alert: rule.alert))
            case .confirm:
                if confirmRule == nil, applies(rule, ctx, failClosed: true), matches(rule, command, .possible) { confirmRule = rule }
            case .allow:
                if allowRule == nil, applies(rule, ctx, failClosed: false), matches(rule, command, .certain) { allowRule = rule }
            }
        }
        if let rule = confirmRule, let spec = rule.confirm {
            let reason = rule.reason ?? "\(PathName.base(name)) needs confirmation"
            if !dryRunPossible(spec, command) && spec.withoutDryRun == .deny {
                return result(Judgement(.deny, "\(reason); no dry run is possible because an argument is not known before the line runs",
                                        rule: rule.ref, alert: rule.alert))
            }
            return result(Judgement(.confirm, reason, rule: rule.ref, alert: rule.alert), spec)
        }
        if let rule = allowRule {
            return result(Judgement(.allow, rule.reason ?? "allowed", rule: rule.ref, alert: rule.alert))
        }
        if let (rule, parent) = helperRule(command, role, ctx) {
            let allowed = Judgement(.allow, "a helper of \(PathName.base(parent))", rule: rule.ref, alert: rule.alert)
            // `sh -c STRING` run by the parent (watch, less): STRING is decided as a line would be.
            if Decider.shells.contains(PathName.base(name)), command.argv.count >= 3, command.argv[1].staticText == "-c",
               let code = command.argv[2].staticText {
                let inner = decide(line: code, environment: ShellEnvironment(), role: role.name, context: ctx)
                if inner.verdict != .allow {
                    return result(Judgement(inner.verdict, "\(PathName.base(name)) -c run by \(PathName.base(parent)): \(inner.reason)",
                                            rule: inner.rule, alert: inner.alert))
                }
            }
            return result(allowed)
        }
        let shown = trusted ? PathName.base(name) : name
        let outside = trusted ? "" : " (a path outside trusted_paths needs a rule naming it)"
        return result(Judgement(.deny, "no rule of role \(role.name) allows \(shown)\(outside)"))
    }

    static let shells: Set<String> = ["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "rbash", "yash", "posh"]

    /// The allow rule, of the nearest caller it allows, that names `command` among its helpers.
    func helperRule(_ command: ExtractedCommand, _ role: CompiledRole, _ ctx: DecisionContext) -> (Rule, String)? {
        guard let name = command.name, !ctx.callers.isEmpty else { return nil }
        let names = keys(for: name).keys
        for caller in ctx.callers.prefix(32) {
            guard let first = caller.first else { continue }
            let fields = caller.enumerated().map { Field(text: $0.element, offset: $0.offset) }
            let callerCommand = ExtractedCommand(argv: fields, name: first, via: [], context: [], position: Position(offset: 0, line: 1, column: 1),
                                                 dynamicReason: nil)
            for k in Set(keys(for: first).keys.flatMap { role.index[$0] ?? [] } + role.anyCommand).sorted() {
                let rule = role.rules[k]
                guard rule.kind == .allow, let helpers = rule.helpers, applies(rule, ctx, failClosed: false),
                      matches(rule, callerCommand, .certain) else { continue }
                if helpers.contains(where: { h in names.contains(h.command) && (h.arguments?.matches(command.argv.dropFirst(), mode: .certain) ?? true) }) {
                    return (rule, first)
                }
            }
        }
        return nil
    }

    /// when/hosts. An unknown time zone cannot be evaluated: deny and confirm rules then apply,
    /// allow rules do not.
    func applies(_ rule: Rule, _ ctx: DecisionContext, failClosed: Bool) -> Bool {
        if let hosts = rule.hosts, !hosts.matches(ctx.host) { return false }
        if let when = rule.when {
            guard let holds = when.holds(epochSeconds: ctx.epochSeconds, zones: ctx.zones) else { return failClosed }
            return holds
        }
        return true
    }

    func matches(_ rule: Rule, _ args: ArraySlice<Field>, _ mode: MatchMode) -> Bool {
        if let patterns = rule.arguments, !patterns.contains(where: { $0.matches(args, mode: mode) }) { return false }
        if let options = rule.options, OptionMatcher.firstMatch(options, in: args, mode: mode) == nil { return false }
        return true
    }

    /// A dry run needs every argument: globs are expanded by the dry run itself, unknown values cannot be.
    func dryRunPossible(_ spec: ConfirmSpec, _ command: ExtractedCommand) -> Bool {
        switch spec.dryRun {
        case .none: return false
        case .builtin, .command: return !command.argv.contains { $0.kind == .dynamic }
        }
    }

    // MARK: Built-in protections

    /// Deleting `/`, `/*`, a top-level system directory (or everything in one), or jitsh's own
    /// files is denied whatever the policy says.
    func protection(_ command: ExtractedCommand, _ name: String, _ ctx: DecisionContext) -> String? {
        let base = PathName.base(name)
        let args = Array(command.argv.dropFirst())
        let isFindDelete = base == "find" && args.contains { $0.staticText == "-delete" }
        guard Decider.deleting.contains(base) || isFindDelete else { return nil }
        if args.contains(where: { $0.staticText == "--no-preserve-root" }) {
            return "\(base) --no-preserve-root is never allowed"
        }
        var targets: [Field] = []
        var find: FindDeletion?
        if isFindDelete {
            find = FindDeletion(args, offset: command.argv[0].offset)
            targets = find?.roots ?? []
        } else {
            var optionsEnded = false
            for f in args {
                if !optionsEnded, let t = f.staticText {
                    if t == "--" { optionsEnded = true; continue }
                    if t.hasPrefix("-") && t.count > 1 { continue }
                }
                targets.append(f)
            }
        }
        for target in targets {
            switch target.kind {
            case .literal:
                guard let path = PathName.resolved(target.text, cwd: ctx.cwd) else {
                    let first = String(target.text.split(separator: "/").first ?? "")
                    if Decider.systemDirectories.contains("/" + first) || first == ".." || first == "." || first == "*" {
                        return "\(base) \(target.text): the working directory is not known here, and it could be a system directory"
                    }
                    continue
                }
                if path == "/" || Decider.systemDirectories.contains(path) {
                    // find deletes its start path only when the tests before -delete hold for it.
                    if let find, path != "/", find.spares(target) {
                        if !find.selects { return "\(base) \(target.text) could delete everything in \(path)" }
                    } else {
                        return "\(base) \(target.text) would delete \(path == "/" ? "the root directory" : "the system directory \(path)")"
                    }
                }
                if let owned = protectedOwner(path, ctx) { return "\(base) \(target.text) would delete jitsh's \(owned)" }
            case .pattern:
                let fixed = String(target.text.prefix { !"*?[".contains($0) })
                let directory = fixed.contains("/") ? PathName.directory(fixed + "x") : (ctx.cwd ?? ".")
                let resolved = PathName.resolved(directory, cwd: ctx.cwd) ?? directory
                if resolved == "/" || Decider.systemDirectories.contains(resolved) || directory == "." && ctx.cwd == nil {
                    return "\(base) \(target.text) could delete everything in \(resolved == "." ? "the working directory" : resolved)"
                }
                if let owned = protectedOwner(resolved, ctx) { return "\(base) \(target.text) could delete jitsh's \(owned)" }
            case .dynamic:
                continue
            }
        }
        return nil
    }

    /// Why deleting `path` (absolute, as a dry run expanded it) is never allowed, or nil.
    public func protectedDeletion(of path: String, context ctx: DecisionContext) -> String? {
        let p = PathName.resolved(path, cwd: ctx.cwd) ?? path
        if p == "/" { return "it is the root directory" }
        if Decider.systemDirectories.contains(p) { return "\(p) is a system directory" }
        if let owned = protectedOwner(p, ctx) { return "it is jitsh's \(owned)" }
        return nil
    }

    /// The protected path `path` is or lies under.
    func protectedOwner(_ path: String, _ ctx: DecisionContext) -> String? {
        ctx.protectedPaths.first { p in path == p || path.hasPrefix(p.hasSuffix("/") ? p : p + "/") || p.hasPrefix(path + "/") }
    }

    // MARK: Redirections and assignments

    func judge(_ r: ExtractedRedirect, _ role: CompiledRole, _ ctx: DecisionContext) -> Judgement {
        guard r.writes else { return Judgement(.allow, "reads \(r.target.text)") }
        let everywhere = role.writes.contains { $0 == "/**" || $0 == "**" }
        guard r.target.isStatic else {
            if everywhere { return Judgement(.allow, "role \(role.name) may write anywhere") }
            return Judgement(.deny, "cannot tell which file `\(r.op.rawValue)` writes (\(r.target.reason ?? "not static")); name it literally")
        }
        guard let path = PathName.resolved(r.target.text, cwd: ctx.cwd) else {
            if everywhere { return Judgement(.allow, "role \(role.name) may write anywhere") }
            return Judgement(.deny, "`\(r.op.rawValue) \(r.target.text)`: after cd the directory is not known here; give an absolute path")
        }
        if Decider.harmlessWrites.contains(path) || path.hasPrefix("/dev/fd/") { return Judgement(.allow, "writes \(path)") }
        if let owned = protectedOwner(path, ctx) { return Judgement(.deny, "`\(r.op.rawValue) \(r.target.text)` writes jitsh's \(owned)") }
        if let file = LoginFiles.covering(path, home: ctx.home) {
            return Judgement(.deny, "`\(r.op.rawValue) \(r.target.text)` writes \(file), which runs at login outside jitsh: never allowed")
        }
        if let pattern = role.writesPattern(covering: path, home: ctx.home) {
            return Judgement(.allow, "role \(role.name) may write \(pattern)", rule: role.role.ref)
        }
        let allowed = role.writes.isEmpty ? "none" : role.writes.joined(separator: ", ")
        return Judgement(.deny, "writes \(path), outside the paths role \(role.name) may write (\(allowed))")
    }

    func judge(_ a: ExtractedAssignment) -> Judgement {
        if a.name == "*" {
            return Judgement(.deny, "assigns a variable whose name is not known before the line runs")
        }
        for glob in envDeny where glob.matches(a.name) {
            return Judgement(.deny, "setting \(a.name) is not allowed (env_deny \(glob.pattern))", rule: policy.global.ref)
        }
        return Judgement(.allow, "sets \(a.name)")
    }
}
