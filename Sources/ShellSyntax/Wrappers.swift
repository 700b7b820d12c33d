// Programs that run another command: sudo, env, timeout, xargs, find -exec, bash -c, watch …
// Each entry says where, in the wrapper's arguments, the inner command or its shell code is.

enum WrapperOutcome: Equatable {
    /// The inner command's argv, with the context it runs in and environment it receives.
    case inner([Field], context: ContextKind?, environment: [Field])
    /// A string the wrapper runs as shell code.
    case shellCode(Field)
    /// The wrapper runs something that cannot be known before the line runs.
    case unknown(String)
}

enum Wrappers {
    static let names: Set<String> = Set([
        "sudo", "doas", "env", "nice", "nohup", "timeout", "time", "command", "builtin", "exec", "stdbuf",
        "ionice", "setsid", "chrt", "taskset", "flock", "watch", "xargs", "find", "eval", "su", "runuser",
        "chroot", "strace", "script", "unbuffer", "busybox",
    ]).union(shells)

    static let shells: Set<String> = ["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "rbash", "yash", "posh"]

    static func basename(_ path: String) -> String {
        let bytes = path.utf8
        guard let slash = bytes.lastIndex(of: .slash) else { return path }
        return String(decoding: bytes[bytes.index(after: slash)...], as: UTF8.self)
    }

    /// What `argv` runs besides itself. `stdinScript` is a static here-document or here-string
    /// on the command's standard input (a shell without `-c` reads its script from there).
    static func unwrap(_ argv: [Field], stdinScript: Field?) -> [WrapperOutcome] {
        guard let name = argv.first?.staticText.map(basename), names.contains(name) else { return [] }
        let args = argv.dropFirst()
        do throws(OptionScanError) {
            return try unwrap(name, args, stdinScript: stdinScript)
        } catch {
            switch error {
            case .notStatic(let f):
                return [.unknown("cannot tell what `\(name)` runs: its argument `\(f.text)` is not static")]
            case .unknown(let option):
                return [.unknown("cannot tell what `\(name)` runs: option \(option) is not known to jitsh")]
            case .missingArgument(let option):
                return [.unknown("cannot tell what `\(name)` runs: option \(option) lacks its argument")]
            }
        }
    }

    private static func inner(_ fields: [Field], context: ContextKind? = nil, environment: [Field] = []) -> [WrapperOutcome] {
        fields.isEmpty ? [] : [.inner(fields, context: context, environment: environment)]
    }

    /// Leading `NAME=value` operands (env, sudo) are environment assignments, not the command.
    private static func splitEnvironment(_ operands: [Field]) -> ([Field], [Field]) {
        var k = 0
        while k < operands.count, let t = operands[k].staticText, let eq = t.firstIndex(of: "="),
              t[..<eq].first.map({ $0 == "_" || $0.isLetter }) == true,
              t[..<eq].allSatisfy({ $0 == "_" || $0.isLetter || $0.isNumber }) {
            k += 1
        }
        return (Array(operands[..<k]), Array(operands[k...]))
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    private static func unwrap(_ name: String, _ args: ArraySlice<Field>, stdinScript: Field?) throws(OptionScanError) -> [WrapperOutcome] {
        switch name {
        case "sudo":
            let o = try Spec.sudo.scan(args)
            if o.has("e", "edit", "l", "list", "v", "validate", "V", "version", "K", "help") { return [] }
            if o.has("h") && o.value("h") == nil { return [] }
            let (environment, command) = splitEnvironment(o.operands)
            if command.isEmpty && o.has("s", "shell", "i", "login") {
                return [.unknown("`sudo \(o.has("s", "shell") ? "-s" : "-i")` starts an interactive shell")]
            }
            return inner(command, environment: environment)
        case "doas":
            let o = try Spec.doas.scan(args)
            if o.operands.isEmpty && o.has("s") { return [.unknown("`doas -s` starts an interactive shell")] }
            return inner(o.operands)
        case "env":
            return try unwrapEnv(args)
        case "nice":
            return inner(try Spec.nice.scan(args).operands)
        case "nohup":
            return inner(try Spec.nohup.scan(args).operands)
        case "timeout":
            let o = try Spec.timeout.scan(args)
            return inner(Array(o.operands.dropFirst()))
        case "time":
            return inner(try Spec.time.scan(args).operands)
        case "command":
            let o = try Spec.command.scan(args)
            return o.has("v", "V") ? [] : inner(o.operands)
        case "builtin":
            return inner(try Spec.builtin.scan(args).operands)
        case "exec":
            return inner(try Spec.exec.scan(args).operands)
        case "stdbuf":
            return inner(try Spec.stdbuf.scan(args).operands)
        case "ionice":
            let o = try Spec.ionice.scan(args)
            return o.has("p", "P", "u", "pid", "pgid", "uid") ? [] : inner(o.operands)
        case "setsid":
            return inner(try Spec.setsid.scan(args).operands)
        case "chrt":
            let o = try Spec.chrt.scan(args)
            return o.has("p", "pid", "m", "max", "h", "help", "V", "version") ? [] : inner(Array(o.operands.dropFirst()))
        case "taskset":
            let o = try Spec.taskset.scan(args)
            return o.has("p", "pid") ? [] : inner(Array(o.operands.dropFirst()))
        case "flock":
            let o = try Spec.flock.scan(args)
            if let code = o.value("c", "command") { return [.shellCode(code)] }
            let rest = Array(o.operands.dropFirst())
            if rest.count >= 2, let flag = rest[0].staticText, flag == "-c" || flag == "--command" {
                return [.shellCode(rest[1])]
            }
            if let first = rest.first, !first.isStatic { throw .notStatic(first) }
            return inner(rest)
        case "watch":
            let o = try Spec.watch.scan(args)
            if o.has("x", "exec") { return inner(o.operands) }
            return o.operands.isEmpty ? [] : [.shellCode(joined(o.operands))]
        case "xargs":
            return try unwrapXargs(args)
        case "find":
            return unwrapFind(args)
        case "eval":
            return args.isEmpty ? [] : [.shellCode(joined(Array(args)))]
        case "su", "runuser":
            let filtered = args.filter { $0.staticText != "-" }
            let o = try Spec.su.scan(filtered[...])
            if let code = o.value("c", "command", "session-command") { return [.shellCode(code)] }
            if name == "runuser", o.has("u", "user") { return inner(o.operands) }
            if o.operands.count > 1 { return [.unknown("`\(name)` passes extra arguments to the user's shell")] }
            if o.has("h", "help", "V", "version") { return [] }
            return [.unknown("`\(name)` without -c starts an interactive shell")]
        case "chroot":
            let o = try Spec.chroot.scan(args)
            guard !o.operands.isEmpty else { return [] }
            if o.operands.count == 1 { return [.unknown("`chroot` without a command starts a shell")] }
            return inner(Array(o.operands.dropFirst()))
        case "strace":
            let o = try Spec.strace.scan(args)
            return inner(o.operands)
        case "script":
            let o = try Spec.script.scan(args)
            if let code = o.value("c", "command") { return [.shellCode(code)] }
            if o.has("h", "help", "V", "version") { return [] }
            return [.unknown("`script` without -c starts an interactive shell")]
        case "unbuffer":
            return inner(try Spec.unbuffer.scan(args).operands)
        case "busybox":
            return inner(Array(args))
        default:
            return try unwrapShell(name, args, stdinScript: stdinScript)
        }
    }

    /// Arguments joined by spaces, as eval and watch build the string they run.
    private static func joined(_ fields: [Field]) -> Field {
        let offset = fields.first?.offset ?? 0
        if let bad = fields.first(where: { !$0.isStatic }) {
            return .dynamic(fields.map(\.text).joined(separator: " "), reason: bad.reason ?? "not static", offset: offset)
        }
        return Field(text: fields.map(\.text).joined(separator: " "), offset: offset)
    }

    private static func unwrapEnv(_ args: ArraySlice<Field>) throws(OptionScanError) -> [WrapperOutcome] {
        var rest = args
        if rest.first?.staticText == "-" { rest = rest.dropFirst() }
        let o = try Spec.env.scan(rest)
        var operands = o.operands
        if operands.first?.staticText == "-" { operands.removeFirst() }
        if let split = o.value("S", "split-string") {
            guard let words = splitString(split) else {
                return [.unknown("cannot tell what `env -S` runs: its string is not static simple words")]
            }
            operands = words + operands
        }
        let (environment, command) = splitEnvironment(operands)
        return inner(command, environment: environment)
    }

    /// `env -S 'a b "c d"'`: split like a simple command of static words.
    private static func splitString(_ field: Field) -> [Field]? {
        guard let text = field.staticText else { return nil }
        var parser = Parser(Array(text.utf8), limits: .default)
        guard let script = try? parser.parseScript(), script.statements.count == 1,
              case .simple(let sc) = script.statements[0].command, script.statements[0].redirects.isEmpty,
              sc.assignments.isEmpty else { return nil }
        let expander = WordExpander(lookup: { _ in .unknown("env -S") }, source: { _, _ in "" })
        var out: [Field] = []
        for word in sc.words {
            for f in expander.fields(word) {
                guard f.isStatic else { return nil }
                out.append(Field(text: f.text, offset: field.offset))
            }
        }
        return out
    }

    private static func unwrapXargs(_ args: ArraySlice<Field>) throws(OptionScanError) -> [WrapperOutcome] {
        let o = try Spec.xargs.scan(args)
        var command = o.operands
        if command.isEmpty { command = [Field(text: "echo", offset: args.first?.offset ?? 0)] }
        var replace: String?
        if let v = o.value("I") { replace = v.staticText ?? "" }
        if o.has("i", "replace") { replace = o.value("i", "replace")?.staticText ?? "{}" }
        let input = "arguments read by xargs from its input"
        if let replace, !replace.isEmpty {
            command = command.map { f in
                f.text.utf8.firstRange(of: replace.utf8) != nil ? .dynamic(f.text, reason: input, offset: f.offset) : f
            }
        } else {
            command.append(.dynamic("…", reason: input, variadic: true, offset: command.last?.offset ?? 0))
        }
        return [.inner(command, context: .xargs, environment: [])]
    }

    static let findActions: Set<String> = ["-exec", "-execdir", "-ok", "-okdir"]

    private static func unwrapFind(_ args: ArraySlice<Field>) -> [WrapperOutcome] {
        var out: [WrapperOutcome] = []
        var k = args.startIndex
        while k < args.endIndex {
            let field = args[k]
            k += 1
            guard let text = field.staticText else {
                return [.unknown("cannot tell what `find` runs: its argument `\(field.text)` is not static")]
            }
            guard findActions.contains(text) else { continue }
            var command: [Field] = []
            while k < args.endIndex {
                let f = args[k]
                k += 1
                if f.staticText == ";" { break }
                if f.staticText == "+", command.last?.text == "{}" { break }
                command.append(f.text.utf8.firstRange(of: "{}".utf8) != nil ? .dynamic(f.text, reason: "a file name found by find", offset: f.offset) : f)
            }
            if !command.isEmpty { out.append(.inner(command, context: .findExec, environment: [])) }
        }
        return out
    }

    /// sh/bash/dash/zsh … : `-c STRING` runs STRING; no `-c` and no script reads the script from
    /// standard input.
    private static func unwrapShell(_ name: String, _ args: ArraySlice<Field>, stdinScript: Field?) throws(OptionScanError) -> [WrapperOutcome] {
        var k = args.startIndex
        var runsString = false
        var readsStdin = false
        while k < args.endIndex {
            let field = args[k]
            guard let text = field.staticText, !field.variadic else { throw .notStatic(field) }
            if text == "--" || text == "-" { k += 1; break }
            if text.hasPrefix("--") {
                k += 1
                if text == "--rcfile" || text == "--init-file" { k += 1 }
                continue
            }
            guard (text.hasPrefix("-") || text.hasPrefix("+")) && text.count > 1 else { break }
            k += 1
            for c in text.dropFirst() {
                switch c {
                case "c": runsString = true
                case "s": readsStdin = true
                case "o", "O":
                    k += 1
                default: break
                }
            }
        }
        let operands = Array(args[min(k, args.endIndex)...])
        if runsString {
            guard let code = operands.first else { return [] }
            return [.shellCode(code)]
        }
        if !operands.isEmpty && !readsStdin { return [] }
        if let stdinScript { return [.shellCode(stdinScript)] }
        return []
    }
}

/// Option tables, built once: wrappers are looked at for every command of every line.
private enum Spec {
    static let sudo = OptionSpec(flags: "ABbEeHiKklNnPSsVv", withArgument: "aCcDgpRrTtUu", optionalArgument: "h",
                                   long: ["askpass", "background", "bell", "edit", "help", "login", "remove-timestamp",
                                          "reset-timestamp", "list", "non-interactive", "no-update", "preserve-groups",
                                          "stdin", "shell", "version", "validate", "set-home"],
                                   longWithArgument: ["auth-type", "close-from", "chdir", "group", "prompt", "chroot",
                                                      "role", "type", "command-timeout", "other-user", "user", "login-class"],
                                   longOptionalArgument: ["preserve-env", "host"])
    static let doas = OptionSpec(flags: "nsL", withArgument: "uC")
    static let nice = OptionSpec(withArgument: "n", longWithArgument: ["adjustment"], numericOption: true)
    static let nohup = OptionSpec(long: ["help", "version"])
    static let timeout = OptionSpec(flags: "v", withArgument: "ks", long: ["foreground", "preserve-status", "verbose", "help", "version"],
                                   longWithArgument: ["kill-after", "signal"])
    static let time = OptionSpec(flags: "apqvV", withArgument: "fo", long: ["append", "portability", "quiet", "verbose", "version", "help"],
                                        longWithArgument: ["format", "output"])
    static let command = OptionSpec(flags: "pvV")
    static let builtin = OptionSpec()
    static let exec = OptionSpec(flags: "cl", withArgument: "a")
    static let stdbuf = OptionSpec(withArgument: "ioe", long: ["help", "version"], longWithArgument: ["input", "output", "error"])
    static let ionice = OptionSpec(flags: "tVh", withArgument: "cnpPu", long: ["ignore", "help", "version"],
                                   longWithArgument: ["class", "classdata", "pid", "pgid", "uid"])
    static let setsid = OptionSpec(flags: "cfwVh", long: ["ctty", "fork", "wait", "version", "help"])
    static let chrt = OptionSpec(flags: "abdfimoprRvVh", withArgument: "DPT",
                                   long: ["all-tasks", "batch", "deadline", "fifo", "idle", "max", "other", "pid", "rr",
                                          "reset-on-fork", "verbose", "version", "help"],
                                   longWithArgument: ["sched-runtime", "sched-period", "sched-deadline"])
    static let taskset = OptionSpec(flags: "acphV", long: ["all-tasks", "cpu-list", "pid", "help", "version"])
    static let flock = OptionSpec(flags: "sexnoFuhV", withArgument: "wEc",
                                   long: ["shared", "exclusive", "unlock", "nonblock", "close", "no-fork", "verbose", "help", "version"],
                                   longWithArgument: ["timeout", "conflict-exit-code", "command"])
    static let watch = OptionSpec(flags: "bcCdegprtwxhv", withArgument: "nq",
                                   long: ["beep", "color", "no-color", "errexit", "chgexit", "precise", "no-rerun",
                                          "no-title", "no-wrap", "exec", "help", "version"],
                                   longWithArgument: ["interval", "equexit"], longOptionalArgument: ["differences"])
    static let su = OptionSpec(flags: "flmpPhV", withArgument: "cgGsuw",
                                   long: ["fast", "login", "preserve-environment", "pty", "help", "version"],
                                   longWithArgument: ["command", "session-command", "group", "supp-group", "shell",
                                                      "whitelist-environment", "user"],
                                   permute: true)
    static let chroot = OptionSpec(long: ["skip-chdir", "help", "version"], longWithArgument: ["userspec", "groups"])
    static let strace = OptionSpec(flags: "cCdDfFhiqrtTvVwxyzZkn", withArgument: "abeEIoOpPsSuUX",
                                   long: ["summary-only", "summary", "debug", "daemonize", "follow-forks", "help",
                                          "instruction-pointer", "quiet", "relative-timestamps", "syscall-times",
                                          "no-abbrev", "version", "summary-wall-clock", "decode-fds", "stack-trace"],
                                   longWithArgument: ["output", "attach", "trace", "signal", "env", "string-limit", "user",
                                                      "trace-path", "columns", "absolute-timestamps", "status", "decode-pids"])
    static let script = OptionSpec(flags: "aefqhV", withArgument: "cEIOBTmo", optionalArgument: "t",
                                   long: ["append", "return", "flush", "force", "quiet", "help", "version"],
                                   longWithArgument: ["command", "echo", "log-in", "log-out", "log-io", "log-timing",
                                                      "logging-format", "output-limit"],
                                   longOptionalArgument: ["timing"], permute: true)
    static let unbuffer = OptionSpec(flags: "p")
    static let env = OptionSpec(flags: "0iv", withArgument: "CSuP",
                               long: ["ignore-environment", "null", "debug", "help", "version", "list-signal-handling"],
                               longWithArgument: ["unset", "chdir", "split-string"],
                               longOptionalArgument: ["block-signal", "default-signal", "ignore-signal"])
    static let xargs = OptionSpec(flags: "0oprtx", withArgument: "aEILnsPd", optionalArgument: "eil",
                               long: ["null", "interactive", "no-run-if-empty", "verbose", "exit", "open-tty", "show-limits",
                                      "help", "version"],
                               longWithArgument: ["arg-file", "delimiter", "max-args", "max-procs", "process-slot-var", "max-chars"],
                               longOptionalArgument: ["eof", "replace", "max-lines"])
}
