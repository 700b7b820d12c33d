import Foundation
import Policy
@testable import Session
import ShellSyntax
import Store
import Testing

/// The gate without sshd: who asks, their command and whether they have a terminal → what is
/// let through. One row a case.
@Suite struct GateTests {
    static let policy = try! PolicyLoader.load([
        PolicyFile(path: "policy.yaml", text: "trusted_paths: [/usr/bin, /bin]\n"),
        PolicyFile(path: "roles/ops.yaml", text: "role: ops\nallow:\n  - cmd: [ls, echo]\ntransfers: {scp: read-write, rsync: read-only}\n"),
        PolicyFile(path: "contracts/ops.yaml", text: """
            contract: ops-now
            role: ops
            requesters: {people: [alice, bob]}
            max_duration: 2h
            default_duration: 1h
            approval: {count: 1, groups: [leads]}
            """),
    ], lint: false)

    /// (who, command or nil for a login, a terminal?) → the admission, as `summary` writes it.
    static let cases: [(who: String, command: String?, terminal: Bool, expected: String)] = [
        ("alice", "ls -l /tmp", false, "exec ls -l /tmp"),
        ("alice", nil, true, "interactive"),
        ("alice", nil, false, "refused: no command and no terminal: use ssh -t gate-host, or ssh gate-host 'command'"),
        ("alice", "grant list", false, "verb grant list"),
        ("bob", "grant request --role ops --reason x", false, "verb grant request --role ops --reason x"),
        ("bob", "rollback 3f2a --line 2", false, "verb rollback 3f2a --line 2"),
        ("alice", "review login", false, "verb review login"),
        // A verb behind an expansion or a redirection is a line like any other, decided by the policy.
        ("alice", "grant list > /tmp/x", false, "exec grant list > /tmp/x"),
        ("alice", "grant $(id)", false, "exec grant $(id)"),
        ("alice", "confirm 9f3c rm -r /tmp/x", false, "exec rm -r /tmp/x (token 9f3c)"),
        ("alice", "--confirm 9f3c  ls", false, "exec ls (token 9f3c)"),
        ("alice", "confirm grant list", false, "exec list (token grant)"),
        ("alice", "confirm 9f3c", false, "exec confirm 9f3c"),
        ("bob", "ls", false, "refused [audit no live grant]: bob has no live grant for gate-host, so nothing can run."),
        ("carol", "ls", false, "refused [audit no live grant]: carol has no live grant for gate-host, so nothing can run."),
        ("alice", "scp -t /tmp/drop", false, "transfer scp"),
        ("alice", "rsync --server -vlogDtpre.iLsfxC . /tmp/in", false, "refused: rsync may only download for this role"),
        ("alice", "scp -t .bashrc", false, "refused [audit "),
        ("alice", "scp -t", false, "refused: scp needs -t or -f and a path"),
        ("alice", "scp -S evil -t /tmp", false, "refused: scp option -S is not allowed here"),
        ("alice", "ls 'unterminated", false, "exec ls 'unterminated"),
    ]

    static func summary(_ a: Admission) -> String {
        switch a {
        case .refused(let message, let audit, _): return "refused\(audit.map { " [audit \($0)]" } ?? ""): \(message)"
        case .verb(let words): return "verb " + words.joined(separator: " ")
        case .session(_, _, _, .interactive): return "interactive"
        case .session(_, _, _, .exec(let line, let token)): return "exec \(line.text)\(token.map { " (token \($0))" } ?? "")"
        case .session(_, _, _, .transfer(let t, _)): return "transfer \(t.kind.rawValue)"
        }
    }

    static func admit(_ who: String, _ command: [UInt8]?, terminal: Bool) throws -> Admission {
        let store = MemoryStore()
        _ = try store.insertGrant(Grant(identity: "alice", role: "ops", contract: "ops-now", hostPattern: "*", reason: "r", requestedAt: 1_000,
                                        startsAt: 1_000, duration: 3600, approvalsNeeded: 0, maxDuration: 7200, pendingTTL: 60,
                                        breakGlass: true), notifications: [])
        let gate = Gate(host: HostInfo(name: "gate-host"), store: store)
        return gate.admit(Arrival(command: command, hasTerminal: terminal), requester: Requester(identity: who, groups: []), home: "/home/\(who)",
                          now: 2_000, policy: policy) { _ in policy }
    }

    @Test(arguments: cases.indices) func admits(_ k: Int) throws {
        let c = GateTests.cases[k]
        let got = GateTests.summary(try GateTests.admit(c.who, c.command.map { Array($0.utf8) }, terminal: c.terminal))
        #expect(got.hasPrefix(c.expected), "\(c.command ?? "(login)") as \(c.who)")
    }

    /// A lock that holds refuses alice's session whatever she asks, by her name, role or this host;
    /// one lifted or expired, or on someone else, refuses nothing.
    static let lockCases: [(lock: Lock, expected: String)] = [
        (Lock(target: .user("alice"), actor: "root", reason: "laptop stolen", at: 1_500), "refused [audit locked: user alice (lock 1): laptop stolen]: user alice is locked by root: laptop stolen; nothing can run"),
        (Lock(target: .role("ops"), actor: "root", reason: "INC-9", at: 1_500, until: 9_000), "refused [audit locked: role ops (lock 1): INC-9]: role ops is locked by root until "),
        (Lock(target: .host("gate-host"), actor: "root", reason: "compromised\u{1b}[2J", at: 1_500), "refused [audit locked: host gate-host (lock 1): compromised\u{1b}[2J]: host gate-host is locked by root: compromised\\e[2J"),
        (Lock(target: .user("bob"), actor: "root", reason: "x", at: 1_500), "exec ls"),
        (Lock(target: .host("other-host"), actor: "root", reason: "x", at: 1_500), "exec ls"),
        (Lock(target: .user("alice"), actor: "root", reason: "x", at: 1_500, until: 1_999), "exec ls"),
        // Made "later" by a host whose clock runs ahead: it holds here at once.
        (Lock(target: .user("alice"), actor: "root", reason: "ahead", at: 2_500), "refused [audit locked: user alice (lock 1): ahead]"),
    ]

    @Test(arguments: lockCases.indices) func locksRefuseWhatTheyCover(_ k: Int) throws {
        let store = MemoryStore()
        _ = try store.insertGrant(Grant(identity: "alice", role: "ops", contract: "ops-now", hostPattern: "*", reason: "r", requestedAt: 1_000,
                                        startsAt: 1_000, duration: 3600, approvalsNeeded: 0, maxDuration: 7200, pendingTTL: 60,
                                        breakGlass: true), notifications: [])
        _ = try store.addLock(GateTests.lockCases[k].lock)
        let gate = Gate(host: HostInfo(name: "gate-host"), store: store)
        let got = GateTests.summary(gate.admit(Arrival(command: Array("ls".utf8), hasTerminal: false), requester: Requester(identity: "alice", groups: []),
                                               home: "/home/alice", now: 2_000, policy: GateTests.policy) { _ in GateTests.policy })
        #expect(got.hasPrefix(GateTests.lockCases[k].expected), "\(GateTests.lockCases[k].lock)")
        // Lifted, it refuses nothing.
        _ = try store.removeLock(1, Lock.Removal(actor: "root", reason: "found", at: 1_900))
        let lifted = GateTests.summary(gate.admit(Arrival(command: Array("ls".utf8), hasTerminal: false), requester: Requester(identity: "alice", groups: []),
                                                  home: "/home/alice", now: 2_000, policy: GateTests.policy) { _ in GateTests.policy })
        #expect(lifted == "exec ls")
    }

    /// In a fleet, a grant for other hosts is the usual surprise: the refusal names it.
    @Test func aGrantForOtherHostsIsNamedInTheRefusal() throws {
        let store = MemoryStore()
        for pattern in ["env=production", "web-*"] {
            _ = try store.insertGrant(Grant(identity: "bob", role: "ops", contract: "ops-now", hostPattern: pattern, reason: "r", requestedAt: 1_000,
                                            startsAt: 1_000, duration: 3600, approvalsNeeded: 0, maxDuration: 7200, pendingTTL: 60,
                                            breakGlass: true), notifications: [])
        }
        let staging = Gate(host: HostInfo(name: "gate-host", tags: ["env": "staging"]), store: store)
        let got = GateTests.summary(staging.admit(Arrival(command: Array("ls".utf8), hasTerminal: false), requester: Requester(identity: "bob", groups: []),
                                                  home: "/home/bob", now: 2_000, policy: GateTests.policy) { _ in GateTests.policy })
        #expect(got.contains("Your grant 1 (ops on env=production) does not cover gate-host (env=staging).\nYour grant 2 (ops on web-*) does not cover"), "\(got)")
        #expect(got.contains("You may request:\n  ops (contract ops-now"), "\(got)")
        let production = Gate(host: HostInfo(name: "gate-host", tags: ["env": "production"]), store: store)
        let admitted = GateTests.summary(production.admit(Arrival(command: Array("ls".utf8), hasTerminal: false), requester: Requester(identity: "bob", groups: []),
                                                          home: "/home/bob", now: 2_000, policy: GateTests.policy) { _ in GateTests.policy })
        #expect(admitted == "exec ls")
    }

    @Test func theNoGrantRefusalSaysWhatMayBeRequestedAndHow() throws {
        let got = GateTests.summary(try GateTests.admit("bob", Array("ls".utf8), terminal: false))
        #expect(got.contains("ops (contract ops-now, up to 2h, needs approval by 1 of group leads)"), "\(got)")
        #expect(got.contains("ssh gate-host grant request --role ops --duration 1h"), "\(got)")
        let none = GateTests.summary(try GateTests.admit("carol", Array("ls".utf8), terminal: false))
        #expect(none.contains("You may not request any role on this host"), "\(none)")
    }

    @Test func invalidUTF8IsRefusedAsAShellWouldAndAudited() throws {
        let a = try GateTests.admit("alice", Array("echo ".utf8) + [0xC3, 0x28], terminal: false)
        guard case .refused(let message, let audit, let status) = a else { Issue.record("admitted: \(GateTests.summary(a))"); return }
        #expect(message.contains("not valid UTF-8") && audit != nil && status == 126)
    }

    /// The client's line is parsed once: the session decides from the gate's parse.
    @Test func theExecLineCarriesItsParse() throws {
        guard case .session(_, _, _, .exec(let line, _)) = try GateTests.admit("alice", Array("echo a | wc -c".utf8), terminal: false) else {
            Issue.record("not an exec line"); return
        }
        let commands = try line.extract().commands.compactMap(\.name)
        #expect(commands == ["echo", "wc"])
    }
}
