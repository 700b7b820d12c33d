import Foundation
import Policy
import Posix
import ShellSyntax
import Store
#if canImport(Glibc)
import Glibc
#endif

extension Session {
    /// Words jitsh answers itself at the prompt, never through bash.
    static let builtins: Set<String> = ["exit", "logout", "help", "grant", "rollback", "fg", "jobs"]

    /// The prompt loop: a line is read with jitsh's editor, decided, and run in a fresh bash.
    public func runInteractive() -> Int32 {
        interactive = true
        do { try begin(mode: "interactive", command: "") } catch {
            FileHandle.standardError.write(Data("jitsh: the session cannot be recorded: \(error)\n".utf8))
            return 1
        }
        terminal.enterRaw()
        say(banner())
        let history = (try? setup.store.recentLines(identity: setup.identity, limit: 500)) ?? []
        let editor = LineEditor(history: history) { [unowned self] line, cursor in self.completions(line, cursor) }
        var continuation = ""
        show(editor.begin(prompt: prompt()))
        var reason: EndReason?
        let scope = LoopScope()
        let input = scope.watch(terminal.input)
        scope.onSignal = { [self] sig in
            if sig == SIGWINCH {
                let size = terminal.size()
                recorder.resize(rows: size.rows, cols: size.cols)
            } else if sig == SIGHUP || sig == SIGTERM {
                reason = reason ?? (sig == SIGHUP ? .hangup : .terminated)
            }
        }
        scope.onWatchdog = { [self] found in
            switch found {
            case .fine: break
            case .warn(let message):
                say("\r\n\(message)\n")
                show(editor.render())
            case .end(let r, let message):
                say("\r\n\(message)\n")
                reason = reason ?? r
            }
        }
        scope.afterTurn = { [self] in
            guard reason == nil else { return }
            if input.ready {
                guard let bytes = readSome(terminal.input) else {
                    reason = .hangup
                    return
                }
                recorder.record(.input, bytes)
                var fresh = bytes
                // One read may hold several lines (type-ahead, a paste without brackets): each is
                // run in turn, none cut, none dropped.
                repeat {
                    let (output, events) = editor.feed(fresh)
                    fresh = []
                    show(output)
                    markDropped(editor)
                    for event in events {
                        switch event {
                        case .endOfInput:
                            say("logout\n")
                            reason = .endOfInput
                            return
                        case .interrupt:
                            continuation = ""
                            show(editor.begin(prompt: prompt()))
                        case .submit(let text):
                            let line = continuation.isEmpty ? text : continuation + "\n" + text
                            let parsed = ParsedLine(line, limits: lineLimits)
                            if needsMore(parsed) {
                                continuation = line
                                show(editor.begin(prompt: "> "))
                                continue
                            }
                            continuation = ""
                            if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                                if editor.history.last != line { editor.history.append(line) }
                                handle(parsed)
                                if ended != nil || reason != nil { return }
                                if typeAheadMidLine {
                                    editor.skippingToLineEnd = true
                                    typeAheadMidLine = false
                                }
                            }
                            show(editor.begin(prompt: prompt()))
                        }
                        if ended != nil { return }
                    }
                } while editor.hasPending && ended == nil
            }
            if recorder.failure != nil {
                say("\njitsh: the session cannot be recorded any more; it ends now\n")
                reason = .recordingFailed
            }
        }
        loop.run(scope) { ended != nil || reason != nil }
        return finish(ended ?? reason ?? .exit, status: lastStatus)
    }

    /// Marks in the recording what the editor dropped (invalid UTF-8, the rest of a line whose
    /// start went to a job, a paste over the bound): the input frames hold the bytes themselves.
    func markDropped(_ editor: LineEditor) {
        let n = editor.takeDropped()
        if n > 0 { recorder.marker(["event": "input-dropped", "bytes": .int(n)]) }
    }

    /// An unterminated quote, a trailing `|` or `\`, an open here-document: ask for more.
    func needsMore(_ line: ParsedLine) -> Bool {
        var trailing = 0
        for c in line.bytes.reversed() { if c == UInt8(ascii: "\\") { trailing += 1 } else { break } }
        return trailing % 2 == 1 || line.isIncomplete
    }

    func handle(_ parsed: ParsedLine) {
        let line = parsed.text
        switch watchdog.check(setup.store, now: now, force: true) {
        case .fine: break
        case .warn(let message): say("\(message)\n")
        case .end(let reason, let message):
            say("\(message)\n")
            ended = reason
            return
        }
        if let builtin = builtinCommand(parsed) {
            runBuiltin(builtin, line: line)
            return
        }
        if let why = refreshPolicy() {
            say("jitsh: \(why)\n")
            lastStatus = 126
            return
        }
        let decision = decide(parsed)
        guard auditDecision(line, decision) || decision.verdict == .deny else {
            say("jitsh: the decision cannot be recorded (\(auditFailure ?? "store error")); nothing ran\n")
            lastStatus = 126
            return
        }
        switch decision.verdict {
        case .deny:
            say("\(decision.headline(line: line))\n")
            lastStatus = 126
        case .confirm, .allow:
            let gate = snapshotBefore(line)
            if case .refused(let why) = gate {
                say("\(why)\n")
                lastStatus = 126
                return
            }
            let outcome = decision.verdict == .allow ? runOnTerminal(line) : confirmAndRun(line, decision)
            snapshotAfter(line, gate, outcome: outcome)
            switch outcome {
            case .exited(let status): lastStatus = status
            case .stopped: lastStatus = 148
            case .ended(let reason): ended = reason
            }
        }
    }

    /// `exit`, `help`, `grant …`, `fg`, `jobs` as one plain command: jitsh answers them.
    func builtinCommand(_ line: ParsedLine) -> [String]? {
        guard let e = try? line.extract(), e.commands.count == 1, e.redirects.isEmpty, e.assignments.isEmpty,
              e.risks.isEmpty, let c = e.commands.first, c.via.isEmpty, c.context.isEmpty, let name = c.name,
              Session.builtins.contains(name), c.argv.allSatisfy(\.isStatic) else { return nil }
        return c.argv.map(\.text)
    }

    func runBuiltin(_ argv: [String], line: String) {
        audit(.line, line: line, decision: .builtin)
        recorder.marker(["event": "builtin", "line": .string(line)])
        switch argv[0] {
        case "exit", "logout":
            lastStatus = argv.count > 1 ? Int32(argv[1]) ?? 0 : lastStatus
            ended = .exit
        case "help":
            say(help())
        case "fg":
            switch foreground() {
            case .exited(let s): lastStatus = s
            case .stopped: lastStatus = 148
            case .ended(let r): ended = r
            }
        case "jobs":
            for (k, job) in suspended.enumerated() { say("[\(k + 1)]\(k == suspended.count - 1 ? "+" : " ")  Stopped  \(Visible.text(job.line))\n") }
        case "grant", "rollback":
            let (status, output) = runVerb?(argv) ?? (1, "jitsh: \(argv[0]) is not available here\n")
            say(output)
            lastStatus = status
        default:
            break
        }
    }

    func timeLeft() -> String {
        let left = max(0, watchdog.grant.endsAt - now) / Duration.second
        return left >= 3600 ? "\(left / 3600)h\(left % 3600 / 60)m" : "\(left / 60)m"
    }

    func prompt() -> String {
        var cwd = state.cwd
        if cwd == setup.home { cwd = "~" } else if cwd.hasPrefix(setup.home + "/") { cwd = "~" + cwd.dropFirst(setup.home.count) }
        let status = lastStatus == 0 ? "" : "[\(lastStatus)] "
        return "\(status)\(setup.identity)@\(setup.host.shortName) [\(setup.role.name) \(timeLeft())] \(cwd)$ "
    }

    func banner() -> String {
        """
        This session is recorded for review (session \(id)).
        \(setup.identity) as \(setup.role.name) on \(setup.host.name): grant \(setup.grant.id), \(timeLeft()) left. Type help for what you may run.

        """
    }

    func help() -> String {
        let rules = setup.role.rules
        func names(_ kind: Rule.Kind) -> String {
            Array(Set(rules.filter { $0.kind == kind }.flatMap(\.commands))).sorted().joined(separator: " ")
        }
        var text = "Role \(setup.role.name): \(setup.role.role.description)\n"
        text += "  allowed (some only with certain arguments): \(names(.allow))\n"
        let confirm = names(.confirm)
        if !confirm.isEmpty { text += "  confirmed first, with a dry run: \(confirm)\n" }
        for r in rules where r.kind == .deny {
            text += "  denied: \(r.commands.joined(separator: " "))\(r.options.map { " " + $0.map(\.text).joined(separator: " ") } ?? "")"
                + " — \(r.reason ?? "")\n"
        }
        let unseen = rules.filter { $0.kind == .allow && $0.statements?.contains("unseen") == true }.flatMap(\.commands)
        if !unseen.isEmpty {
            text += "  SQL jitsh cannot see (typed at the prompt, on standard input, in files) is allowed for: \(unseen.joined(separator: " "))\n"
        } else if rules.contains(where: { $0.kind == .allow && $0.commands.contains { StatementAnalysis.tools.contains(PathName.base($0)) } }) {
            text += "  database clients: give SQL with -c, -e or a here-document; what is typed at their prompt cannot be checked\n"
        }
        text += "  writes allowed: \(setup.role.writes.isEmpty ? "none" : setup.role.writes.joined(separator: ", "))\n"
        if let snapshot = snapshotSettings {
            text += "  watched (before-images kept, checked after each line): \(snapshot.rules.flatMap(\.paths).joined(separator: ", "))"
                + "; rollback \(id.prefix(8)) --line N puts a line's changes back\n"
        }
        text += "Grant \(setup.grant.id): \(timeLeft()) left. grant extend \(setup.grant.id) --by 30m asks for more; grant list shows yours.\n"
        text += "Each line runs in a fresh bash; cd and variables carry over, functions and aliases do not.\n"
        return text
    }

    /// Tab: command names the role allows in the first word, paths elsewhere.
    func completions(_ line: String, _ cursor: Int) -> [String] {
        let before = String(String.UnicodeScalarView(Array(line.unicodeScalars.prefix(cursor))))
        let word = String(before.split(separator: " ", omittingEmptySubsequences: false).last ?? "")
        let isFirst = !before.contains(" ") || before.hasSuffix("; ") || before.hasSuffix("| ") || before.hasSuffix("&& ")
        if isFirst && !word.contains("/") {
            let names = Set(setup.role.rules.filter { $0.kind != .deny }.flatMap(\.commands).filter { $0 != "*" && !$0.contains("/") })
                .union(Session.builtins)
            return names.filter { $0.hasPrefix(word) }.sorted()
        }
        let expanded = word.hasPrefix("~") ? setup.home + word.dropFirst() : word
        let dir: String
        let prefix: String
        if let slash = expanded.lastIndex(of: "/") {
            dir = String(expanded[...slash])
            prefix = String(expanded[expanded.index(after: slash)...])
        } else {
            dir = ""
            prefix = expanded
        }
        let absolute = dir.hasPrefix("/") ? dir : state.cwd + "/" + dir
        // Only what the user could list: jitsh's group must not widen what completion shows.
        guard access(absolute, R_OK | X_OK) == 0, let names = try? FileManager.default.contentsOfDirectory(atPath: absolute) else { return [] }
        let shownDir = word.hasPrefix("~") ? "~" + dir.dropFirst(setup.home.count) : dir
        return names.filter { $0.hasPrefix(prefix) && (prefix.hasPrefix(".") || !$0.hasPrefix(".")) }.sorted().map { name in
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: absolute + name, isDirectory: &isDirectory)
            return shownDir + name + (isDirectory.boolValue ? "/" : "")
        }
    }

    // MARK: Exec mode

    /// `ssh host 'LINE'`: decide, run, return the line's exit status (126 when refused).
    public func runExec(_ line: String, confirmToken: String? = nil) -> Int32 {
        runExec(ParsedLine(line), confirmToken: confirmToken)
    }

    /// The client's command, parsed once by the gate.
    public func runExec(_ parsed: ParsedLine, confirmToken: String? = nil) -> Int32 {
        let line = parsed.text
        // One line and the session is over: dumping and parsing its state would serve no next one.
        state.reportsBack = false
        do { try begin(mode: "exec", command: line) } catch {
            FileHandle.standardError.write(Data("jitsh: the session cannot be recorded: \(error)\n".utf8))
            return 1
        }
        let withTerminal = terminal.isTerminal
        if withTerminal { interactive = true; terminal.enterRaw() }
        switch watchdog.check(setup.store, now: now, force: true) {
        case .fine: break
        // A session that starts inside the last minutes is warned at once, not never.
        case .warn(let message): say("\(message)\n", stream: withTerminal ? .output : .stderr)
        case .end(let reason, let message):
            say("\(message)\n", stream: withTerminal ? .output : .stderr)
            return finish(reason, status: 1)
        }
        let decision = decide(parsed)
        guard auditDecision(line, decision) || decision.verdict == .deny else {
            say("jitsh: the decision cannot be recorded (\(auditFailure ?? "store error")); nothing ran\n", stream: withTerminal ? .output : .stderr)
            return finish(.error, status: 126)
        }
        switch decision.verdict {
        case .deny:
            say("\(decision.headline(line: line))\n", stream: withTerminal ? .output : .stderr)
            return finish(.exit, status: 126)
        case .confirm, .allow:
            let gate = snapshotBefore(line)
            if case .refused(let why) = gate {
                say("\(why)\n", stream: withTerminal ? .output : .stderr)
                return finish(.exit, status: 126)
            }
            let outcome: JobOutcome
            if decision.verdict == .allow {
                outcome = withTerminal ? runOnTerminal(line) : runPiped(line)
            } else {
                outcome = withTerminal && confirmToken == nil ? confirmAndRun(line, decision)
                    : confirmWithoutTerminal(line, decision, token: confirmToken)
            }
            snapshotAfter(line, gate, outcome: outcome)
            switch outcome {
            case .exited(let status): return finish(.exit, status: status)
            case .stopped: return finish(.exit, status: 148)
            case .ended(let reason): return finish(reason, status: 1)
            }
        }
    }
}
