import Foundation
import Store
import TestSupport

nonisolated(unsafe) var sshdPIDFile: String?
nonisolated(unsafe) var configPath: String?

/// The test bed: a jitsh installed as in production (root:jitsh, setgid, the store reachable
/// only through it), a private OpenSSH sshd on a free loopback port whose ForceCommand is that
/// jitsh, and an unprivileged account with a key. Started once for the whole test run.
final class Harness: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static let shared: Result<Harness, any Error> = Result { try Harness() }
    static let user = "jitsh-e2e"

    let root: URL
    let binary: String
    let config: String
    let storePath: String
    let clientKey: String
    let port: Int
    let host = "e2e-host"
    var sshdConfig: String { root.appendingPathComponent("sshd_config").path }
    /// A role a test edits while a session runs (policy changes apply at the next line).
    static let mutableRole = """
        role: e2e-mutable
        description: edited by a test mid-session
        allow:
          - cmd: [echo, cat]
        """
    var mutableRolePath: String { root.appendingPathComponent("policies/roles/e2e-mutable.yaml").path }

    private init() throws {
        guard getuid() == 0 else {
            throw Failure(description: "the end-to-end tests run as root (make test does): they start sshd and install a setgid jitsh")
        }
        guard getpwnam(Harness.user) != nil, getgrnam("jitsh") != nil else {
            throw Failure(description: "user \(Harness.user) or group jitsh is missing; scripts/prerequisites.sh creates them")
        }
        Harness.killStale()
        root = URL(fileURLWithPath: "/run/jitsh-e2e-\(getpid())")
        let fm = FileManager.default
        try? fm.removeItem(at: root)
        for dir in ["bin", "store", "keys", "policies"] { try fm.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true) }
        chmod(root.path, 0o755)
        let repository = Harness.repository
        binary = try Harness.install(into: root.appendingPathComponent("bin"))
        let jitshGroup = getgrnam("jitsh").pointee.gr_gid
        let store = root.appendingPathComponent("store")
        chown(store.path, 0, jitshGroup)
        chmod(store.path, 0o770)
        storePath = store.appendingPathComponent("jitsh.db").path

        let policies = root.appendingPathComponent("policies")
        try fm.removeItem(at: policies)
        try fm.copyItem(at: repository.appendingPathComponent("policies"), to: policies)
        try fm.removeItem(at: policies.appendingPathComponent("tests"))
        try """
            people:
              \(Harness.user): [oncall, sre, admins]
              alice: [oncall]
            """.write(to: policies.appendingPathComponent("policy.yaml"), atomically: true, encoding: .utf8)

        try """
            contract: e2e
            role: readonly
            requesters: {people: [\(Harness.user), alice]}
            hosts: [e2e-host]
            default_duration: 30m
            max_duration: 2h
            reason: {required: false}
            approval: {auto: true}
            """.write(to: policies.appendingPathComponent("contracts/e2e.yaml"), atomically: true, encoding: .utf8)
        // Automation may confirm with a token under this contract; the limited role throttles.
        try """
            contract: e2e-automation
            role: operator
            requesters: {people: [\(Harness.user)]}
            hosts: [e2e-host]
            reason: {required: false}
            approval: {auto: true}
            confirm_tokens: true
            """.write(to: policies.appendingPathComponent("contracts/e2e-automation.yaml"), atomically: true, encoding: .utf8)
        try """
            role: e2e-limited
            description: operator with a tight confirm limit and a tool dry run
            extends: [operator]
            confirm:
              - cmd: kill
                args: ["-TERM ..."]
                dry_run: ["ps", "-o", "pid=,comm=", "-p", "{arg2...}"]
                phrase: yes
            confirm_limit: {count: 2, per: 10m}
            """.write(to: policies.appendingPathComponent("roles/e2e-limited.yaml"), atomically: true, encoding: .utf8)
        // Programs with shell escapes, allowed; shells not: the exec guard must stop the escapes.
        try """
            role: e2e-escapes
            description: programs with shell escapes, without a shell
            allow:
              - cmd: [awk, mawk, perl, python3, sed, tar, vim, vi, less, find, seq, sort, cat, mount, sleep, id, true, stty, tail, echo, cd, export]
              - cmd: /tmp/jitsh-e2e-script.sh
            writes: ["/tmp/**"]
            """.write(to: policies.appendingPathComponent("roles/e2e-escapes.yaml"), atomically: true, encoding: .utf8)
        // The escapes of the guard issue: a confirmable rm beside an interpreter, and no guard at all.
        try """
            role: e2e-confirm-escape
            description: confirmed deletes beside an interpreter that could exec another rm
            extends: [e2e-escapes]
            confirm:
              - cmd: rm
                dry_run: builtin
                phrase: count
            writes: ["/tmp/**", "~/**"]
            transfers: {sftp: read-write, scp: read-write, rsync: read-write}
            """.write(to: policies.appendingPathComponent("roles/e2e-confirm-escape.yaml"), atomically: true, encoding: .utf8)
        try """
            role: e2e-unguarded
            description: no exec guard; jobs still end with their line
            guard: off
            allow:
              - cmd: [python3, sleep, echo, true, cat]
            writes: ["/tmp/**"]
            """.write(to: policies.appendingPathComponent("roles/e2e-unguarded.yaml"), atomically: true, encoding: .utf8)
        try Harness.mutableRole.write(to: policies.appendingPathComponent("roles/e2e-mutable.yaml"), atomically: true, encoding: .utf8)
        try """
            role: e2e-landlock-home
            description: a read-only file system with the whole home writable, which Landlock cannot narrow
            allow:
              - cmd: [touch, cat]
            writes: ["~/**"]
            filesystem: {read_only: true, writable: ["~"]}
            """.write(to: policies.appendingPathComponent("roles/e2e-landlock-home.yaml"), atomically: true, encoding: .utf8)
        try """
            role: e2e-landlock
            description: a read-only file system but for one directory
            allow:
              - cmd: [touch, python3, cat, mkdir]
            writes: ["/tmp/**", "/var/tmp/**"]
            filesystem: {read_only: true, writable: ["/tmp/jitsh-landlock"]}
            """.write(to: policies.appendingPathComponent("roles/e2e-landlock.yaml"), atomically: true, encoding: .utf8)
        // Watched files: a check that fails on BROKEN restores, one that asks, one that only keeps images.
        try """
            role: e2e-snapshot
            description: configuration under /tmp/jitsh-snap, kept and checked at every line
            allow:
              - cmd: [sed, cat, echo, printf, rm, chmod, ls, "true", "false", head, ln, mkdir, cp]
            writes: ["/tmp/**"]
            snapshot:
              - paths: ["/tmp/jitsh-snap/conf/**"]
                check: ["/bin/sh", "-c", "! grep -rq BROKEN /tmp/jitsh-snap/conf"]
                on_failure: restore
              - paths: ["/tmp/jitsh-snap/ask/**"]
                check: ["/bin/sh", "-c", "! grep -rq BROKEN /tmp/jitsh-snap/ask"]
                on_failure: ask
              - paths: ["/tmp/jitsh-snap/plain/**"]
            snapshot_limit: 64KiB
            """.write(to: policies.appendingPathComponent("roles/e2e-snapshot.yaml"), atomically: true, encoding: .utf8)
        // A privileged jitsh run by a user takes only configurations root listed: /etc/jitsh/*.yaml.
        try fm.createDirectory(atPath: "/etc/jitsh", withIntermediateDirectories: true)
        chown("/etc/jitsh", 0, 0)
        chmod("/etc/jitsh", 0o755)
        config = "/etc/jitsh/e2e-\(getpid()).yaml"
        configPath = config
        try """
            store: \(storePath)
            policies: \(policies.path)
            signing_key: \(store.appendingPathComponent("signing.key").path)
            host: {name: \(host), tags: {env: test}}
            shared_accounts: [\(Harness.user)]
            """.write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o644)
        try Harness.run(binary, ["init", "--config", config])

        let keys = root.appendingPathComponent("keys")
        _ = try SSHDaemon.keyPair(keys.appendingPathComponent("host").path)
        clientKey = keys.appendingPathComponent("client").path
        let publicKey = try SSHDaemon.keyPair(clientKey)
        try fm.createDirectory(at: keys.appendingPathComponent("authorized"), withIntermediateDirectories: true)
        // The second key logs in as the shared account with an identity of its own (--as).
        let sharedKey = try SSHDaemon.keyPair(keys.appendingPathComponent("shared").path)
        // Keys name the forced command (as a root-owned authorized_keys does for shared accounts).
        try ("restrict,pty,command=\"\(binary) --config \(config)\" \(publicKey)"
             + "restrict,pty,command=\"\(binary) --config \(config) --as alice\" \(sharedKey)")
            .write(to: keys.appendingPathComponent("authorized/\(Harness.user)"), atomically: true, encoding: .utf8)

        let daemon = try SSHDaemon.start(in: root, hostKey: keys.appendingPathComponent("host").path,
                                         authorizedKeys: keys.appendingPathComponent("authorized").path)
        port = daemon.port
        sshdPIDFile = daemon.pidFile
        atexit {
            // The daemon and the test bed go with the test process.
            if let file = sshdPIDFile {
                SSHDaemon.stop(file)
                try? FileManager.default.removeItem(atPath: (file as NSString).deletingLastPathComponent)
                if let config = configPath { unlink(config) }
            }
        }
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Copies the built `programs` into `bin` as `make install` lays them out: jitsh root, group
    /// jitsh, setgid, so the store is reachable only through it; its helpers (jitsh-sync) beside
    /// it, root's. The path of the first.
    static func install(into bin: URL, programs: [String] = ["jitsh"]) throws -> String {
        // JITSH_BINARY names another jitsh to test; its helpers are beside it, as installed.
        let jitsh = ProcessInfo.processInfo.environment["JITSH_BINARY"] ?? repository.appendingPathComponent(".build/debug/jitsh").path
        guard let group = getgrnam("jitsh")?.pointee.gr_gid else { throw Failure(description: "no group jitsh: run scripts/prerequisites.sh") }
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        for program in programs {
            let installed = bin.appendingPathComponent(program).path
            let built = program == "jitsh" ? jitsh : (jitsh as NSString).deletingLastPathComponent + "/" + program
            try FileManager.default.copyItem(atPath: built, toPath: installed)
            // Only jitsh is setgid; its servers run as root or as an account in the group.
            chown(installed, 0, program == "jitsh" ? group : 0)
            chmod(installed, program == "jitsh" ? 0o2755 : 0o755)
        }
        return bin.appendingPathComponent(programs[0]).path
    }

    /// sshd daemons and directories of earlier runs whose test process is gone.
    static func killStale() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/run")) ?? [] where name.hasPrefix("jitsh-e2e-") {
            guard let owner = Int32(name.dropFirst("jitsh-e2e-".count)), kill(owner, 0) != 0 else { continue }
            if let pid = (try? String(contentsOfFile: "/run/\(name)/sshd.pid", encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                kill(pid, SIGKILL)
            }
            try? FileManager.default.removeItem(atPath: "/run/\(name)")
            unlink("/etc/jitsh/e2e-\(owner).yaml")
        }
    }

    @discardableResult
    static func run(_ path: String, _ arguments: [String]) throws -> String {
        let (status, text) = try execute(path, arguments)
        guard status == 0 else { throw Failure(description: "\(path) \(arguments.joined(separator: " ")): \(text)") }
        return text
    }

    /// Runs a program to its end: its exit status, and its output and errors together.
    static func execute(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    // MARK: Grants and the record

    /// Revokes every grant the test identity holds, then (optionally) creates one.
    @discardableResult
    func grant(role: String?, seconds: Int = 1800, identity: String = Harness.user) throws -> Int64? {
        let store = try SQLiteStore(path: storePath)
        for g in try store.grants(identity: identity) where [.active, .pending, .scheduled].contains(g.state(at: Int64(Date().timeIntervalSince1970 * 1_000_000))) {
            try Harness.run(binary, ["grant", "revoke", "--config", config, String(g.id), "--reason", "test reset"])
        }
        guard let role else { return nil }
        let out = try Harness.run(binary, ["grant", "create", "--config", config, "--for", identity, "--role", role,
                                           "--host", host, "--duration", "\(seconds)s", "--reason", "e2e"])
        let digits = out.split(separator: ":").first?.split(separator: " ").last.flatMap { Int64($0) }
        return digits
    }

    func revoke(_ id: Int64) throws {
        try Harness.run(binary, ["grant", "revoke", "--config", config, String(id), "--reason", "revoked by the test"])
    }

    func store() throws -> SQLiteStore { try SQLiteStore(path: storePath) }

    func connect(key: String? = nil) throws -> SSHClient {
        try SSHClient(port: port, user: Harness.user, keyFile: key ?? clientKey)
    }

    var sharedKey: String { root.appendingPathComponent("keys/shared").path }

    /// The newest session of the store, with its frames decoded.
    func lastSession() throws -> (session: SessionRecord, frames: [Frame], end: SessionEnd?) {
        let s = try store()
        guard let id = try s.latestSessionID() else { throw Failure(description: "no session recorded") }
        let frames = try s.chunks(session: id).flatMap { $0.decodedFrames() ?? [] }
        return (try s.session(id)!, frames, try s.sessionEnd(id))
    }
}

extension Harness {
    static var instance: Harness {
        get throws { try shared.get() }
    }
}
