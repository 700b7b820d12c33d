import Crypto
import Foundation
import Policy
import Posix
import ShellSyntax
import Store
#if canImport(Glibc)
import Glibc
#endif

/// What a dry run of one confirmable command came to.
enum DryRunOutcome {
    case report(DryRunReport)
    /// No dry run can be made (a dynamic argument, an extended glob, a rule without one).
    case impossible(String)
    /// The expanded command is never allowed (it would delete `/etc`), or its dry run is not.
    case refused(String)
}

extension Session {
    /// Runs the dry run the rule names for `c`, changing nothing.
    func dryRun(_ c: CommandDecision) -> DryRunOutcome {
        guard let spec = c.confirm else { return .impossible("the rule names no dry run") }
        let argv: [[UInt8]]
        do {
            let globber = Globber(cwd: existingDirectory())
            argv = try c.command.argv.flatMap { (f: Field) throws(Globber.Unsupported) in try globber.expand(f) }
        } catch let e as Globber.Unsupported {
            return .impossible(e.description)
        } catch {
            return .impossible("\(error)")
        }
        guard let first = argv.first else { return .impossible("the command is empty") }
        let words = argv.map { String(decoding: $0, as: UTF8.self) }
        switch spec.dryRun {
        case .none:
            return .impossible("the rule names no dry run")
        case .command(let template):
            return templateDryRun(template, words: words)
        case .builtin:
            let name = PathName.base(String(decoding: first, as: UTF8.self))
            if name == "find" { return findDryRun(words) }
            let parsed = DeletionPlan.parse(name, Array(argv.dropFirst()))
            if parsed == nil, !c.destroys.isEmpty { return .report(destructionReport(c.destroys, shown: Quote.line(words))) }
            guard let (action, operands) = parsed else {
                return .impossible("jitsh has no built-in dry run for \(name)")
            }
            let cwd = Array(existingDirectory().utf8)
            let targets = operands.map { $0.first == .slashByte ? $0 : cwd + [.slashByte] + $0 }
            for t in targets {
                let path = String(decoding: t, as: UTF8.self)
                // Symlinks count: `rm -r link/` deletes inside what the link points at.
                for p in [path, Session.physical(path)] {
                    if let why = decider.protectedDeletion(of: p, context: decisionContext) {
                        return .refused("\(name) \(path) is never allowed: \(why)")
                    }
                }
            }
            var walk = DeletionWalk()
            walk.writable = setup.role.writes
            walk.isWritable = { [setup] path in Session.mayWrite(path, role: setup.role, home: setup.home) }
            walk.openFiles = DeletionWalk.openFilesOfVisibleProcesses()
            return .report(walk.run(action, targets: targets, shown: Quote.line(words)))
        }
    }

    /// The path with symlinks resolved as the deleting command meets them: all of it when it
    /// ends with `/`, else its directory (a final symlink is removed, not followed).
    static func physical(_ path: String) -> String {
        func real(_ p: String) -> String? {
            guard let r = realpath(p, nil) else { return nil }
            defer { free(r) }
            return String(cString: r)
        }
        if path.hasSuffix("/") { return real(path) ?? path }
        let directory = PathName.directory(path), base = PathName.base(path)
        guard let r = real(directory) else { return path }
        return r == "/" ? "/" + base : r + "/" + base
    }

    /// `path` with every symlink followed, the last one too (what an open for writing reaches).
    /// A dangling link leads where a write would create its target.
    static func followed(_ path: String) -> String {
        if let r = realpath(path, nil) {
            defer { free(r) }
            return String(cString: r)
        }
        var p = physical(path)
        for _ in 0..<40 {
            var buffer = [CChar](repeating: 0, count: 4096)
            let n = readlink(p, &buffer, buffer.count - 1)
            guard n > 0 else { return p }
            let target = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let next = target.hasPrefix("/") ? target : PathName.directory(p) + "/" + target
            p = physical(PathName.resolved(next, cwd: "/") ?? next)
        }
        return p
    }

    static func mayWrite(_ path: String, role: CompiledRole, home: String) -> Bool {
        // A directory target counts as inside `dir/**` too.
        role.writesPattern(covering: path, home: home) != nil || role.writesPattern(covering: path + "/", home: home) != nil
    }

    /// `{argv}` is the whole command, `{argN}` one argument, `{argN...}` the arguments from N on.
    static func fill(_ template: [String], with words: [String]) -> [String]? {
        var out: [String] = []
        for element in template {
            if element == "{argv}" { out += words; continue }
            guard element.hasPrefix("{arg"), element.hasSuffix("}") else { out.append(element); continue }
            var body = element.dropFirst(4).dropLast()
            let rest = body.hasSuffix("...")
            if rest { body = body.dropLast(3) }
            guard let n = Int(body), n >= 0 else { return nil }
            if rest { out += words.dropFirst(n) } else if n < words.count { out.append(words[n]) } else { return nil }
        }
        return out
    }

    /// The tool's own dry run: decided by the policy like any line, then run and shown.
    func templateDryRun(_ template: [String], words: [String]) -> DryRunOutcome {
        if template.first == "{argv}", template.count > 1, words.contains("--") {
            return .impossible("its dry-run options would follow `--`, where the tool reads them as operands")
        }
        guard let argv = Session.fill(template, with: words) else {
            return .impossible("the dry-run template \(template) needs arguments this command does not have")
        }
        let line = Quote.line(argv)
        // Decided as a dry run: the role's allow and deny rules, not the confirm rule it previews.
        let decision = decider.forDryRuns().decide(line: Array(line.utf8), environment: state.shellEnvironment, role: setup.role.name,
                                                   context: decisionContext)
        guard auditDecision(line, decision) else { return .refused("its dry run cannot be recorded (\(auditFailure ?? "store error"))") }
        guard decision.verdict == .allow else {
            return .refused("its dry run `\(line)` is not allowed here: \(decision.reason)")
        }
        return .report(captureReport(line))
    }

    /// `find … -delete`: the same find printing instead of deleting.
    func findDryRun(_ words: [String]) -> DryRunOutcome {
        let acting: Set<String> = ["-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf", "-fls"]
        if let a = words.first(where: acting.contains) {
            return .impossible("find with \(a) would act during its own dry run")
        }
        return .report(captureReport(Quote.line(words.map { $0 == "-delete" ? "-print" : $0 })))
    }

    func captureReport(_ line: String) -> DryRunReport {
        let (status, output, truncated) = capture(line)
        let text = String(decoding: output, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        var shown = ["dry run: \(line)"]
        shown += lines.prefix(40).map { "  \($0)" }
        if lines.count > 40 { shown.append("  … and \(Format.number(lines.count - 40)) more lines") }
        if truncated { shown.append("  the dry run's output was cut at 1 MiB") }
        if let status, status != 0 { shown.append("  (the dry run exited with status \(status))") }
        if status == nil { shown.append("  (the dry run was stopped after 30 s)") }
        return DryRunReport(lines: shown, count: lines.count, fingerprint: Array(SHA256.hash(data: output)), complete: !truncated && status != nil)
    }

    /// Runs `line` in a fresh bash like a job, but with its output captured (bounded) instead of
    /// relayed; the caller shows it, so it is recorded like everything jitsh says.
    func capture(_ line: String, seconds: Double = 30, limit: Int = 1 << 20) -> (status: Int32?, output: [UInt8], truncated: Bool) {
        guard let pipe = makePipe() else { return (1, Array("cannot create a pipe\n".utf8), false) }
        let null = open("/dev/null", O_RDONLY)
        defer { if null >= 0 { close(null) } }
        let spec = Spawner.Spec(path: setup.shell, arguments: Bash.running(line),
                                environment: state.processEnvironment, directory: existingDirectory(), stdin: null,
                                stdout: pipe.write, stderr: pipe.write)
        let pid: pid_t
        do { pid = try spawnJob(spec) } catch {
            close(pipe.read); close(pipe.write)
            return (126, Array("\(error)\n".utf8), false)
        }
        close(pipe.write)
        let run = captureRun(pid, output: pipe.read, seconds: seconds, limit: limit)
        return (run.status, run.output, run.truncated)
    }
}

/// The operands of a deleting command and what it does to them, from its options.
enum DeletionPlan {
    static func parse(_ name: String, _ args: [[UInt8]]) -> (DeletionWalk.Action, [[UInt8]])? {
        var operands: [[UInt8]] = []
        var flags = Set<String>()
        var optionsEnded = false
        var k = 0
        // Options of these tools that take a value (`-n 3`, `--size=0`).
        let valued: Set<String> = name == "shred" ? ["-n", "-s", "--iterations", "--size", "--random-source"]
            : name == "truncate" ? ["-s", "-r", "--size", "--reference"] : name == "mv" ? ["-t", "-S", "--target-directory", "--suffix"] : []
        while k < args.count {
            let a = String(decoding: args[k], as: UTF8.self)
            k += 1
            if optionsEnded || !a.hasPrefix("-") || a == "-" { operands.append(args[k - 1]); continue }
            if a == "--" { optionsEnded = true; continue }
            if a.hasPrefix("--") {
                let key = String(a.prefix { $0 != "=" })
                flags.insert(key)
                if valued.contains(key) && !a.contains("=") { k += 1 }
                continue
            }
            for (offset, ch) in a.dropFirst().enumerated() {
                flags.insert("-\(ch)")
                if valued.contains("-\(ch)") {
                    if offset == a.count - 2 { k += 1 }
                    break
                }
            }
        }
        switch name {
        case "rm":
            let recursive = !flags.isDisjoint(with: ["-r", "-R", "--recursive"])
            return (.remove(recursive: recursive, emptyDirectories: !flags.isDisjoint(with: ["-d", "--dir"])), operands)
        case "unlink": return (.remove(recursive: false, emptyDirectories: false), operands)
        case "rmdir": return (.removeDirectory, operands)
        case "shred": return (.shred(remove: !flags.isDisjoint(with: ["-u", "--remove", "--remove=wipesync", "--remove=wipe", "--remove=unlink"])), operands)
        case "truncate": return (.truncate, operands)
        case "mv":
            if flags.contains("-t") || flags.contains("--target-directory") { return nil }
            return (.move, operands)
        default: return nil
        }
    }
}
