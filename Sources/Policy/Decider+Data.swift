import ShellSyntax

/// The protections of data that hold whatever a role allows: what a tool's options mean
/// (signals, modes, targets, statements), destruction as a confirmable effect, SQL that cannot
/// be seen, and lines whose earlier parts change what a confirmable command acts on.
extension Decider {
    /// A rule's conditions on this command: arguments and options, then what the tool models say.
    func matches(_ rule: Rule, _ command: ExtractedCommand, _ mode: MatchMode) -> Bool {
        guard matches(rule, command.argv.dropFirst(), mode) else { return false }
        if rule.signals != nil || rule.effects != nil {
            let facts = ToolFacts.of(command.argv)
            if let wanted = rule.signals {
                guard let sent = facts.signals else { return false }
                let signals = sent.isEmpty ? ["TERM"] : sent
                switch mode {
                // Every signal spelled must be allowed: which one the tool sends is then moot.
                case .certain: if !facts.signalKnown || !signals.allSatisfy(wanted.contains) { return false }
                case .possible: if facts.signalKnown && !signals.contains(where: wanted.contains) { return false }
                }
            }
            if let wanted = rule.effects {
                switch mode {
                case .certain: if !facts.effectsKnown || !facts.effects.isSubset(of: wanted) { return false }
                case .possible: if facts.effectsKnown && facts.effects.isDisjoint(with: wanted) { return false }
                }
            }
        }
        if let wanted = rule.statements {
            guard let analysis = StatementAnalysis.of(command) else { return false }
            let kinds = analysis.kinds
            switch mode {
            case .certain: if !kinds.isSubset(of: wanted) { return false }
            case .possible: if kinds.isDisjoint(with: wanted) { return false }
            }
        }
        return true
    }

    static let truncating: Set<RedirectOperator> = [.output, .clobber, .outputBoth, .duplicateOutput]

    func protectData(_ d: inout Decision, _ role: CompiledRole, _ ctx: DecisionContext) {
        for i in d.commands.indices where d.commands[i].judgement.verdict != .deny {
            protectStatements(&d, i, role, ctx)
            protectDestruction(&d, i, ctx)
        }
        for i in d.redirects.indices where d.redirects[i].judgement.verdict == .allow {
            let r = d.redirects[i].redirect
            guard r.writes, Decider.truncating.contains(r.op) else { continue }
            let destruction = Destruction(kind: .truncate, target: r.target, by: "\(r.op.rawValue) \(r.target.text)")
            guard let path = mayExist(r.target, ctx) else { continue }
            d.redirects[i].judgement = Judgement(.confirm, "`\(r.op.rawValue) \(r.target.text)` truncates \(path), which exists")
            d.destructions.append(destruction)
        }
        refuseChangedTargets(&d)
    }

    /// The path a target names when it may exist (always, for what is not known); nil when it
    /// certainly does not, or is a device like /dev/null.
    func mayExist(_ target: Field, _ ctx: DecisionContext) -> String? {
        guard let text = target.staticText else { return target.text }
        guard let path = PathName.resolved(text, cwd: ctx.cwd) else { return text }
        if Decider.harmlessWrites.contains(path) || path.hasPrefix("/dev/fd/") { return nil }
        guard let files = ctx.files else { return path }
        return files.exists(path) ? path : nil
    }

    func protectDestruction(_ d: inout Decision, _ i: Int, _ ctx: DecisionContext) {
        let command = d.commands[i].command
        var existing: [Destruction] = []
        for var x in Destructions.of(command.argv) {
            if !x.intoDirectory.isEmpty {
                let path = x.target.staticText.flatMap { PathName.resolved($0, cwd: ctx.cwd) }
                let isDirectory = path.flatMap { p in ctx.files.map { $0.isDirectory(p) } }
                if x.mustBeDirectory || isDirectory == true {
                    existing += x.intoDirectory.filter { mayExist($0, ctx) != nil }
                        .map { Destruction(kind: x.kind, target: $0, by: "\(x.by) into \(x.target.text)") }
                    continue
                }
                if isDirectory == nil { existing += x.intoDirectory.map { Destruction(kind: x.kind, target: $0, by: x.by) } }
                x.intoDirectory = []
            }
            if mayExist(x.target, ctx) != nil { existing.append(x) }
        }
        guard let first = existing.first else { return }
        d.commands[i].destroys = existing
        // Arguments from find or xargs are only known when the line runs: nothing to dry-run.
        if command.context.contains(.findExec) || command.context.contains(.xargs) {
            d.commands[i].judgement = Judgement(.deny, "\(first.by) \(first.kind.rawValue) files that \(command.context.contains(.xargs) ? "xargs" : "find") names when the line runs; no dry run can show them")
            return
        }
        guard d.commands[i].judgement.verdict == .allow else { return }
        let name = command.name.map(PathName.base) ?? ""
        let spec = name == "rsync" ? ConfirmSpec(dryRun: .command(["{argv}", "--dry-run"]), phrase: .yes)
            : ConfirmSpec(dryRun: .builtin, phrase: .yes)
        let what = first.target.text + (existing.count > 1 ? " and \(existing.count - 1) more" : "")
        let reason = "\(first.by) \(first.kind.rawValue) \(what), which exists: destroying data needs confirmation"
        if !dryRunPossible(spec, command) {
            d.commands[i].judgement = Judgement(.deny, "\(reason); no dry run is possible because an argument is not known before the line runs")
            return
        }
        d.commands[i].judgement = Judgement(.confirm, reason)
        d.commands[i].confirm = spec
    }

    /// SQL that cannot be seen is refused unless an allow rule names `unseen`; what a client's own
    /// commands write is decided like a redirection, what they run like a line.
    func protectStatements(_ d: inout Decision, _ i: Int, _ role: CompiledRole, _ ctx: DecisionContext) {
        let command = d.commands[i].command
        guard let analysis = StatementAnalysis.of(command), let name = command.name.map(PathName.base) else { return }
        if let why = analysis.unseen.first {
            let decidedBy = d.commands[i].judgement.rule.flatMap { ref in role.rules.first { $0.ref == ref } }
            if decidedBy?.kind != .allow || !(decidedBy?.statements?.contains("unseen") ?? false) {
                d.commands[i].judgement = Judgement(.deny, "\(why), which jitsh cannot see before it runs: give the SQL with -c, -e or a here-document (role \(role.name) does not allow unseen SQL)")
                return
            }
        }
        for program in analysis.programs {
            // The client runs it as `sh -c PROGRAM`: decided as that line, as the exec guard would.
            let nested = decide(line: "sh -c " + Quote.always(program), environment: .unknown, role: role.name, context: ctx)
            if nested.verdict != .allow {
                d.commands[i].judgement = Judgement(.deny, "\(name) would run `\(Decision.shortened(program, limit: 60))`: \(nested.reason)")
                return
            }
        }
        for path in analysis.writes {
            let r = ExtractedRedirect(op: .output, fd: nil, target: Field(text: path, offset: command.position.offset), writes: true,
                                      opensFile: true, context: command.context, position: command.position)
            d.redirects.append((r, judge(r, role, ctx)))
        }
    }

    /// Commands that change which files a later (or looped) confirmable command would act on.
    static let changers: Set<String> = ["cd", "pushd", "popd", "ln", "link", "mkdir", "mv", "cp", "install", "rsync", "unzip", "cpio",
                                        "touch", "mkfifo", "mknod", "mktemp", "shopt", "set", "source", ".", "unset", "umount", "mount"]
    /// Variables that change how words expand to file names.
    static let expansionVariables: Set<String> = ["GLOBIGNORE", "GLOBSORT", "IFS", "HOME", "CDPATH", "OLDPWD", "PWD", "BASHOPTS",
                                                  "SHELLOPTS", "POSIXLY_CORRECT", "LC_ALL", "LC_COLLATE", "LANG", "BASH_COMPAT"]

    /// A dry run is shown only for what it simulates exactly: when another part of the line
    /// changes the directory, the files or how globs expand, the line is refused.
    func refuseChangedTargets(_ d: inout Decision) {
        let confirmable = d.commands.indices.filter { d.commands[$0].judgement.verdict == .confirm }
        let truncations = d.redirects.indices.filter { d.redirects[$0].judgement.verdict == .confirm }
        guard !confirmable.isEmpty || !truncations.isEmpty else { return }
        func words(_ c: ExtractedCommand) -> String { Decision.shortened(c.argv.prefix(4).map(\.text).joined(separator: " "), limit: 60) }
        var changes: [(command: Int?, text: String)] = []
        for (k, c) in d.commands.enumerated() {
            guard let name = c.command.name.map(PathName.base) else { continue }
            let tarChanges = name == "tar" && !Decider.tarOnlyLists(c.command.argv)
            if Decider.changers.contains(name) || tarChanges { changes.append((k, words(c.command))) }
        }
        for (a, _) in d.assignments where Decider.expansionVariables.contains(a.name) { changes.append((nil, "\(a.name)=…")) }
        let globs = confirmable.contains { d.commands[$0].command.argv.contains { $0.kind == .pattern } }
        if globs {
            for (r, j) in d.redirects where r.writes && j.verdict != .deny { changes.append((nil, "\(r.op.rawValue) \(r.target.text)")) }
        }
        for i in confirmable {
            guard let change = changes.first(where: { $0.command != i }) else { continue }
            d.commands[i].judgement = Judgement(.deny, "`\(change.text)` changes what `\(words(d.commands[i].command))` acts on, so no dry run can show it: run `\(change.text)` on its own first")
        }
        for i in truncations {
            guard let change = changes.first else { continue }
            d.redirects[i].judgement = Judgement(.deny, "`\(change.text)` changes what `\(d.redirects[i].redirect.op.rawValue) \(d.redirects[i].redirect.target.text)` truncates: run `\(change.text)` on its own first")
        }
    }

    /// `tar -t`, `tar tf`, `tar --list`: reads only.
    static func tarOnlyLists(_ argv: [Field]) -> Bool {
        let args = argv.dropFirst().compactMap(\.staticText)
        if args.contains("--list") { return true }
        guard let first = args.first else { return false }
        let letters = first.hasPrefix("--") ? "" : first.hasPrefix("-") ? String(first.dropFirst()) : first
        return letters.contains("t") && !letters.contains(where: { "cxrudA".contains($0) })
            && !args.contains { ["--extract", "--get", "--create", "--append", "--update", "--delete"].contains($0) }
    }
}
