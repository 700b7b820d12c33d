import Foundation
import Testing
@testable import Session

/// `jitsh doctor`'s rules over values: sshd -T text, authorized_keys lines, modes and owners.
struct SSHDRulesTests {
    /// What `sshd -T` prints on a stock Debian 12 (the keywords the rules read).
    static let stock = """
        forcecommand none
        passwordauthentication yes
        kbdinteractiveauthentication no
        authorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2
        authorizedkeyscommand none
        disableforwarding no
        allowtcpforwarding yes
        x11forwarding yes
        allowagentforwarding yes
        allowstreamlocalforwarding yes
        permituserrc yes
        permituserenvironment no
        permittunnel no
        acceptenv LANG
        acceptenv LC_*
        """

    static let hardened = """
        forcecommand /usr/local/bin/jitsh
        passwordauthentication yes
        authorizedkeysfile .ssh/authorized_keys
        disableforwarding yes
        allowtcpforwarding yes
        x11forwarding yes
        allowagentforwarding yes
        allowstreamlocalforwarding yes
        permituserrc no
        permituserenvironment no
        permittunnel no
        acceptenv LANG
        acceptenv LC_*
        """

    func failures(_ text: String, keys: [AuthorizedKeysFile] = [], shared: Bool = false) -> [String] {
        SSHDRules.evaluate(SSHDEffectiveConfig(parsing: text), user: "alice", keyFiles: keys, sharedAccount: shared)
            .filter { $0.status == .fail }.map(\.message)
    }

    func keysFile(_ text: String, administered: Bool = true) -> AuthorizedKeysFile {
        AuthorizedKeysFile(file: FileFacts(path: "/etc/ssh/authorized_keys/alice", exists: true, mode: 0o644, administered: administered),
                           keys: AuthorizedKey.parse(text))
    }

    @Test func aWebhookNeedsCurl() {
        #expect(DoctorRules.webhook(nil, curl: nil).status == .skip)
        #expect(DoctorRules.webhook("https://hooks.example/x", curl: nil).status == .fail)
        let ok = DoctorRules.webhook("https://hooks.example/services/T0/SECRET", curl: "/usr/bin/curl")
        #expect(ok.status == .ok)
        #expect(ok.message == "notifications go to hooks.example through /usr/bin/curl")
    }

    @Test func aMatchBlockWithForceCommandAndNoForwardingPasses() {
        #expect(failures(Self.hardened).isEmpty)
    }

    @Test func stockSSHDLetsEveryoneAround() {
        let f = failures(Self.stock)
        #expect(f.contains { $0.contains("no authorized key runs jitsh") })
        #expect(f.contains { $0.contains("forwarding is on") })
        #expect(f.contains { $0.contains("PermitUserRC") })
        #expect(f.contains { $0.contains("password") })
    }

    @Test func aForceCommandThatIsNotJitshFails() {
        let text = Self.hardened.replacingOccurrences(of: "forcecommand /usr/local/bin/jitsh", with: "forcecommand internal-sftp")
        #expect(failures(text) == ["ForceCommand runs internal-sftp, not jitsh"])
    }

    @Test func rootOwnedRestrictedKeysWithCommandPass() {
        let noPasswords = Self.stock.replacingOccurrences(of: "passwordauthentication yes", with: "passwordauthentication no")
        let keys = keysFile("""
            # alice's laptop, through the shared account
            restrict,pty,command="/usr/local/bin/jitsh --as alice" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA alice@laptop
            """)
        #expect(failures(noPasswords, keys: [keys]).isEmpty)
    }

    @Test func keysTheUserCanEditFail() {
        let noPasswords = Self.stock.replacingOccurrences(of: "passwordauthentication yes", with: "passwordauthentication no")
        let keys = keysFile(#"restrict,command="/usr/local/bin/jitsh" ssh-ed25519 AAAA x"#, administered: false)
        #expect(failures(noPasswords, keys: [keys]).contains { $0.contains("can be changed by someone other than root") })
    }

    @Test func aKeyWithoutTheForcedCommandIsNamedByLine() {
        let keys = keysFile("""
            restrict,command="/usr/local/bin/jitsh --as alice" ssh-ed25519 AAAA a

            ssh-ed25519 AAAA b
            """)
        #expect(failures(Self.hardened.replacingOccurrences(of: "forcecommand /usr/local/bin/jitsh", with: "forcecommand none"), keys: [keys])
            .contains("/etc/ssh/authorized_keys/alice:3 logs alice in without jitsh (no command=\"…/jitsh …\")"))
    }

    @Test func rootsPasswordsCountOnlyUnderPermitRootLoginYes() {
        let keys = keysFile(#"restrict,command="/usr/local/bin/jitsh" ssh-ed25519 AAAA x"#)
        let text = Self.stock + "\npermitrootlogin without-password"
        func passwordFailures(_ t: String) -> Int {
            SSHDRules.evaluate(SSHDEffectiveConfig(parsing: t), user: "root", keyFiles: [keys], sharedAccount: false)
                .filter { $0.status == .fail && $0.message.contains("password") }.count
        }
        #expect(passwordFailures(text) == 0)
        #expect(passwordFailures(Self.stock + "\npermitrootlogin yes") == 1)
    }

    @Test func aSharedAccountUnderForceCommandIsWarnedAbout() {
        let checks = SSHDRules.evaluate(SSHDEffectiveConfig(parsing: Self.hardened), user: "deploy", keyFiles: [], sharedAccount: true)
        #expect(checks.contains { $0.status == .warn && $0.message.contains("shared account") })
    }

    @Test(arguments: [
        ("LANG", false), ("LC_*", false), ("TZ", false), ("*", true), ("LD_*", true), ("L*", true), ("BASH_*", true),
        ("GLIBC_TUNABLES", true), ("PYTHON*", true), ("JITSH_*", true), ("?NV", true), ("LC_ALL LD_PRELOAD", true),
    ])
    func acceptEnv(pattern: String, dangerous: Bool) {
        #expect(SSHDRules.dangerousAcceptEnv([pattern]).isEmpty == !dangerous)
    }

    @Test func authorizedKeyOptionsAreParsedWithQuotes() {
        let keys = AuthorizedKey.parse(#"""
            from="10.0.0.0/8",command="/usr/local/bin/jitsh --as \"bob\", x",no-port-forwarding,no-agent-forwarding,no-X11-forwarding ssh-ed25519 AAAA c
            ssh-rsa AAAA plain
            """#)
        #expect(keys.count == 2)
        #expect(keys[0].command == #"/usr/local/bin/jitsh --as "bob", x"#)
        #expect(keys[0].options["from"] == "10.0.0.0/8")
        #expect(keys[0].restricted)
        #expect(keys[1].options.isEmpty && keys[1].line == 2)
    }

    @Test func authorizedKeysFileTokensExpand() {
        #expect(SSHDRules.authorizedKeysPaths(".ssh/authorized_keys /etc/ssh/authorized_keys/%u /k/%U/%%h none", user: "bob",
                                              home: "/home/bob", uid: 1002)
            == ["/home/bob/.ssh/authorized_keys", "/etc/ssh/authorized_keys/bob", "/k/1002/%h"])
    }
}

struct DoctorRulesTests {
    let jitsh: UInt32 = 995

    @Test func theBinaryMustBeSetgidJitshAndOwnedByRoot() {
        let good = FileFacts(path: "/usr/local/bin/jitsh", exists: true, uid: 0, gid: jitsh, mode: 0o2755, administered: true)
        #expect(DoctorRules.binary(good, jitshGroup: jitsh).status == .ok)
        var plain = good
        plain.mode = 0o755
        #expect(DoctorRules.binary(plain, jitshGroup: jitsh).message == "/usr/local/bin/jitsh is root:jitsh 0755, not root:jitsh 2755")
        #expect(DoctorRules.binary(good, jitshGroup: nil).status == .fail)
    }

    @Test func theStoreDirectoryIsClosedToOthers() {
        let dir = FileFacts(path: "/var/lib/jitsh", exists: true, isDirectory: true, uid: 0, gid: jitsh, mode: 0o775)
        #expect(DoctorRules.storeDirectory(dir, jitshGroup: jitsh).status == .fail)
        var closed = dir
        closed.mode = 0o770
        #expect(DoctorRules.storeDirectory(closed, jitshGroup: jitsh).status == .ok)
    }

    @Test func aWorldReadableSigningKeyFails() {
        let key = FileFacts(path: "/var/lib/jitsh/signing.key", exists: true, uid: 0, gid: jitsh, mode: 0o644)
        #expect(DoctorRules.signingKey(key, jitshGroup: jitsh, loads: true).message.contains("others may read the key"))
        var tight = key
        tight.mode = 0o640
        #expect(DoctorRules.signingKey(tight, jitshGroup: jitsh, loads: true).status == .ok)
        #expect(DoctorRules.signingKey(tight, jitshGroup: jitsh, loads: false).status == .fail)
    }

    @Test func ptraceScopeTwoStopsTheGuardEvenWhenRootCanTrace() {
        #expect(DoctorRules.ptrace(scope: 2, probeErrno: 0).status == .fail)
        #expect(DoctorRules.ptrace(scope: 1, probeErrno: 0).status == .ok)
        #expect(DoctorRules.ptrace(scope: nil, probeErrno: 1).status == .fail)
    }

    @Test func landlockIsRequiredOnlyWhenARoleAsksForIt() {
        #expect(DoctorRules.landlock(abi: -38, rolesNeedingIt: []).status == .warn)
        #expect(DoctorRules.landlock(abi: -95, rolesNeedingIt: ["readonly"]).status == .fail)
        #expect(DoctorRules.landlock(abi: 4, rolesNeedingIt: ["readonly"]).status == .ok)
    }

    @Test func aClockBehindTheStoreFails() {
        // The clock and the store count microseconds, the build's date seconds.
        let s: Int64 = 1_000_000
        #expect(DoctorRules.clock(now: 1_000_000 * s, buildTime: 900_000, newestEvent: 1_000_100 * s).status == .fail)
        #expect(DoctorRules.clock(now: 1_000_000 * s, buildTime: 2_000_000, newestEvent: nil).status == .fail)
        #expect(DoctorRules.clock(now: 1_000_000 * s, buildTime: 900_000, newestEvent: 999_999 * s).status == .ok)
        #expect(DoctorRules.clock(now: 1_000_000 * s, buildTime: 900_000, newestEvent: 1_000_004 * s).status == .ok)
    }

    @Test func integrityOtherThanOkFails() {
        #expect(DoctorRules.integrity(["ok"], error: nil, path: "/s").status == .ok)
        #expect(DoctorRules.integrity(["*** in database main ***", "page 3 is never used"], error: nil, path: "/s").status == .fail)
    }
}

/// `jitsh doctor` itself, on a configuration whose store was never created: exit status 1 and
/// the failing lines, each with its fix.
struct DoctorCommandTests {
    @Test func aBrokenSetupExitsOneWithTheFailingLine() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = ProcessInfo.processInfo.environment["JITSH_BINARY"] ?? repository.appendingPathComponent(".build/debug/jitsh").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-doctor-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("jitsh.yaml").path
        try """
            store: \(dir.path)/missing/jitsh.db
            policies: \(repository.path)/policies
            signing_key: \(dir.path)/missing/signing.key
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["doctor", "--config", config, "--user", "nobody-such-user-\(getpid())"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 1)
        #expect(text.contains("FAIL  store directory: \(dir.path)/missing does not exist — fix: jitsh init"))
        #expect(text.contains("FAIL  signing key:"))
        #expect(text.contains("ok    policy: "))
        #expect(text.hasSuffix("check failed\n") || text.contains("checks failed"))
    }
}

/// The login path: which login shells let a user's own files run before jitsh.
struct LoginShellRuleTests {
    static let uid: UInt32 = 1000
    static let home = FileFacts(path: "/home/u", exists: true, isDirectory: true, uid: uid, mode: 0o755)
    static let rootHome = FileFacts(path: "/home/u", exists: true, isDirectory: true, uid: 0, mode: 0o755)

    static func file(_ name: String, uid: UInt32 = 0, mode: UInt32 = 0o644, exists: Bool = true) -> FileFacts {
        FileFacts(path: "/home/u/" + name, exists: exists, uid: uid, mode: mode)
    }

    static let cases: [(shell: String, home: FileFacts, files: [FileFacts], status: DoctorCheck.Status)] = [
        ("/usr/bin/bash", home, [file(".bashrc", uid: uid)], .fail),
        ("/usr/bin/bash", home, [file(".bashrc", exists: false)], .fail),
        ("/usr/bin/bash", rootHome, [file(".bashrc"), file(".profile", exists: false)], .ok),
        ("/usr/bin/bash", rootHome, [file(".bashrc", mode: 0o666)], .fail),
        ("/usr/bin/zsh", home, [file(".zshenv", exists: false)], .fail),
        ("/usr/local/bin/jitsh", home, [], .ok),
        ("/usr/sbin/nologin", home, [], .ok),
        ("/usr/bin/dash", home, [], .ok),
        ("/opt/odd/shell", home, [], .warn),
    ]

    @Test(arguments: cases)
    func aLoginShellIsJudgedByWhatItReads(_ c: (shell: String, home: FileFacts, files: [FileFacts], status: DoctorCheck.Status)) {
        let files = (LoginShell.startupFiles(of: c.shell) ?? []).map { name in
            c.files.first { $0.path.hasSuffix("/" + name) } ?? LoginShellRuleTests.file(name, exists: false)
        }
        let check = DoctorRules.loginShell(user: "u", uid: LoginShellRuleTests.uid, shell: c.shell, home: c.home, files: files,
                                           jitsh: "/usr/local/bin/jitsh")
        #expect(check.status == c.status, "\(c.shell): \(check.message)")
        if check.status == .fail { #expect(check.fix?.contains("chsh -s /usr/local/bin/jitsh u") == true) }
    }
}
