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
        var original = env("SSH_ORIGINAL_COMMAND")
        let client = env("SSH_CONNECTION").flatMap { $0.split(separator: " ").first.map(String.init) } ?? "local"
        func refuse(_ message: String) -> Int32 {
            FileHandle.standardError.write(Data("jitsh: \(Visible.lines(message))\n".utf8))
            return 1
        }
        let installation: Installation
        var policy: Policy
        // Until the grant is known, only who is asking: with root's cache for these files that is
        // policy.yaml alone, and the grant's role and contract are parsed once it is found.
        let policyFiles: [PolicyFile]
        var wholePolicy: Bool
        let badPolicy = "this host's policy does not load, so nothing can run (an admin sees why with: jitsh policy lint)"
        do {
            installation = try Installation.load(override: configuration)
        } catch {
            return refuse("\(error)")
        }
        do {
            policyFiles = try installation.sessionPolicyFiles()
            (policy, wholePolicy) = try installation.loadSessionPolicy(role: nil, contract: nil, files: policyFiles)
        } catch {
            return refuse(badPolicy)
        }
        let requester: Requester
        do { requester = try installation.requester(as: claimedIdentity, policy: policy) } catch { return refuse("\(error)") }
        let config = installation.configuration
        let store: SQLiteStore
        do { store = try SQLiteStore(path: config.sqliteStore(for: "a session")) } catch { return refuse("\(error); nothing can run unrecorded") }
        let now = Clock.now
        let trail = AuditTrail(store: store, identity: requester.identity, host: config.host.name, syslog: config.auditSyslog)
        let service = GrantService(store: store, policy: policy, host: config.host, zones: SystemZones())
        // Invalid UTF-8 would reach bash changed (replacement characters): refuse rather than run
        // something other than what was sent.
        if let raw = getenv("SSH_ORIGINAL_COMMAND"), String(validatingCString: raw) == nil {
            try? trail.record(.sessionRefused, line: original ?? "", decision: .deny, reason: "the command is not valid UTF-8")
            FileHandle.standardError.write(Data("jitsh: the command is not valid UTF-8; jitsh runs only lines it can show and record exactly\n".utf8))
            return ExitStatus.deniedExec
        }

        var words: [String]?
        // `confirm TOKEN LINE`: a line confirmed with the token its dry run printed (automation).
        var confirmToken: String?
        if let text = original, let (token, line) = confirmation(text) {
            confirmToken = token
            original = line
        }
        if let original, confirmToken == nil {
            words = staticWords(original)
            if let words, words.first == "grant" || words.first == "rollback" || words.first == "review" {
                return runVerb(words, identity: claimedIdentity, configuration: configuration)
            }
        }

        let live: [Grant]
        do { live = try service.live(for: requester.identity, now: now) } catch { return refuse("\(error)") }
        if !wholePolicy {
            do {
                if let first = live.first {
                    (policy, wholePolicy) = try installation.loadSessionPolicy(role: first.role, contract: first.contract, files: policyFiles)
                } else {
                    // The refusal lists the contracts one may request: those need the whole directory.
                    policy = try PolicyLoader.load(policyFiles, lint: false)
                }
            } catch {
                return refuse(badPolicy)
            }
        }
        guard let grant = live.first else {
            try? trail.record(.sessionRefused, line: original ?? "", decision: .deny, reason: "no live grant")
            let contracts = GrantService(store: store, policy: policy, host: config.host, zones: SystemZones())
            FileHandle.standardError.write(Data(noGrantMessage(requester, service: contracts, host: config.host).utf8))
            return 1
        }
        guard let role = policy.role(grant.role) else {
            return refuse("role \(grant.role) of grant \(grant.id) is no longer in the policy; ask an admin")
        }
        // A fleet host: room in the spool, a current grant view (or the role's offline: allowance), strict recording's link.
        if let why = FleetAdmission.refusal(config, spool: store, role: role, grant: grant, now: now) { try? trail.record(.sessionRefused, line: original ?? "", decision: .deny, reason: why); return refuse(why) }
        let key: SigningKey
        do { key = try SigningKey.load(config.signingKeyPath) } catch { return refuse("\(error); nothing can run unsigned") }
        let login = Account.loginName() ?? requester.identity
        let setup = SessionSetup(identity: requester.identity, login: login, policy: policy, role: role, grant: grant, host: config.host,
                                 store: FleetSessionStore.wrap(store, config: config, role: role), signingKey: key, client: client, home: Account.home(of: login) ?? "/",
                                 term: env("TERM") ?? "dumb", shell: config.shell,
                                 protectedPaths: [(config.storePath as NSString).deletingLastPathComponent, "/etc/jitsh",
                                                  config.signingKeyPath, executablePath()])
        var configured = setup
        configured.auditSyslog = config.auditSyslog
        configured.policyDirectory = config.policiesPath
        let session: Session
        do { session = try Session(configured) } catch { return refuse("\(error)") }
        session.runVerb = { argv in runVerb(argv, identity: claimedIdentity, configuration: configuration) }
        if let original {
            if let words, let transfer = try? Transfer.classify(words) {
                switch Transfer.admit(transfer, rules: role.role.transfers) {
                case .success(let argv):
                    if let why = Transfer.loginFileDestination(transfer, home: setup.home, cwd: setup.home) {
                        try? trail.record(.sessionRefused, line: original, decision: .deny, reason: why)
                        return refuse(why)
                    }
                    return session.runTransfer(transfer, argv: argv)
                case .failure(let e): return refuse("\(e)")
                }
            } else if let words, (words.first.map { ["scp", "rsync", "internal-sftp"].contains(PathName.base($0)) } ?? false) {
                do { _ = try Transfer.classify(words) } catch { return refuse("\(error)") }
            }
            return session.runExec(original, confirmToken: confirmToken)
        }
        guard isatty(0) == 1 else {
            return refuse("no command and no terminal: use ssh -t \(config.host.shortName), or ssh \(config.host.shortName) 'command'")
        }
        return session.runInteractive()
    }

    /// `confirm TOKEN LINE` or `--confirm TOKEN LINE`: the token and the line, verbatim.
    static func confirmation(_ text: String) -> (token: String, line: String)? {
        for prefix in ["confirm ", "--confirm "] where text.hasPrefix(prefix) {
            let rest = text.dropFirst(prefix.count).drop { $0 == " " }
            guard let space = rest.firstIndex(of: " ") else { return nil }
            let line = rest[space...].drop { $0 == " " }
            return line.isEmpty ? nil : (String(rest[..<space]), String(line))
        }
        return nil
    }

    /// The argv of a line made of static words only (reserved verbs never go through a shell).
    static func staticWords(_ line: String) -> [String]? {
        guard let e = try? ShellSyntax.extract(line), e.commands.count >= 1, e.redirects.isEmpty, e.risks.isEmpty,
              let c = e.commands.first, c.context.isEmpty, c.argv.allSatisfy(\.isStatic) else { return nil }
        return c.argv.map(\.text)
    }

    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/usr/local/bin/jitsh"
    }

    static func noGrantMessage(_ r: Requester, service: GrantService, host: HostInfo) -> String {
        var text = "jitsh: \(r.identity) has no live grant for \(host.name), so nothing can run.\n"
        let contracts = service.requestable(by: r)
        guard let first = contracts.first else {
            return text + "You may not request any role on this host; ask an admin which access contract covers you.\n"
        }
        text += "You may request:\n"
        for c in contracts {
            let approval: String
            switch c.approval {
            case .automatic: approval = "approved at once"
            case .approvers(let count, let groups, let people):
                approval = "needs \(count) approval\(count == 1 ? "" : "s") by \((groups.map { "group \($0)" } + people).joined(separator: ", "))"
            }
            text += "  \(c.role) (contract \(c.name), up to \(Duration.describe(c.maxDuration)), \(approval))\n"
        }
        text += "Request one with:\n  ssh \(host.shortName) grant request --role \(first.role) --duration \(Duration.describe(first.defaultDuration))"
            + " --reason \"INC-1234 what you will do\"\n"
        return text
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
            let message = Data(Visible.lines(Verb.fullMessage(for: error)).utf8 + [10])
            // Help comes as a clean exit: it is the output asked for.
            if code.rawValue == 0 { FileHandle.standardOutput.write(message) } else { FileHandle.standardError.write(message) }
            return code.rawValue
        }
    }
}
