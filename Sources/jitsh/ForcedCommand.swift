import ArgumentParser
import Fleet
import Foundation
import Policy
import Session
import ShellSyntax
import Store

/// What sshd runs instead of a shell: `ForceCommand /usr/local/bin/jitsh` (or `jitsh --as NAME`).
enum ForcedCommand {
    static func run(claimedIdentity: String?, configuration: String?) -> Int32 {
        // getenv, not ProcessInfo: building the whole environment dictionary costs a start-up.
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        let client = env("SSH_CONNECTION").flatMap { $0.split(separator: " ").first.map(String.init) } ?? "local"
        func refuse(_ message: String) -> Int32 {
            FileHandle.standardError.write(Data("jitsh: \(Visible.lines(message))\n".utf8))
            return 1
        }
        // Until the grant is known, only who is asking: with root's cache for these files that is
        // policy.yaml alone, and the grant's role and contract are parsed once it is found.
        let boot: Bootstrap
        let policyFiles: [PolicyFile]
        let whole: Bool
        do {
            let installation = try Installation.load(override: configuration)
            let policy: Policy
            do {
                policyFiles = try installation.sessionPolicyFiles()
                (policy, whole) = try installation.loadSessionPolicy(role: nil, contract: nil, files: policyFiles)
            } catch {
                return refuse(Gate.badPolicy)
            }
            boot = Bootstrap(installation: installation, policy: policy,
                             requester: try installation.requester(as: claimedIdentity, policy: policy))
        } catch {
            return refuse("\(error)")
        }
        let config = boot.configuration
        let store: SQLiteStore
        do { store = try SQLiteStore(path: config.sqliteStore(for: "a session")) } catch { return refuse("\(error); nothing can run unrecorded") }
        let trail = AuditTrail(store: store, identity: boot.requester.identity, host: config.host.name, syslog: config.auditSyslog)
        let login = Account.loginName() ?? boot.requester.identity
        let home = Account.home(of: login) ?? "/"
        let raw = getenv("SSH_ORIGINAL_COMMAND").map { Array(UnsafeBufferPointer(start: UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self), count: strlen($0))) }
        let arrival = Arrival(command: raw, hasTerminal: isatty(0) == 1)
        let now = Clock.now
        let admission = Gate(host: config.host, store: store).admit(arrival, requester: boot.requester, home: home, now: now,
                                                                    policy: boot.policy) { grant in
            if whole { return boot.policy }
            guard let grant else { return try PolicyLoader.load(policyFiles, lint: false) }
            return try boot.installation.loadSessionPolicy(role: grant.role, contract: grant.contract, files: policyFiles).policy
        }
        let shown = raw.map { String(decoding: $0, as: UTF8.self) } ?? ""
        switch admission {
        case .refused(let message, let audit, let status):
            if let audit { try? trail.record(.sessionRefused, line: shown, decision: .deny, reason: audit) }
            _ = refuse(message)
            return status
        case .verb(let words):
            return runVerb(words, identity: claimedIdentity, configuration: configuration)
        case .session(let grant, let role, let policy, let start):
            // A fleet host: room in the spool, a current grant view (or the role's offline:
            // allowance), and under recording: strict a live link to the central store.
            if let why = FleetAdmission.refusal(config, spool: store, role: role, grant: grant, now: now) {
                try? trail.record(.sessionRefused, line: shown, decision: .deny, reason: why)
                return refuse(why)
            }
            let key: SigningKey
            do { key = try SigningKey.load(config.signingKeyPath) } catch { return refuse("\(error); nothing can run unsigned") }
            var setup = SessionSetup(identity: boot.requester.identity, login: login, policy: policy, role: role, grant: grant, host: config.host,
                                     store: FleetSessionStore.wrap(store, config: config, role: role), signingKey: key, client: client, home: home,
                                     term: env("TERM") ?? "dumb", shell: config.shell,
                                     protectedPaths: [(config.storePath as NSString).deletingLastPathComponent, "/etc/jitsh",
                                                      config.signingKeyPath, executablePath()])
            setup.auditSyslog = config.auditSyslog
            setup.policyDirectory = config.policiesPath
            let session: Session
            do { session = try Session(setup) } catch { return refuse("\(error)") }
            session.runVerb = { argv in Console.capturing { runVerb(argv, identity: claimedIdentity, configuration: configuration) } }
            switch start {
            case .transfer(let transfer, let argv): return session.runTransfer(transfer, argv: argv)
            case .exec(let line, let token): return session.runExec(line, confirmToken: token)
            case .interactive: return session.runInteractive()
            }
        }
    }

    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/usr/local/bin/jitsh"
    }

    /// `grant …`, `rollback …` and `review …` through the forced command: parsed by jitsh, never a shell.
    static func runVerb(_ words: [String], identity: String?, configuration: String?) -> Int32 {
        switch words.first {
        case "rollback": runVerb(Rollback.self, words, identity: identity, configuration: configuration)
        case "review": runVerb(ReviewGroup.self, words, identity: identity, configuration: configuration)
        default: runVerb(GrantGroup.self, words, identity: identity, configuration: configuration)
        }
    }

    static func runVerb<Verb: ParsableCommand>(_ verb: Verb.Type, _ words: [String], identity: String?, configuration: String?) -> Int32 {
        var args = Array(words.dropFirst())
        // The verb acts as the session's identity, under the session's configuration. `grant`,
        // `grant --help` and `grant help VERB` name no verb to give them to: they print help.
        if let first = args.first, !["-h", "--help", "help"].contains(first) {
            args += (identity.map { ["--as", $0] } ?? []) + (configuration.map { ["--config", $0] } ?? [])
        }
        do {
            var command = try Verb.parseAsRoot(args)
            try command.run()
            return 0
        } catch {
            let code = Verb.exitCode(for: error)
            // Help comes as a clean exit: it is the output asked for.
            Console.emit(Visible.lines(Verb.fullMessage(for: error)) + "\n", error: code.rawValue != 0)
            return code.rawValue
        }
    }
}
