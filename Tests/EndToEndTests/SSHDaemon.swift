import Foundation
import TestSupport

/// A private OpenSSH sshd on a free loopback port, as the beds start it: its host key, and one
/// authorized_keys file a user in `authorizedKeys` whose lines name the forced command. sshd
/// forks away from what started it, so it is found again by its pid file.
struct SSHDaemon {
    let port: Int
    let pidFile: String
    let config: String

    /// Writes `directory`/sshd_config and starts the daemon; returns once it accepts.
    static func start(in directory: URL, hostKey: String, authorizedKeys: String) throws -> SSHDaemon {
        let port = try Loopback.freePort()
        let config = directory.appendingPathComponent("sshd_config").path
        let pidFile = directory.appendingPathComponent("sshd.pid").path
        try """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(hostKey)
            PidFile \(pidFile)
            AuthorizedKeysFile \(authorizedKeys)/%u
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            UsePAM no
            StrictModes no
            PermitUserEnvironment no
            PermitUserRC no
            DisableForwarding yes
            PermitTunnel no
            AcceptEnv LANG
            MaxStartups 200
            Subsystem sftp internal-sftp
            """.write(toFile: config, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        try Harness.run("/usr/sbin/sshd", ["-f", config, "-E", directory.appendingPathComponent("sshd.log").path])
        for _ in 0..<100 {
            if Loopback.accepts(port) { return SSHDaemon(port: port, pidFile: pidFile, config: config) }
            usleep(50_000)
        }
        throw Harness.Failure(description: "sshd did not start; see \(directory.path)/sshd.log")
    }

    /// The daemon's pid, while its pid file is there.
    static func pid(_ pidFile: String) -> pid_t? {
        (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Kills the listener; sessions it started end with their clients.
    static func stop(_ pidFile: String) {
        if let pid = pid(pidFile) { kill(pid, SIGKILL) }
    }

    /// A new ed25519 key pair at `path` (and `path`.pub); the public half.
    static func keyPair(_ path: String) throws -> String {
        try Harness.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path])
        return try String(contentsOfFile: path + ".pub", encoding: .utf8)
    }
}
