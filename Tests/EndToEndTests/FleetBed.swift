import Foundation
import PostgresStore
import Store
import Synchronization
import TestSupport

/// Fleet mode's bed: hosts prod-1, prod-2, prod-3 on one machine, each with its own jitsh.yaml
/// (its name and tags, env: production unless a test says otherwise, its own spool and key), its own OpenSSH sshd on a free loopback
/// port whose forced command is the installed jitsh with that configuration, and one database of
/// the private PostgreSQL for all of them, each host connecting as its own role (`jitsh fleet
/// add-host`), which inserts only that host's rows. Alice is on call, lead1 approves (FleetPolicy); both
/// log in as the real account jitsh-e2e with a key that names them (`--as`).
final class FleetBed: @unchecked Sendable {
    struct Host: Sendable {
        let name: String
        let directory: String
        /// In /etc/jitsh: a setgid jitsh run by a user takes only configurations root listed there.
        let config: String
        let spoolPath: String
        let signingKey: String
        let port: Int
        let pidFile: String
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// The conformance suites' private PostgreSQL (SQLTests has a PrivatePostgres of its own,
    /// for psql as a guarded program).
    typealias Postgres = TestSupport.PrivatePostgres

    /// What came back over one SSH channel.
    struct Ran: Sendable, CustomStringConvertible {
        var status: Int
        var output: String
        var errors: String
        var description: String { "exit \(status), stdout \(output.suffix(300).debugDescription), stderr \(errors.suffix(300).debugDescription)" }
    }

    static let prefix = "/run/jitsh-fleet-"
    static let count = Atomic<Int>(0)
    /// Beds still up when the process exits (a test that crashed or ran out of time).
    static let open = Mutex<Set<String>>([])
    static let dismantledAtExit: Void = { atexit { FleetBed.open.withLock { $0.forEach(FleetBed.dismantle) } } }()

    let root: String
    let binary: String
    let pg: Postgres
    let database: String
    let hosts: [Host]
    let aliceKey: String
    let leadKey: String

    /// The role's whole file; it keeps a cached view, since these sessions start with no
    /// `jitsh sync` service running (the tests sync with --once where they need the view).
    /// `tags`: each host's tags, as YAML (prod-1's first).
    init(role: String = "role: operator\nrecording: buffered\noffline: {cached: 1h}\nallow:\n  - cmd: [seq, sleep]\n",
         tags: [String] = Array(repeating: "{env: production}", count: 3)) throws {
        guard getuid() == 0 else { throw Failure(description: "the fleet tests run as root (make test does): they start sshd and install a setgid jitsh") }
        guard getpwnam(Harness.user) != nil, let group = getgrnam("jitsh")?.pointee.gr_gid else {
            throw Failure(description: "user \(Harness.user) or group jitsh is missing; scripts/prerequisites.sh creates them")
        }
        Self.removeAbandoned()
        let root = "\(Self.prefix)\(getpid())-\(Self.count.add(1, ordering: .relaxed).newValue)"
        self.root = root
        aliceKey = root + "/keys/alice"
        leadKey = root + "/keys/lead1"
        Self.open.withLock { _ = $0.insert(root) }
        _ = Self.dismantledAtExit
        let fm = FileManager.default
        try? fm.removeItem(atPath: root)
        try fm.createDirectory(atPath: root + "/keys", withIntermediateDirectories: true)
        chmod(root, 0o755)
        do {
            let binary = try Harness.install(into: URL(fileURLWithPath: root + "/bin"), programs: ["jitsh", "jitsh-sync", "jitsh-serve"])
            try FleetPolicy.write(into: root, role: role)
            let pg = try Postgres.server()
            let database = try pg.database()
            let hostKey = root + "/keys/host"
            _ = try SSHDaemon.keyPair(hostKey)
            let alice = try SSHDaemon.keyPair(root + "/keys/alice"), lead = try SSHDaemon.keyPair(root + "/keys/lead1")
            // The owner makes the schema once; each host then connects as a role of its own that
            // inserts its own host's rows only (as `jitsh fleet add-host` sets it up).
            _ = try PostgresStore(pg.settings(database: database), migrate: true)
            var made: [Host] = []
            for (name, hostTags) in zip(["prod-1", "prod-2", "prod-3"], tags) {
                let dir = root + "/" + name
                for sub in ["spool", "authorized"] { try fm.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
                chown(dir + "/spool", 0, group)
                chmod(dir + "/spool", 0o770)
                let passwordFile = dir + "/db.password"
                // Roles are the cluster's, databases the test's: the database in the name keeps tests apart.
                let role = Enrolment.role(for: name) + "_" + database
                let added = try Postgres.execute(binary, ["fleet", "add-host", name, "--role", role, "--database", database,
                                                          "--password-file", passwordFile], timeout: 30)
                guard added.status == 0 else { throw Failure(description: "jitsh fleet add-host \(name): \(added.output)") }
                let sql = added.output.split(separator: "\n").filter { !$0.hasPrefix("jitsh: wrote") }.joined(separator: "\n")
                let enrolled = try pg.run(sql, database: database)
                guard enrolled.status == 0 else { throw Failure(description: "the SQL of add-host \(name): \(enrolled.output)") }
                let config = "/etc/jitsh/\((root as NSString).lastPathComponent)-\(name).yaml"
                try fm.createDirectory(atPath: "/etc/jitsh", withIntermediateDirectories: true)
                try """
                    store: postgresql://\(role)@127.0.0.1:\(pg.port)/\(database)
                    store_password_file: \(passwordFile)
                    spool: \(dir)/spool/spool.db
                    policies: \(root)/policies
                    signing_key: \(dir)/spool/signing.key
                    host: {name: \(name), tags: \(hostTags)}
                    shared_accounts: [\(Harness.user)]
                    sync_metrics: 127.0.0.1:\(try Loopback.freePort())
                    """.write(toFile: config, atomically: true, encoding: .utf8)
                chmod(config, 0o644)
                try (config + "\n").write(toFile: dir + "/config", atomically: true, encoding: .utf8)
                let initialised = try Postgres.execute(binary, ["init", "--config", config], timeout: 30)
                guard initialised.status == 0 else { throw Failure(description: "jitsh init on \(name): \(initialised.output)") }
                try ("restrict,pty,command=\"\(binary) --config \(config) --as alice\" \(alice)"
                     + "restrict,pty,command=\"\(binary) --config \(config) --as lead1\" \(lead)")
                    .write(toFile: dir + "/authorized/\(Harness.user)", atomically: true, encoding: .utf8)
                let daemon = try SSHDaemon.start(in: URL(fileURLWithPath: dir), hostKey: hostKey, authorizedKeys: dir + "/authorized")
                made.append(Host(name: name, directory: dir, config: config, spoolPath: dir + "/spool/spool.db",
                                 signingKey: dir + "/spool/signing.key", port: daemon.port, pidFile: daemon.pidFile))
            }
            (self.binary, self.pg, self.database, hosts) = (binary, pg, database, made)
        } catch {
            Self.dismantle(root)
            _ = Self.open.withLock { $0.remove(root) }
            throw error
        }
    }

    /// Stops every daemon and service of the bed and removes its files; safe to call twice.
    func close() {
        Self.dismantle(root)
        _ = Self.open.withLock { $0.remove(root) }
    }

    /// The daemons (pid files), the services and relays this bed started (`pids`), the
    /// configurations in /etc/jitsh and the network namespace it made, then the directory.
    static func dismantle(_ root: String) {
        let fm = FileManager.default
        let lines = { (file: String) in ((try? String(contentsOfFile: root + "/" + file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        for pid in lines("pids").compactMap({ pid_t($0) }) { kill(pid, SIGKILL) }
        for name in (try? fm.contentsOfDirectory(atPath: root)) ?? [] {
            SSHDaemon.stop(root + "/" + name + "/sshd.pid")
            for config in lines(name + "/config") { unlink(config) }
        }
        for namespace in lines("netns") { _ = try? Postgres.execute("/usr/sbin/ip", ["netns", "delete", namespace], timeout: 10) }
        for link in lines("links") { _ = try? Postgres.execute("/usr/sbin/ip", ["link", "delete", link], timeout: 10) }
        try? fm.removeItem(atPath: root)
    }

    /// The beds of test processes that are gone (killed before their atexit ran).
    static func removeAbandoned() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/run")) ?? [] where ("/run/" + name).hasPrefix(prefix) {
            guard let owner = name.dropFirst("jitsh-fleet-".count).split(separator: "-").first.flatMap({ pid_t($0) }),
                  kill(owner, 0) != 0 && errno == ESRCH else { continue }
            dismantle("/run/" + name)
        }
    }

    /// Notes what to undo when the bed goes (a pid, a namespace, a link), in a file, so a
    /// later run finds it too if this process dies first.
    func note(_ line: String, in list: String) {
        let file = root + "/" + list
        let old = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        try? (old + line + "\n").write(toFile: file, atomically: true, encoding: .utf8)
    }

    // MARK: Driving it

    /// Runs blocking work (a process, an SSH channel) on a thread of its own: the tests wait
    /// seconds for processes and must not hold one of the few threads every test shares.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { done in Thread { done.resume(with: Result(catching: body)) }.start() }
    }

    /// jitsh as root on `host` (its configuration): the admin's and the service's commands.
    func jitsh(_ host: Host, _ arguments: [String], timeout: TimeInterval = 30) async throws -> (status: Int32, output: String) {
        let binary = binary
        return try await Self.blocking { try Postgres.execute(binary, arguments + ["--config", host.config], timeout: timeout) }
    }

    /// `ssh -i KEY jitsh-e2e@host COMMAND` with libssh, to its end.
    func ssh(_ host: Host, key: String, _ command: String, timeout: Double = 30) async throws -> Ran {
        try await Self.blocking {
            let c = try SSHClient(port: host.port, user: Harness.user, keyFile: key).exec(command, timeout: timeout)
            guard c.isClosed else { throw Failure(description: "ssh \(host.name) \(command): still open after \(Int(timeout)) s: \(c.text.suffix(200))") }
            return Ran(status: c.exitStatus, output: c.text, errors: c.errorText)
        }
    }

    /// What a live job saw of its end: when it was told, when its channel closed.
    struct Watched: Sendable {
        var ran: Ran
        var told: Date?
        var gone: Date?
    }

    /// Runs `command` on `host` and watches it for 40 s at most, on a thread of its own, while
    /// the test ends it from elsewhere: when `toldBy` reached its stderr and when it closed.
    func watch(_ host: Host, key: String, _ command: String, toldBy: String) async throws -> Watched {
        try await Self.blocking { () throws -> Watched in
            let channel = try SSHClient(port: host.port, user: Harness.user, keyFile: key).exec(command, timeout: 0)
            var told: Date?, gone: Date?
            let end = Date().addingTimeInterval(40)
            while Date() < end && gone == nil {
                channel.pump(20)
                if told == nil && channel.errorText.contains(toldBy) { told = Date() }
                if channel.isClosed { gone = Date() }
            }
            while channel.pump(20) > 0 {}
            return Watched(ran: Ran(status: channel.exitStatus, output: channel.text, errors: channel.errorText), told: told, gone: gone)
        }
    }

    /// Alice's grant for `prod-*`: requested on prod-1, approved on prod-2, each once, in the
    /// central store. Its id.
    func grant() async throws -> Int64 {
        let request = try await jitsh(hosts[0], ["grant", "request", "--as", "alice", "--role", "operator", "--host", "prod-*",
                                                 "--reason", "INC-20 fleet"])
        guard request.status == 0, let id = request.output.firstMatch(of: /grant (\d+):/).flatMap({ Int64($0.1) }) else {
            throw Failure(description: "grant request: \(request.output)")
        }
        let approve = try await jitsh(hosts[1], ["grant", "approve", "--as", "lead1", String(id)])
        guard approve.status == 0 else { throw Failure(description: "grant approve: \(approve.output)") }
        return id
    }

    /// `jitsh sync --once` on every host: each spool gets the central grants, the central store
    /// each spool's rows.
    func syncAll() async throws {
        for host in hosts {
            let synced = try await jitsh(host, ["sync", "--once"])
            guard synced.status == 0 else { throw Failure(description: "jitsh sync --once on \(host.name): \(synced.output)") }
        }
    }

    /// The `jitsh sync` service of `host`, started as its systemd unit does (root, no flag);
    /// its log beside the host's files.
    func startService(_ host: Host, prefix: [String] = []) throws -> Process {
        let p = try LoggedProcess.start(prefix + [binary, "sync", "--config", host.config], log: host.directory + "/sync.log")
        note(String(p.processIdentifier), in: "pids")
        return p
    }

    /// `jitsh serve` on `host` at a free loopback port, up once it accepts; the caller kills it.
    func startServe(_ host: Host) async throws -> (Process, port: Int) {
        let port = try Loopback.freePort()
        let p = try LoggedProcess.start([binary, "serve", "--config", host.config, "--listen", "127.0.0.1:\(port)"], log: host.directory + "/serve.log")
        note(String(p.processIdentifier), in: "pids")
        guard await Self.waitFor(30, { Loopback.accepts(port) || !p.isRunning }) != nil, p.isRunning else {
            throw Failure(description: "jitsh serve on \(host.name) did not start: \((try? String(contentsOfFile: host.directory + "/serve.log", encoding: .utf8)) ?? "")")
        }
        return (p, port)
    }

    /// A page of a `jitsh serve`, fetched with curl as `who` signed in by a one-time link.
    func page(_ host: Host, port: Int, _ path: String, as who: String) async throws -> String {
        let login = try await jitsh(host, ["review", "login", "--as", who])
        guard let link = login.output.firstMatch(of: /\/login\?token=[0-9A-Za-z_-]+/).map({ String($0.0) }) else {
            throw Failure(description: "no sign-in link: \(login.output)")
        }
        let base = "http://127.0.0.1:\(port)"
        let head = try Postgres.execute("/usr/bin/curl", ["-s", "-o", "/dev/null", "-D", "-", base + link], timeout: 20)
        guard let cookie = head.output.firstMatch(of: /jitsh_review=([^;\r\n]+)/).map({ String($0.1) }) else {
            throw Failure(description: "sign-in of \(who) gave no cookie: \(head.output)")
        }
        return try Postgres.execute("/usr/bin/curl", ["-s", "-H", "Cookie: jitsh_review=\(cookie)", base + path], timeout: 20).output
    }

    /// A network between a host's `jitsh sync` and PostgreSQL that a test can cut: the service
    /// runs in a network namespace of its own, where 127.0.0.1 at PostgreSQL's port is a relay
    /// over a veth pair to a relay beside PostgreSQL. So the host's configuration (loopback, no
    /// TLS) is the other hosts', and `cut()` drops packets silently as a real cut does: the
    /// connections in flight hang instead of closing.
    struct Link: Sendable {
        let namespace: String
        let outside: String

        func cut() throws { try FleetBed.ip(["link", "set", outside, "down"]) }
        func restore() throws { try FleetBed.ip(["link", "set", outside, "up"]) }
        /// A command run in the namespace (`ip netns exec`): its argv.
        func inside(_ argv: [String]) -> [String] { ["/usr/sbin/ip", "netns", "exec", namespace] + argv }
    }

    static func ip(_ arguments: [String]) throws {
        let done = try Postgres.execute("/usr/sbin/ip", arguments, timeout: 10)
        guard done.status == 0 else { throw Failure(description: "ip \(arguments.joined(separator: " ")): \(done.output)") }
    }

    /// Whether this machine lets root make network namespaces and veth pairs (a container
    /// without CAP_NET_ADMIN does not).
    static let canCutTheNetwork: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip"),
              FileManager.default.isExecutableFile(atPath: relayInterpreter) else { return false }
        let probe = "jfprobe\(getpid())"
        guard (try? ip(["netns", "add", probe])) != nil else { return false }
        defer { try? ip(["netns", "delete", probe]) }
        guard (try? ip(["link", "add", probe + "a", "type", "veth", "peer", "name", probe + "b"])) != nil else { return false }
        try? ip(["link", "delete", probe + "a"])
        return true
    }()

    static let relayInterpreter = "/usr/bin/python3"
    /// A TCP relay: LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT READY_FILE. Each connection
    /// goes on to the target; when either side ends, both do.
    static let relay = """
        import socket, sys, threading
        lhost, lport, thost, tport, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
        server = socket.create_server((lhost, lport))
        open(ready, "w").close()
        def pipe(a, b):
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        while True:
            client, _ = server.accept()
            try:
                upstream = socket.create_connection((thost, tport), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()
        """

    /// Makes the namespace, the veth pair and the two relays for `host`'s service.
    func link(for host: Host) throws -> Link {
        let n = Self.count.add(1, ordering: .relaxed).newValue
        let tag = "jf\(getpid() % 100_000)x\(n % 100)"
        let link = Link(namespace: tag, outside: tag + "o")
        // A /30 of 198.18.0.0/15 (RFC 2544, for tests) per bed, so two runs at once do not meet.
        let third = Int(getpid()) % 256, fourth = 4 * (n % 64)
        let outsideAddress = "198.18.\(third).\(fourth + 1)", insideAddress = "198.18.\(third).\(fourth + 2)"
        try Self.ip(["netns", "add", link.namespace])
        note(link.namespace, in: "netns")
        try Self.ip(["link", "add", link.outside, "type", "veth", "peer", "name", tag + "i"])
        note(link.outside, in: "links")
        try Self.ip(["link", "set", tag + "i", "netns", link.namespace])
        try Self.ip(["addr", "add", outsideAddress + "/30", "dev", link.outside])
        try Self.ip(["link", "set", link.outside, "up"])
        try Self.ip(["netns", "exec", link.namespace, "ip", "link", "set", "lo", "up"])
        try Self.ip(["netns", "exec", link.namespace, "ip", "addr", "add", insideAddress + "/30", "dev", tag + "i"])
        try Self.ip(["netns", "exec", link.namespace, "ip", "link", "set", tag + "i", "up"])
        let script = root + "/relay.py"
        try Self.relay.write(toFile: script, atomically: true, encoding: .utf8)
        let port = String(pg.port)
        for (side, argv) in [("outside", [Self.relayInterpreter, script, outsideAddress, port, "127.0.0.1", port]),
                             ("inside", link.inside([Self.relayInterpreter, script, "127.0.0.1", port, outsideAddress, port]))] {
            let ready = root + "/relay-\(side).ready"
            let log = root + "/relay-\(side).log"
            let p = try LoggedProcess.start(argv + [ready], log: log)
            note(String(p.processIdentifier), in: "pids")
            var waited = 0
            while !FileManager.default.fileExists(atPath: ready) {
                guard p.isRunning, waited < 200 else {
                    throw Failure(description: "the \(side) relay did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
                }
                usleep(25_000)
                waited += 1
            }
        }
        return link
    }

    func serviceLog(_ host: Host) -> String { (try? String(contentsOfFile: host.directory + "/sync.log", encoding: .utf8)) ?? "" }

    func spool(_ host: Host) throws -> SQLiteStore { try SQLiteStore(path: host.spoolPath) }
    func central() throws -> PostgresStore { try PostgresStore(pg.settings(database: database)) }

    /// One value from the central database, as its owner sees it (past jitsh).
    func sql(_ query: String) throws -> String { try pg.psql(query, database: database) }

    /// Polls `condition` every 20 ms for up to `seconds`: the time it took, or nil.
    static func waitFor(_ seconds: Double, _ condition: () throws -> Bool) async rethrows -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if try condition() { return Date().timeIntervalSince(start) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try condition() ? Date().timeIntervalSince(start) : nil
    }
}
