import ArgumentParser
import Foundation
import PostgresStore
import Session
import Store

/// `jitsh fleet`: what an admin does to the fleet as a whole, beside the per-host verbs.
struct FleetGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Add hosts to the fleet's central store and list the hosts it knows.",
        discussion: """
            Each fleet host connects to PostgreSQL as a role of its own, member of jitsh_hosts: it reads \
            everything and inserts only rows of its own host (row-level security), and no host can update \
            or delete history.

            Examples (on the new host, as root):
              jitsh fleet add-host prod-4 --password-file /etc/jitsh/db.password > add-prod-4.sql
              (the database owner runs: psql -v ON_ERROR_STOP=1 -d jitsh -f add-prod-4.sql)
              then in /etc/jitsh/jitsh.yaml: store: postgresql://jitsh_prod_4@db1:5432/jitsh
              jitsh init && systemctl enable --now jitsh-sync
              jitsh fleet hosts
            """,
        subcommands: [AddHost.self, Hosts.self])

    struct AddHost: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-host",
            abstract: "Print the SQL that gives a host its own database role (the password stays on the host).")

        @Argument(help: "The host's name, as host: name: in its jitsh.yaml.") var name: String
        @Option(help: "The role (default jitsh_ and the name, '-' and '.' as '_').") var role: String?
        @Option(help: "The central database.") var database = "jitsh"
        @Option(name: .customLong("password-file"),
                help: ArgumentHelp("Make (or reuse) the role's password here, root:jitsh 0640; without it the role signs in by client certificate.", valueName: "path"))
        var passwordFile: String?

        func run() throws {
            var verifier: String?
            do {
                if let passwordFile {
                    let password = try Self.password(at: passwordFile)
                    var salt = [UInt8](repeating: 0, count: 16)
                    for k in salt.indices { salt[k] = UInt8.random(in: 0...255) }
                    verifier = try Enrolment.scramVerifier(password: password, salt: salt)
                }
                let enrolment = try Enrolment(host: name, role: role, database: database, verifier: verifier)
                Console.line(enrolment.sql)
            } catch {
                Console.error("fleet add-host: \(error)")
                throw ExitCode(ExitStatus.error)
            }
        }

        /// The file's password, or a new random one written there (root:jitsh 0640, never replaced).
        static func password(at path: String) throws -> String {
            if FileManager.default.fileExists(atPath: path) { return try StorePasswordFile.read(path) }
            guard Account.isRoot, let group = Account.groupID("jitsh") else {
                throw StoreError(.permission, "a new password file must be root:jitsh 0640: run this as root on the host (group jitsh must exist)")
            }
            var bytes = [UInt8](repeating: 0, count: 24)
            for k in bytes.indices { bytes[k] = UInt8.random(in: 0...255) }
            let password = Data(bytes).base64EncodedString().replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "+", with: "-")
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw StoreError(.permission, "cannot create \(path): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            let line = Array((password + "\n").utf8)
            guard fchown(fd, 0, group) == 0, fchmod(fd, 0o640) == 0, write(fd, line, line.count) == line.count else {
                throw StoreError(.other, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            Console.error("wrote a new password to \(path)")
            return password
        }
    }

    struct Hosts: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The hosts the central store knows: role, signing keys, tags.")
        @OptionGroup var common: HostOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let boot = try Bootstrap.verb(common)
            guard boot.configuration.isFleet else {
                Console.error("fleet hosts: this host is not in a fleet (store: in jitsh.yaml is not postgresql://…)")
                throw ExitCode(ExitStatus.error)
            }
            let hosts: [FleetHost] = try Bootstrap.failing {
                try StoreOpening.openPostgres(boot.configuration, migrate: false).fleetHosts()
            }
            for h in hosts {
                if output.json {
                    Console.json(JSONOutput.string(["host": h.name, "role": h.role ?? "", "keys": h.keys.joined(separator: ","),
                                                    "tags": h.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")]))
                } else {
                    let tags = h.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                    Console.line("\(h.name.visible)  role \((h.role ?? "-").visible)  key \(h.keys.isEmpty ? "none registered" : h.keys.joined(separator: ", "))  \(tags.visible)")
                }
            }
            if !output.json { Console.line("\(hosts.count) host\(hosts.count == 1 ? "" : "s")") }
        }
    }
}
