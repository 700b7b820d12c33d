import Foundation
import Policy
@testable import Session
import ShellSyntax
import Store
import Testing
import TestSupport

/// The session's pure pieces, one row per case: adding a case takes one line.
@Suite struct PureTableTests {
    // MARK: The shell-state reader: what a line's bash printed (`declare -p`) → what carries

    static let deny = try! ["LD_*", "BASH_ENV", "PATH", "IFS"].map { try Glob($0) }

    static func absorbed(_ dump: String) -> (carried: String, tooLarge: [String], cwd: String) {
        var state = ShellState(cwd: "/home/u", base: ["HOME": "/home/u", "LANG": "C.UTF-8"], envDeny: deny)
        let tooLarge = state.absorb(Array(dump.utf8))
        let carried = state.variables.keys.sorted().map { "\($0)\(state.variables[$0]!.exported ? "*" : "")=\(state.variables[$0]!.value)" }
        return (carried.joined(separator: " "), tooLarge, state.cwd)
    }

    /// dump → carried variables (`*`: exported), and the working directory after.
    static let dumps: [(dump: String, carried: String, cwd: String)] = [
        ("declare -- A=\"1\"\ndeclare -x B=\"two words\"\n", "A=1 B*=two words", "/home/u"),
        ("declare -x PWD=\"/tmp\"\n", "", "/tmp"),
        ("declare -x PWD=\"relative\"\n", "", "/home/u"),
        ("declare -x LD_PRELOAD=\"/tmp/x.so\"\ndeclare -x BASH_ENV=\"/tmp/e\"\ndeclare -x PATH=\"/tmp\"\n", "", "/home/u"),
        ("declare -- IFS=\" \"\ndeclare -- SHLVL=\"2\"\ndeclare -- BASH_ARGV0=\"x\"\n", "", "/home/u"),
        ("declare -a ARR=([0]=\"x\")\ndeclare -A MAP=([k]=\"v\")\ndeclare -i N=\"3\"\n", "", "/home/u"),
        ("declare -- A=\"$(touch /tmp/pwned)\"\n", "", "/home/u"),
        ("declare -- A=\"`id`\"\n", "", "/home/u"),
        ("declare -- A='$(id)'\n", "A=$(id)", "/home/u"),
        ("declare -- A=\"x\"; touch /tmp/pwned\n", "A=x", "/home/u"),
        ("touch /tmp/pwned\ndeclare -- B=\"y\"\n", "B=y", "/home/u"),
        ("declare -- 1A=\"x\"\ndeclare -- A-B=\"x\"\ndeclare -- =\"x\"\n", "", "/home/u"),
        ("declare -x HOME=\"/home/u\"\n", "", "/home/u"),
        ("declare -x HOME=\"/root\"\n", "HOME*=/root", "/home/u"),
        ("declare -- A=\"line1\nline2\"\n", "A=line1\nline2", "/home/u"),
        ("declare -- A=\"unterminated\n", "", "/home/u"),
        ("if true; then declare -- A=\"x\"; fi\n", "", "/home/u"),
        ("declare -- A=\"x\" | cat\n", "", "/home/u"),
        ("", "", "/home/u"),
    ]

    @Test(arguments: dumps) func stateReader(_ row: (dump: String, carried: String, cwd: String)) {
        let (carried, _, cwd) = PureTableTests.absorbed(row.dump)
        #expect(carried == row.carried, "dump \(row.dump.debugDescription)")
        #expect(cwd == row.cwd, "dump \(row.dump.debugDescription)")
    }

    @Test func anExportTooLargeForExecIsNamedAndNotCarried() {
        let big = String(repeating: "x", count: ShellState.exportLimit)
        let (carried, tooLarge, _) = PureTableTests.absorbed("declare -x BIG=\"\(big)\"\ndeclare -- LOCAL=\"\(big)\"\ndeclare -x S=\"1\"\n")
        #expect(tooLarge == ["BIG"])
        #expect(carried.hasPrefix("LOCAL=xxx") && carried.hasSuffix(" S*=1"))
    }

    /// Whatever a line's programs write where bash's report goes, the state carried to the next
    /// line is only assignments of valid names that are not denied, and the prelude built from it
    /// runs nothing but jitsh's own commands: every value stays one literal word.
    @Test func hostileReportsCarryNothingButLiteralAssignments() throws {
        let pieces = ["declare", " -- ", " -x ", " -a ", "A", "LD_PRELOAD", "PWD", "_x9", "=", "\"", "'", "$(", "`", ")", "\\",
                      "\n", ";", "|", "&", " ", "${IFS}", "$'\\x41'", "é", "\u{0}", "\u{1b}[2J", "((", "]]", "<<EOF\n", "EOF\n", "{", "}"]
        var rng = SeededGenerator(seed: 0x5EED_F00D)
        let allowedCommands: Set<String> = ["__jitsh_state", "declare", "trap", "cd", "export", "true"]
        for _ in 0..<3000 {
            var dump = ""
            for _ in 0..<Int(rng.next() % 40) { dump += pieces[Int(rng.next() % UInt64(pieces.count))] }
            var bytes = Array(dump.utf8)
            if rng.next() % 4 == 0 { bytes.insert(UInt8(truncatingIfNeeded: rng.next() | 0x80), at: Int(rng.next() % UInt64(bytes.count + 1))) }
            var state = ShellState(cwd: "/home/u", base: ["HOME": "/home/u"], envDeny: PureTableTests.deny)
            state.absorb(bytes)
            for (name, _) in state.variables {
                #expect(!name.isEmpty && name.utf8.allSatisfy { $0 == 95 || ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) })
                #expect(!name.hasPrefix("LD_") && name != "PATH" && name != "PWD" && !name.hasPrefix("BASH"), "\(name) from \(dump.debugDescription)")
            }
            #expect(state.cwd.hasPrefix("/"))
            let prelude = try ShellSyntax.extract(state.script(for: "true"))
            // jitsh's own function and EXIT trap, and nothing else.
            #expect(prelude.risks.map(\.kind) == [.functionDefinition, .trap], "\(dump.debugDescription)")
            for c in prelude.commands {
                #expect(allowedCommands.contains(c.name ?? ""), "\(c.name ?? "?") from \(dump.debugDescription)")
                let literal = c.argv.allSatisfy { $0.isStatic }
                #expect(literal, "\(dump.debugDescription)")
            }
        }
    }

    /// Exec mode's one line reports nothing back: no function, no trap, only where it runs.
    @Test func aLineThatReportsNothingBackHasNoTrap() throws {
        var state = ShellState(cwd: "/home/u", base: ["HOME": "/home/u"], envDeny: PureTableTests.deny)
        state.absorb(Array("declare -x A=1\n".utf8))
        state.reportsBack = false
        let prelude = try ShellSyntax.extract(state.script(for: "true"))
        #expect(prelude.risks.isEmpty)
        #expect(prelude.commands.map { $0.name ?? "?" } == ["cd", "cd", "export", "true"])
    }

    // MARK: Transfer classification: sshd's original command → transfer, refusal, or not one

    static let transfers: [(argv: String, expected: String)] = [
        ("scp -t /tmp/x", "scp writes"),
        ("scp -f /etc/hosts", "scp reads"),
        ("scp -r -p -t -- dir", "scp writes"),
        ("scp -prt dir", "scp writes"),
        ("scp -t", "refused: scp needs -t or -f and a path"),
        ("scp /etc/hosts", "refused: scp needs -t or -f and a path"),
        ("scp -o ProxyCommand=x -t /tmp", "refused: scp option -o is not allowed here"),
        ("scp -S /tmp/evil -f x", "refused: scp option -S is not allowed here"),
        ("/usr/bin/scp -f x", "scp reads"),
        ("rsync --server -vlogDtprze.iLsfxCIvu . /srv", "rsync writes"),
        ("rsync --server --sender -vlogDtprze.iLsfxCIvu . /srv", "rsync reads"),
        ("rsync --server -e ssh . /srv", "refused: rsync -e is not allowed here"),
        ("rsync --server --rsh=sh . /srv", "refused: rsync option --rsh is not allowed here"),
        ("rsync --server -vY . /srv", "refused: rsync option -vY is not allowed here"),
        ("rsync -av /a /b", "not a transfer"),
        ("ls -l", "not a transfer"),
        ("", "not a transfer"),
    ]

    @Test(arguments: transfers) func transferClassification(_ row: (argv: String, expected: String)) {
        let argv = row.argv.split(separator: " ").map(String.init)
        let got: String
        do {
            if let r = try Transfer.classify(argv) { got = "\(r.kind.rawValue) \(r.writes ? "writes" : "reads")" } else { got = "not a transfer" }
        } catch {
            got = "refused: \(error)"
        }
        #expect(got == row.expected, "argv \(row.argv)")
    }

    // MARK: The watchdog's decision: the grant as the store has it now → fine, warn, end

    /// Microseconds, as the store counts.
    static let start: Int64 = 1_800_000_000 * second

    static func grant(minutes: Int64, events: [GrantEvent] = []) -> Grant {
        Grant(id: 7, identity: "alice", role: "operator", contract: "c", hostPattern: "*", reason: "r", requestedAt: start,
              startsAt: start, duration: minutes * 60 * second, approvalsNeeded: 0, maxDuration: 7200 * second, pendingTTL: 60 * second,
              breakGlass: true,
              events: events)
    }

    /// Seconds into a 10-minute grant (looked at once, fresh) → what the session is told.
    static let watchdog: [(at: Int64, revoked: Bool, expected: String)] = [
        (0, false, "fine"),
        (299, false, "fine"),
        (300, false, "warn: ends in 5m"),
        (420, false, "warn: ends in 3m"),
        (540, false, "warn: ends in 1m"),
        (599, false, "warn: ends in 1s"),
        (600, false, "end grant-expired"),
        (3600, false, "end grant-expired"),
        (10, true, "end grant-revoked"),
    ]

    @Test(arguments: watchdog) func watchdogDecision(_ row: (at: Int64, revoked: Bool, expected: String)) throws {
        let store = MemoryStore()
        let events = row.revoked ? [GrantEvent(.revoked, actor: "carol", at: PureTableTests.start + 5 * second)] : []
        let g = try store.insertGrant(PureTableTests.grant(minutes: 10, events: events), notifications: [])
        var w = Watchdog(grant: g)
        let got: String
        switch w.check(store, now: PureTableTests.start + row.at * second) {
        case .fine: got = "fine"
        case .warn(let message): got = "warn: " + (message.range(of: "ends in [0-9a-z]+", options: .regularExpression).map { String(message[$0]) } ?? message)
        case .end(let reason, _): got = "end \(reason.rawValue)"
        }
        #expect(got == row.expected, "at \(row.at)")
    }

    /// A lock on the session's person, role or host ends it at the watchdog's next look; a lock
    /// on someone else, or lifted, does not.
    @Test(arguments: [(Lock.Target.user("alice"), true), (.role("operator"), true), (.host("prod-1"), true), (.user("bob"), false),
                      (.host("prod-2"), false)])
    func aLockEndsTheSessionsItCovers(_ target: Lock.Target, _ ends: Bool) throws {
        let store = MemoryStore()
        let g = try store.insertGrant(PureTableTests.grant(minutes: 10), notifications: [])
        var w = Watchdog(grant: g, sessionID: "s1", host: "prod-1")
        #expect(w.check(store, now: PureTableTests.start + 10 * second) == .fine)
        let lock = try store.addLock(Lock(target: target, actor: "root", reason: "INC-3\u{7}", at: PureTableTests.start + 11 * second))
        let outcome = w.check(store, now: PureTableTests.start + 12 * second)
        if ends {
            #expect(outcome == .end(.locked, "jitsh: \(target) was locked by root: INC-3\\x07; the session ends"), "\(target)")
        } else {
            #expect(outcome == .fine, "\(target)")
        }
        _ = try store.removeLock(lock.id, Lock.Removal(actor: "root", reason: "ok", at: PureTableTests.start + 13 * second))
        #expect(w.check(store, now: PureTableTests.start + 14 * second) == .fine)
    }

    /// The watchdog looks at any microsecond; what it says is left counts up to the whole second.
    @Test func aWarningSaysWhatIsLeftUpToTheWholeSecond() throws {
        let store = MemoryStore()
        let g = try store.insertGrant(PureTableTests.grant(minutes: 10), notifications: [])
        var w = Watchdog(grant: g)
        #expect(w.check(store, now: PureTableTests.start + 540_700_000) == .warn("jitsh: your grant \(g.id) ends in 1m; to extend it: grant extend \(g.id) --by 30m"))
    }

    @Test func eachWarningIsGivenOnceAndTheFiveMinuteOneNotAfterTheOneMinuteOne() throws {
        let store = MemoryStore()
        let g = try store.insertGrant(PureTableTests.grant(minutes: 10), notifications: [])
        var w = Watchdog(grant: g)
        var told: [Int64] = []
        for at in stride(from: Int64(0), through: 600, by: 5) where w.check(store, now: PureTableTests.start + at * second) != .fine { told.append(at) }
        #expect(told == [300, 540, 600])
        var late = Watchdog(grant: g)
        #expect(late.check(store, now: PureTableTests.start + 590 * second) != .fine)
        #expect(late.check(store, now: PureTableTests.start + 595 * second) == .fine)
    }

    @Test func aStoreThatCannotBeReadEndsTheSession() throws {
        let store = MemoryStore()
        var w = Watchdog(grant: PureTableTests.grant(minutes: 10))
        guard case .end(let reason, let message) = w.check(store, now: PureTableTests.start) else { Issue.record("not ended"); return }
        #expect(reason == .grantRevoked)
        #expect(message.contains("gone from the store"))
    }

    // MARK: Confirm tokens: a token is good for its line, identity, host, dry run and time only

    static let key = SigningKey(privateKey: .init())
    static let fingerprints: [[UInt8]] = [Array(repeating: 1, count: 32)]

    static let tokens: [(change: String, expected: String)] = [
        ("nothing", "valid"),
        ("identity bob", "mismatch"),
        ("host prod-2", "mismatch"),
        ("line rm -rf /srv/other", "mismatch"),
        ("dry run changed", "mismatch"),
        ("after expiry", "expired"),
        ("one byte flipped", "mismatch"),
        ("another key", "mismatch"),
        ("empty", "malformed"),
        ("no expiry", "malformed"),
    ]

    @Test(arguments: tokens) func confirmToken(_ row: (change: String, expected: String)) {
        let tokens = ConfirmToken(signingKey: PureTableTests.key)
        let now = PureTableTests.start
        var token = tokens.make(identity: "alice", host: "prod-1", line: "rm -rf /srv/old", fingerprints: PureTableTests.fingerprints,
                                expires: now + ConfirmToken.lifetime)
        var identity = "alice", host = "prod-1", line = "rm -rf /srv/old", prints = PureTableTests.fingerprints, at = now + 10
        var checker = tokens
        switch row.change {
        case "identity bob": identity = "bob"
        case "host prod-2": host = "prod-2"
        case "line rm -rf /srv/other": line = "rm -rf /srv/other"
        case "dry run changed": prints = [Array(repeating: 2, count: 32)]
        case "after expiry": at = now + ConfirmToken.lifetime + 1
        case "one byte flipped":
            var bytes = Array(token.utf8)
            bytes[bytes.count / 2] = bytes[bytes.count / 2] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
            token = String(decoding: bytes, as: UTF8.self)
        case "another key": checker = ConfirmToken(signingKey: SigningKey(privateKey: .init()))
        case "empty": token = ""
        case "no expiry": token = String(token.drop { $0 != "-" })
        default: break
        }
        let got: String
        switch checker.check(token, identity: identity, host: host, line: line, fingerprints: prints, now: at) {
        case .valid(let expires): got = expires == now + ConfirmToken.lifetime ? "valid" : "valid until \(expires)"
        case .malformed: got = "malformed"
        case .expired: got = "expired"
        case .mismatch: got = "mismatch"
        }
        #expect(got == row.expected, "\(row.change)")
    }
}

private let second: Int64 = 1_000_000
