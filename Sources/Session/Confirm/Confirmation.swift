import Foundation
import Posix
import ShellSyntax
import Policy
import ShellSyntax
import Store
#if canImport(Glibc)
import Glibc
#endif

/// How the user answered the confirmation prompt.
enum PhraseAnswer: Equatable {
    case typed(String)
    case timedOut
    case interrupted
    case ended(EndReason)
}

/// The dry runs of a line's confirmable commands, and the phrase they ask for.
struct ConfirmationPlan {
    var reports: [DryRunReport]
    var phrase: String
    var prompt: String

    var fingerprints: [[UInt8]] { reports.map(\.fingerprint) }
    var count: Int { reports.reduce(0) { $0 + $1.count } }
}

/// A command the user confirmed: at exec time only this program with exactly these arguments
/// (expanded as the dry run expanded them) passes, not every program of that name.
struct ConfirmedCommand: Equatable {
    var name: String
    /// The arguments after argv[0]; nil when they could not be known before the line ran
    /// (a substitution, xargs): then the name alone, as the confirmation said.
    var arguments: [String]?

    func admits(names: [String], arguments given: [String]) -> Bool {
        guard names.contains(name) else { return false }
        return arguments.map { $0 == given } ?? true
    }
}

extension Session {
    static let phraseTimeout = 60.0

    /// What the confirmation of `decision` lets run at exec time.
    func confirmedCommands(_ decision: Decision) -> [ConfirmedCommand] {
        let globber = Globber(cwd: existingDirectory())
        return decision.confirmations.compactMap { c in
            guard let name = c.command.name.map(PathName.base) else { return nil }
            // xargs and find -exec add arguments only the running line knows.
            let known = !c.command.context.contains(.xargs) && !c.command.context.contains(.findExec)
                && !c.command.argv.contains { $0.kind == .dynamic }
            guard known, let words = try? c.command.argv.dropFirst().flatMap({ (f: Field) throws(Globber.Unsupported) in try globber.expand(f) })
            else { return ConfirmedCommand(name: name, arguments: nil) }
            return ConfirmedCommand(name: name, arguments: words.map { String(decoding: $0, as: UTF8.self) })
        }
    }
    static let confirmRounds = 3

    /// Dry runs for every confirmable command of the line; a refusal when one cannot be made
    /// and its rule says so, or the command would touch what is never allowed.
    func plan(_ decision: Decision) -> Result<ConfirmationPlan, ConfirmRefusal> {
        var reports: [DryRunReport] = []
        var strongest = ConfirmSpec.Phrase.yes
        for c in decision.confirmations {
            guard let spec = c.confirm else { continue }
            switch dryRun(c) {
            case .report(let r): reports.append(r)
            case .refused(let why): return .failure(ConfirmRefusal(message: why))
            case .impossible(let why):
                if spec.withoutDryRun == .deny {
                    return .failure(ConfirmRefusal(message: "no dry run is possible (\(why)), and rule \(c.judgement.rule?.description ?? "") denies it then"))
                }
                reports.append(DryRunReport(lines: ["no dry run for: \(c.command.argv.map(\.text).joined(separator: " ")) (\(why))"],
                                            count: 0, fingerprint: []))
            }
            if spec.phrase == .hostname || (spec.phrase == .count && strongest == .yes) { strongest = spec.phrase }
        }
        if !decision.destructions.isEmpty {
            reports.append(destructionReport(decision.destructions, shown: decision.destructions.map(\.by).joined(separator: ", ")))
        }
        let total = reports.reduce(0) { $0 + $1.count }
        let phrase: String, prompt: String
        switch strongest {
        case .hostname:
            phrase = setup.host.shortName
            prompt = "Type the host name \"\(phrase)\" to run this line"
        case .count where total > 0:
            phrase = String(total)
            prompt = "Type \(phrase) (the number of objects above) to run this line"
        default:
            phrase = "yes"
            prompt = "Type yes to run this line"
        }
        return .success(ConfirmationPlan(reports: reports, phrase: phrase, prompt: prompt + "; anything else cancels (\(Int(Session.phraseTimeout)) s): "))
    }

    struct ConfirmRefusal: Error { var message: String }

    /// The role's confirm_limit: how many confirmations it allows in its window, and when the next frees up.
    func throttled() -> String? {
        guard let limit = setup.role.role.confirmLimit else { return nil }
        let since = Clock.now - Int64(limit.perSeconds) * 1_000_000
        guard let used = try? setup.store.countAudit(kind: .confirmed, identity: setup.identity, since: since) else {
            return "the confirm limit cannot be checked (the store does not answer)"
        }
        guard used >= limit.count else { return nil }
        let oldest = (try? setup.store.oldestAudit(kind: .confirmed, identity: setup.identity, since: since)) ?? nil
        let wait = oldest.map { max(1, Int(($0 + Int64(limit.perSeconds) * 1_000_000 - Clock.now) / 1_000_000)) } ?? limit.perSeconds
        return "role \(setup.role.name) allows \(limit.count) confirmed changes per \(Duration.describe(limit.perSeconds)); "
            + "the next is possible in \(Duration.describe(wait))"
    }

    /// The confirm limit, then the dry runs; nil (said on `stream` and audited) when refused.
    func prepare(_ line: String, _ decision: Decision, stream: Frame.Kind) -> ConfirmationPlan? {
        if let why = throttled() {
            say("jitsh: denied: \(why); nothing ran\n", stream: stream)
            confirmEvent(.confirmThrottled, line, decision: .deny, reason: why)
            return nil
        }
        switch plan(decision) {
        case .failure(let refusal):
            say("jitsh: denied: \(refusal.message); nothing ran\n", stream: stream)
            confirmEvent(.confirmRefused, line, decision: .deny, reason: refusal.message)
            return nil
        case .success(let p):
            return p
        }
    }

    /// Interactive confirmation: dry run, phrase, dry run again, then the exact line, once.
    func confirmAndRun(_ line: String, _ decision: Decision) -> JobOutcome {
        say("\(decision.headline(line: line))\n")
        guard var current = prepare(line, decision, stream: .output) else { return .exited(126) }
        for round in 1...Session.confirmRounds {
            say(current.reports.flatMap(\.lines).joined(separator: "\n") + "\n")
            confirmEvent(.confirmShown, line, decision: .confirm, reason: "asked for \"\(current.phrase)\"",
                         data: ["count": .int(current.count), "round": .int(round)])
            // Keys typed before the question was shown cannot answer it.
            discardTypeAhead()
            say(current.prompt)
            let answer = askPhrase()
            guard case .typed(let typed) = answer else {
                let why = answer == .timedOut ? "no answer within \(Int(Session.phraseTimeout)) s" : "interrupted"
                say("\njitsh: cancelled (\(why)); nothing ran\n")
                confirmEvent(.confirmCancelled, line, decision: .deny, reason: why)
                if case .ended(let reason) = answer { return .ended(reason) }
                return .exited(130)
            }
            guard typed == current.phrase else {
                say("jitsh: cancelled: \"\(Visible.text(typed))\" is not \"\(current.phrase)\"; nothing ran\n")
                confirmEvent(.confirmCancelled, line, decision: .deny, reason: "wrong phrase")
                return .exited(1)
            }
            // What runs must be what was shown: the dry run again, compared.
            guard case .success(let again) = plan(decision) else {
                say("jitsh: the dry run cannot be repeated; nothing ran\n")
                confirmEvent(.confirmCancelled, line, decision: .deny, reason: "dry run failed on repeat")
                return .exited(126)
            }
            if again.fingerprints == current.fingerprints {
                guard confirmEvent(.confirmed, line, decision: .allow, reason: "typed \"\(typed)\"", data: ["count": .int(again.count)]) else {
                    say("jitsh: the confirmation cannot be recorded; nothing ran\n")
                    return .exited(126)
                }
                confirmed = confirmedCommands(decision)
                defer { confirmed = [] }
                return runOnTerminal(line)
            }
            say("jitsh: the dry run changed since it was shown (\(current.count) → \(again.count) objects); look again:\n")
            confirmEvent(.confirmChanged, line, decision: .confirm, reason: "\(current.count) → \(again.count) objects")
            current = again
        }
        say("jitsh: the dry run kept changing; nothing ran\n")
        confirmEvent(.confirmCancelled, line, decision: .deny, reason: "dry run kept changing")
        return .exited(1)
    }

    @discardableResult
    func confirmEvent(_ kind: AuditKind, _ line: String, decision: AuditDecision, reason: String, data: [String: JSONText] = [:]) -> Bool {
        let json = JSONText.object(data).text
        recorder.marker(["event": .string(kind.rawValue), "line": .string(line), "reason": .string(reason)])
        return audit(kind, line: line, decision: decision, reason: reason, data: json, alert: kind == .confirmed && alerts("confirm"))
    }

    /// Reads the phrase from the user's terminal: echoed, editable with Backspace and Ctrl-U,
    /// cancelled by Ctrl-C, Ctrl-D or the timeout. The grant is still watched meanwhile.
    func askPhrase(timeout: Double = Session.phraseTimeout) -> PhraseAnswer {
        var phrase = PhraseInput()
        var answer: PhraseAnswer?
        let scope = LoopScope()
        let input = scope.watch(terminal.input)
        scope.timer { answer = answer ?? .timedOut }.deadline = loop.now + Int64(timeout * 1_000_000)
        scope.onSignal = { [self] sig in
            if sig == SIGHUP { answer = answer ?? .ended(.hangup) }
            if sig == SIGTERM { answer = answer ?? .ended(.terminated) }
            if sig == SIGWINCH { let s = terminal.size(); recorder.resize(rows: s.rows, cols: s.cols) }
        }
        scope.onWatchdog = { [self] found in
            if case .end(let reason, let message) = found, answer == nil {
                say("\n\(message)\n")
                answer = .ended(reason)
            }
        }
        scope.afterTurn = { [self] in
            guard answer == nil, input.ready else { return }
            // Nothing to read now (the terminal is non-blocking once a job ran) is not a hang-up.
            guard let bytes = readSome(terminal.input) else { answer = .ended(.hangup); return }
            if bytes.isEmpty { return }
            recorder.record(.input, bytes)
            for b in bytes {
                let (echo, done) = phrase.feed(b)
                show(echo)
                if let done {
                    if case .typed = done { say("\n") }
                    answer = done
                    return
                }
            }
        }
        loop.run(scope) { answer != nil }
        return answer ?? .timedOut
    }
}

/// The confirmation phrase as it is typed (bytes in, echo and the answer out): printable
/// characters are echoed, Backspace takes a whole character back, Ctrl-U the whole phrase,
/// Enter answers, Ctrl-C and Ctrl-D cancel; other control keys are ignored, never echoed.
struct PhraseInput {
    private(set) var typed: [UInt8] = []

    private static let rubOut = Array("\u{8} \u{8}".utf8)

    mutating func feed(_ b: UInt8) -> (echo: [UInt8], answer: PhraseAnswer?) {
        switch b {
        case 0x03, 0x04: return ([], .interrupted)
        case 0x0d, 0x0a: return ([], .typed(String(decoding: typed, as: UTF8.self)))
        case 0x7f, 0x08:
            guard !typed.isEmpty else { return ([], nil) }
            // A multi-byte character goes as a whole: its continuation bytes, then its first.
            while let last = typed.popLast(), last & 0xC0 == 0x80 {}
            return (PhraseInput.rubOut, nil)
        case 0x15:
            let echo = Array(repeating: PhraseInput.rubOut, count: String(decoding: typed, as: UTF8.self).count).flatMap { $0 }
            typed.removeAll()
            return (echo, nil)
        case 0x20...0x7e, 0x80...0xff:
            typed.append(b)
            return ([b], nil)
        default:
            return ([], nil)
        }
    }
}
