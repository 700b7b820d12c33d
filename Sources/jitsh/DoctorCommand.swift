import ArgumentParser
import Foundation
import Policy
import Session
import Store

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check this host's jitsh: binary, store, policy, key, fleet link, sshd, kernel, clock.",
        discussion: """
            One line per check, with what to do about each failure. Exit status 1 when any check fails. \
            sshd is checked as `sshd -T -C user=NAME,…` evaluates it for each --user (and each member of \
            each --group), by default the shared accounts of jitsh.yaml: is jitsh forced on them, is \
            forwarding off, can they set jitsh's environment. Run it as root: sshd -T reads host keys.

            Example:
              sudo jitsh doctor --group prod-access
            """
    )

    @Option(help: ArgumentHelp("The host configuration (root only).", valueName: "path"))
    var config: String?

    @Option(name: .customLong("user"), help: ArgumentHelp("A login to check sshd's settings for (repeatable).", valueName: "name"))
    var users: [String] = []

    @Option(name: .customLong("group"), help: ArgumentHelp("Check every member of this group (repeatable).", valueName: "name"))
    var groups: [String] = []

    @Option(name: .customLong("from"), help: ArgumentHelp("The client address Match blocks are evaluated for.", valueName: "address"))
    var address = "192.0.2.10"

    @Option(name: .customLong("sshd-config"), help: ArgumentHelp("sshd's configuration file.", valueName: "path"))
    var sshdConfig = "/etc/ssh/sshd_config"

    @Option(help: ArgumentHelp("The sshd binary.", valueName: "path"))
    var sshd = "/usr/sbin/sshd"

    @OptionGroup var output: OutputOptions

    func run() throws {
        var checks: [DoctorCheck] = []
        let group: UInt32? = Account.groupID("jitsh").map { UInt32($0) }
        let me = ForcedCommand.executablePath()
        checks.append(DoctorRules.binary(DoctorProbe.file(me), jitshGroup: group))

        var installation: Installation?
        do {
            let loaded = try Installation.load(override: config)
            installation = loaded
            let file = DoctorProbe.file(loaded.configurationPath)
            checks.append(file.exists || config != nil
                ? DoctorRules.administered(file, what: "configuration")
                : .warn("configuration", "\(loaded.configurationPath) does not exist: built-in defaults apply", fix: "make install writes one"))
        } catch {
            checks.append(.fail("configuration", "\(error)".split(separator: "\n").joined(separator: " "),
                                fix: "fix jitsh.yaml (make install writes a commented default)"))
        }
        var policy: Policy?
        var newestEvent: Int64?
        if let installation {
            let c = installation.configuration
            policy = checkPolicy(c.policiesPath, into: &checks)
            newestEvent = checkStore(c, group: group, into: &checks)
            let key = DoctorProbe.file(c.signingKeyPath)
            checks.append(DoctorRules.signingKey(key, jitshGroup: group, loads: key.exists && (try? SigningKey.load(c.signingKeyPath)) != nil))
            checks.append(DoctorRules.webhook(c.webhook, curl: Outbox.curlPath))
            if c.isFleet { checks += FleetDoctorRules.checks(FleetProbe.probe(c)) }
        }
        checks += checkSSHD(installation: installation, jitsh: me, group: group)
        let probeErrno = DoctorProbe.ptraceProbe()
        checks.append(DoctorRules.ptrace(scope: DoctorProbe.ptraceScope(), probeErrno: probeErrno))
        let needing = policy.map { p in p.roles.values.filter { $0.role.filesystem != nil }.map(\.name).sorted() } ?? []
        checks.append(DoctorRules.landlock(abi: DoctorProbe.landlockABI(), rolesNeedingIt: needing))
        checks.append(DoctorRules.clock(now: Clock.now, buildTime: DoctorProbe.buildTime, newestEvent: newestEvent))

        let failed = checks.filter { $0.status == .fail }.count
        if output.json {
            Console.json(JSONOutput.string(DoctorJSON(ok: failed == 0, checks: checks)))
        } else {
            for c in checks { Console.line(Doctor.line(c)) }
            Console.line(failed == 0 ? "jitsh doctor: all checks passed" : "jitsh doctor: \(failed) check\(failed == 1 ? "" : "s") failed")
        }
        if failed > 0 { throw ExitCode(1) }
    }

    static func line(_ c: DoctorCheck) -> String {
        let mark = ["ok": "ok  ", "warn": "warn", "fail": "FAIL", "skip": "skip"][c.status.rawValue] ?? "?"
        return "\(mark)  \(c.name): \(c.message)" + (c.fix.map { " — fix: \($0)" } ?? "")
    }

    func checkPolicy(_ path: String, into checks: inout [DoctorCheck]) -> Policy? {
        let directory = DoctorProbe.file(path)
        checks.append(DoctorRules.administered(directory, what: "policy directory"))
        guard directory.exists else { return nil }
        do {
            let policy = try PolicyDirectoryReader.load(path)
            let rules = policy.roles.values.reduce(0) { $0 + $1.role.rules.count }
            let summary = "\(policy.roles.count) roles, \(rules) rules, \(policy.contracts.count) contracts"
            checks.append(policy.warnings.isEmpty
                ? .ok("policy", summary)
                : .warn("policy", "\(summary), \(policy.warnings.count) warnings", fix: "jitsh policy lint \(path)"))
            return policy
        } catch let error as PolicyError {
            let first = error.diagnostics.first { $0.severity == .error }.map { "\($0)" } ?? "\(error)"
            checks.append(.fail("policy", "does not load, so no session starts: \(first)", fix: "jitsh policy lint \(path)"))
        } catch {
            checks.append(.fail("policy", "\(error)", fix: "make install copies the shipped policies to \(path)"))
        }
        return nil
    }

    /// Checks the store; returns the time of its newest event for the clock check.
    func checkStore(_ c: HostConfiguration, group: UInt32?, into checks: inout [DoctorCheck]) -> Int64? {
        checks.append(DoctorRules.storeDirectory(DoctorProbe.file((c.storePath as NSString).deletingLastPathComponent), jitshGroup: group))
        let files = ["", "-wal", "-shm"].map { DoctorProbe.file(c.storePath + $0) }
        checks.append(DoctorRules.storeFiles(files, jitshGroup: group))
        guard files[0].exists else { return nil }
        do {
            let store = try SQLiteStore(path: c.sqliteStore(for: "jitsh doctor"))
            checks.append(DoctorRules.integrity(try store.integrity(), error: nil, path: c.storePath))
            return try store.newestEventTime()
        } catch {
            checks.append(DoctorRules.integrity(nil, error: "\(error)", path: c.storePath))
            return nil
        }
    }

    func checkSSHD(installation: Installation?, jitsh: String, group: UInt32?) -> [DoctorCheck] {
        guard Account.isRoot else { return [.skip("sshd", "run jitsh doctor as root to check sshd (sshd -T reads the host keys)")] }
        let shared = installation?.configuration.sharedAccounts ?? []
        var checks: [DoctorCheck] = []
        var names = users
        for g in groups {
            guard let members = DoctorProbe.members(ofGroup: g) else {
                checks.append(.fail("sshd", "there is no group \(g)", fix: "groupadd \(g), or name the group jitsh is for"))
                continue
            }
            if members.isEmpty { checks.append(.warn("sshd", "group \(g) has no members to check", fix: "usermod -aG \(g) NAME")) }
            names += members
        }
        if users.isEmpty && groups.isEmpty { names = shared }
        do {
            _ = try DoctorProbe.sshdEffective(sshd: sshd, config: sshdConfig, user: nil, address: address)
        } catch {
            return checks + [.fail("sshd", "\(error)", fix: "sshd -t -f \(sshdConfig) shows what is wrong")]
        }
        if names.isEmpty && checks.isEmpty {
            return [.skip("sshd", "no --user or --group given and no shared_accounts: say whom jitsh is for, e.g. --group prod-access")]
        }
        var seen = Set<String>()
        for name in names where seen.insert(name).inserted {
            guard let user = DoctorProbe.user(name) else {
                checks.append(.fail("sshd \(name)", "there is no user \(name)", fix: "check the name"))
                continue
            }
            let login = DoctorProbe.loginShell(user)
            checks.append(DoctorRules.loginShell(user: name, uid: user.uid, shell: login.shell, home: login.home, files: login.files,
                                                 jitsh: jitsh))
            do {
                let effective = try DoctorProbe.sshdEffective(sshd: sshd, config: sshdConfig, user: name, address: address)
                let keys = DoctorProbe.authorizedKeys(effective, user: user)
                checks += SSHDRules.evaluate(effective, user: name, keyFiles: keys, sharedAccount: shared.contains(name))
                // The jitsh sshd runs must itself be installed as the one running this check is.
                let commands = [effective.first("forcecommand")] + keys.flatMap { $0.keys.map(\.command) }
                for path in Set(commands.compactMap { $0?.split(separator: " ").first.map(String.init) }) where path != jitsh && SSHDRules.runsJitsh(path) {
                    var check = DoctorRules.binary(DoctorProbe.file(path), jitshGroup: group)
                    check.name = "sshd \(name)"
                    checks.append(check)
                }
            } catch {
                checks.append(.fail("sshd \(name)", "\(error)", fix: "sshd -t -f \(sshdConfig)"))
            }
        }
        return checks
    }
}

struct DoctorJSON: Encodable {
    var ok: Bool
    var checks: [DoctorCheck]
}
