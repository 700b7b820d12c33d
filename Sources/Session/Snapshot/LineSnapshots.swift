import Foundation
import Policy
import Posix
import ShellSyntax
import Store
#if canImport(Glibc)
import Glibc
#endif

/// A session's snapshot bookkeeping: the watcher, and which contents it has stored already
/// (each once a session, whatever number of lines names it).
final class SnapshotKeeper {
    let settings: SnapshotSettings
    let home: String
    let watcher: Watcher
    var stored: Set<String> = []
    var storedBytes = 0

    init(_ settings: SnapshotSettings, home: String) {
        self.settings = settings
        self.home = home
        watcher = Watcher(roots: settings.walkRoots(home: home), limit: settings.limit, include: settings.matcher(home: home))
    }

    var restorer: Restorer { Restorer(roots: settings.walkRoots(home: home)) }
}

/// Where a line stands with the role's `snapshot:`.
enum SnapshotGate {
    /// The role watches nothing.
    case off
    /// The line must not run: one line saying why.
    case refused(String)
    /// The state before the line, and the line's number in the session.
    case watching(WatchedState, line: Int)
}

extension Session {
    /// The grant's contract's `snapshot:`, or the role's.
    var snapshotSettings: SnapshotSettings? { setup.policy.snapshot(role: setup.role.name, contract: setup.grant.contract) }

    /// Before a line: the watched paths as they are (unchanged files cost a `stat`).
    func snapshotBefore(_ line: String) -> SnapshotGate {
        guard let settings = snapshotSettings else {
            snapshots = nil
            return .off
        }
        if snapshots?.settings != settings { snapshots = SnapshotKeeper(settings, home: setup.home) }
        guard let keeper = snapshots else { return .off }
        let state = keeper.watcher.scan()
        if let overflow = state.overflow {
            audit(.snapshotRefused, line: line, decision: .deny, reason: overflow)
            return .refused("jitsh: nothing ran: the watched files cannot be kept (\(overflow)); an admin narrows snapshot paths or raises snapshot_limit")
        }
        if keeper.storedBytes >= settings.limit {
            audit(.snapshotRefused, line: line, decision: .deny, reason: "snapshot limit reached")
            return .refused("jitsh: nothing ran: this session has kept its snapshot limit of \(ByteSize.describe(settings.limit)) of images; start a new session")
        }
        return .watching(state, line: linesAudited)
    }

    /// After a line: its changes kept as images, a marker with their diff, the check run, and
    /// what the role says of a failure done.
    func snapshotAfter(_ line: String, _ gate: SnapshotGate, outcome: JobOutcome) {
        guard case .watching(let before, let number) = gate, let keeper = snapshots else { return }
        let after = keeper.watcher.scan()
        let changes = FileChange.between(before.images, after.images)
        guard !changes.isEmpty else { return }
        var contents: [String: [UInt8]] = [:]
        for c in changes {
            if let d = c.before?.digest, !d.isEmpty, !keeper.stored.contains(d) { contents[d] = before.contents[d] }
            if let d = c.after?.digest, !d.isEmpty, !keeper.stored.contains(d) { contents[d] = after.contents[d] }
        }
        let adding = contents.values.reduce(0) { $0 + $1.count }
        if after.overflow != nil || keeper.storedBytes + adding > keeper.settings.limit {
            let why = after.overflow.map { "the watched files after it cannot be kept (\($0))" }
                ?? "keeping their images would pass this session's snapshot limit of \(ByteSize.describe(keeper.settings.limit))"
                + " (\(ByteSize.describe(keeper.storedBytes)) kept)"
            // An after-state too large to hold is incomplete: what changed is found by lstat alone.
            let changes = after.overflow == nil ? changes
                : keeper.watcher.changedPaths(since: before).map { FileChange(path: $0, before: before.images[$0], after: nil) }
            let failed = restore(changes, from: before, keeper)
            audit(.snapshotLimit, line: line, decision: .deny, reason: why,
                  data: JSONText.object(["line": .int(number), "undone": .array(changes.map { .string($0.path) })]).text)
            recorder.marker(["event": "snapshot-limit", "line": .int(number), "reason": .string(why)])
            tell("jitsh: the line's changes to \(count(changes.count, "watched file")) were undone: \(why)\(failureNote(failed))\n")
            return
        }
        let stored: (head: [UInt8], count: Int64)
        do {
            stored = try setup.store.appendImages(session: id, line: number, at: Clock.now, changes: changes, contents: contents)
        } catch {
            let failed = restore(changes, from: before, keeper)
            audit(.snapshotFailed, line: line, decision: .deny, reason: "\(error)")
            tell("jitsh: the line's changes to watched files were undone: their images cannot be stored\(failureNote(failed))\n")
            return
        }
        keeper.stored.formUnion(contents.keys)
        keeper.storedBytes += adding
        let report = SnapshotReport.build(changes, contents: before.contents.merging(after.contents) { a, _ in a })
        var marker: [String: JSONText] = ["event": "snapshot", "line": .int(number), "changes": .array(report.summaries.map { .string($0) }),
                                          "diff": .string(report.diff), "images": .string(SnapshotImage.hex(stored.head)),
                                          "count": .int(Int(stored.count))]
        // One frame holds a marker: a diff of many escapes is cut further, then left to the images.
        if JSONText.object(marker).text.utf8.count > 30_000 { marker["diff"] = .string(String(report.diff.prefix(2000)) + "\n… the diff is cut here\n") }
        if JSONText.object(marker).text.utf8.count > 30_000 { marker["diff"] = .string("(the diff is too large for the recording; jitsh rollback --dry-run shows it)\n") }
        recorder.marker(marker)
        audit(.snapshot, line: line, reason: String(report.summaries.joined(separator: "; ").prefix(1000)),
              data: JSONText.object(["line": .int(number), "changes": .int(changes.count), "images": .string(SnapshotImage.hex(stored.head))]).text)
        judge(line, number, changes, before: before, outcome: outcome, keeper)
    }

    /// Runs each affected entry's check and does what its `on_failure` says.
    func judge(_ line: String, _ number: Int, _ changes: [FileChange], before: WatchedState, outcome: JobOutcome, _ keeper: SnapshotKeeper) {
        let status: Int32
        switch outcome {
        case .exited(let s): status = s
        // A stopped job goes on later; an ended session cannot be asked: neither is judged now.
        case .stopped, .ended: status = 0
        }
        var byRule: [Int: [FileChange]] = [:]
        for c in changes { if let k = keeper.settings.rule(for: c.path, home: keeper.home) { byRule[k, default: []].append(c) } }
        for k in byRule.keys.sorted() {
            let rule = keeper.settings.rules[k]
            guard let mine = byRule[k] else { continue }
            var checkStatus: Int32?? = .none
            if let check = rule.check, outcome != .stopped {
                let (s, output) = runCheck(check)
                checkStatus = .some(s)
                if s != 0 { showCheckOutput(output) }
                audit(.snapshotCheck, line: line, decision: s == 0 ? .pass : .fail, reason: check.joined(separator: " "),
                      data: JSONText.object(["line": .int(number), "status": s.map { .int(Int($0)) } ?? .null]).text)
            }
            guard case .failed(let why, let action) = rule.outcome(lineStatus: status, checkStatus: checkStatus) else { continue }
            switch action {
            case .restore:
                restoreAndSay(line, number, mine, before: before, why: why, keeper)
            case .keep:
                audit(.snapshotKept, line: line, reason: why, data: JSONText.object(["line": .int(number)]).text)
                tell("jitsh: \(why); the change is kept (on_failure: keep); jitsh rollback \(id.prefix(8)) --line \(number) undoes it\n")
            case .ask:
                guard interactive, terminal.isTerminal, ended == nil else {
                    restoreAndSay(line, number, mine, before: before, why: why + " (no terminal to ask on)", keeper)
                    continue
                }
                tell("jitsh: \(why).\nType restore to put back \(count(mine.count, "watched file")) as before this line; anything else keeps the change (\(Int(Session.phraseTimeout)) s): ")
                switch askPhrase() {
                case .typed("restore"):
                    restoreAndSay(line, number, mine, before: before, why: why + " (restore typed)", keeper)
                case .typed, .interrupted:
                    audit(.snapshotKept, line: line, reason: why + " (kept when asked)", data: JSONText.object(["line": .int(number)]).text)
                    tell("jitsh: the change is kept; jitsh rollback \(id.prefix(8)) --line \(number) undoes it\n")
                case .timedOut, .ended:
                    restoreAndSay(line, number, mine, before: before, why: why + " (no answer)", keeper)
                }
            }
        }
    }

    func restoreAndSay(_ line: String, _ number: Int, _ changes: [FileChange], before: WatchedState, why: String, _ keeper: SnapshotKeeper) {
        let failed = restore(changes, from: before, keeper)
        let restored = changes.map(\.path).filter { p in !failed.contains { $0.path == p } }
        audit(.snapshotRestore, line: line, decision: failed.isEmpty ? .restored : .partly, reason: why,
              data: JSONText.object(["line": .int(number), "restored": .array(restored.map { .string($0) }),
                                     "failed": .array(failed.map { .string($0.description) })]).text, alert: true)
        recorder.marker(["event": "snapshot-restored", "line": .int(number), "reason": .string(why),
                         "restored": .array(restored.map { .string($0) })])
        tell("jitsh: restored \(count(restored.count, "watched file")) as before this line: \(why)\(failureNote(failed))\n")
    }

    /// Puts the paths of `changes` back as `before` had them, with the person's own rights;
    /// what does not match the before-image afterwards is a failure.
    func restore(_ changes: [FileChange], from before: WatchedState, _ keeper: SnapshotKeeper) -> [Restorer.Failure] {
        let targets = changes.map { c in
            Restorer.Target(path: c.path, image: c.before, content: c.before.flatMap { before.contents[$0.digest] })
        }
        var failures = keeper.restorer.restore(targets)
        let now = keeper.watcher.scan().images
        for c in changes where !failures.contains(where: { $0.path == c.path }) {
            let same = switch (c.before, now[c.path]) {
            case (nil, nil): true
            case (let b?, let n?): b.sameAs(n)
            default: false
            }
            if !same { failures.append(Restorer.Failure(path: c.path, why: "it is not as before the line after the restore")) }
        }
        return failures
    }

    func failureNote(_ failed: [Restorer.Failure]) -> String {
        failed.isEmpty ? "" : "; NOT restored: " + failed.prefix(5).map { Visible.text($0.description) }.joined(separator: "; ")
    }

    func count(_ n: Int, _ noun: String) -> String { n == 1 ? "1 \(noun)" : "\(n) \(noun)s" }

    /// What jitsh says about a line's snapshot: on the terminal, or standard error without one.
    func tell(_ text: String) { say(text, stream: interactive ? .output : .stderr) }

    func showCheckOutput(_ output: [UInt8]) {
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { return }
        var text = lines.prefix(20).map { "  " + Visible.text(String($0)) }.joined(separator: "\n") + "\n"
        if lines.count > 20 { text += "  … and \(lines.count - 20) more lines\n" }
        tell(text)
    }

    /// Runs a role's check: no shell, no guard (the administrator wrote it), the person's ids
    /// (the spawner drops jitsh's group), at most 30 s and 64 KiB of output. nil: it did not finish.
    func runCheck(_ argv: [String], seconds: Double = 30) -> (Int32?, [UInt8]) {
        let trusted = setup.policy.global.trustedPaths
        let program = argv[0].hasPrefix("/") ? argv[0] : trusted.map { $0 + "/" + argv[0] }.first { access($0, X_OK) == 0 }
        guard let program else { return (127, Array("jitsh: the check program \(argv[0]) is not in \(trusted.joined(separator: ":"))\n".utf8)) }
        guard let pipe = makePipe() else { return (126, Array("jitsh: cannot create a pipe for the check\n".utf8)) }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        let environment = ["PATH": trusted.joined(separator: ":"), "HOME": setup.home, "LANG": "C.UTF-8", "JITSH_SESSION": id,
                           "JITSH_IDENTITY": setup.identity]
        let spec = Spawner.Spec(path: program, arguments: argv, environment: environment, directory: "/", stdin: null,
                                stdout: pipe.write, stderr: pipe.write)
        let pid: pid_t
        do { pid = try Spawner.spawn(spec).pid } catch {
            close(pipe.read); close(pipe.write)
            return (126, Array("jitsh: \(error)\n".utf8))
        }
        close(pipe.write)
        let run = captureRun(pid, output: pipe.read, seconds: seconds, limit: 64 << 10)
        return (run.status, run.output)
    }
}
