import Foundation
import Synchronization
import PostgresStore
import Store

/// A private PostgreSQL 15 for this test process: Debian's server binaries, a cluster made by
/// initdb in a temporary directory owned by `nobody` (the server refuses to run as root), a free
/// loopback port, password authentication over TCP. Started once, on first use; stopped and
/// removed when the process exits, failed tests or not. Each test gets a database of its own.
public final class PrivatePostgres: Sendable {
    public static let bin = "/usr/lib/postgresql/15/bin"
    public static let user = "nobody"
    /// The cluster's superuser, who creates each test's database.
    public static let admin = "jitsh_admin"
    public let dir: String
    public let port: Int
    public let password: String

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// One server for every test of the process (a cluster takes ~2 s to make).
    public static let shared: Result<PrivatePostgres, Failure> = {
        do {
            let pg = try PrivatePostgres()
            atexit { if case .success(let pg) = PrivatePostgres.shared { pg.stop() } }
            return .success(pg)
        } catch let f as Failure {
            return .failure(f)
        } catch {
            return .failure(Failure(description: "\(error)"))
        }
    }()

    public static func server() throws -> PrivatePostgres { try shared.get() }

    /// A server of the caller's own, for a test that stops and restarts it (the shared one
    /// serves other tests at the same time). Stopped and removed at exit.
    public static func dedicated() throws -> PrivatePostgres {
        let pg = try PrivatePostgres()
        Self.dedicatedServers.withLock { $0.append(pg) }
        atexit { PrivatePostgres.dedicatedServers.withLock { $0.forEach { $0.stop() } } }
        return pg
    }

    static let dedicatedServers = Mutex<[PrivatePostgres]>([])

    /// Stops the server (fast shutdown: connections are cut), keeping its data.
    public func halt() throws {
        try Self.asUser(Self.bin + "/pg_ctl", ["-D", dir + "/data", "-m", "fast", "-w", "-t", "20", "stop"], timeout: 30)
    }

    /// Starts a halted server again on its port.
    public func restart() throws {
        try Self.asUser(Self.bin + "/pg_ctl", ["-D", dir + "/data", "-l", dir + "/log", "-w", "-t", "30", "-o",
                                               "-k \(dir) -p \(port) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=120",
                                               "start"], timeout: 40)
    }

    private init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.bin + "/postgres") else {
            throw Failure(description: "no PostgreSQL server in \(Self.bin): run scripts/prerequisites.sh (package postgresql)")
        }
        Self.stopAbandoned()
        dir = "\(Self.prefix)\(UUID().uuidString.prefix(8))"
        port = try Loopback.freePort()
        password = "pw-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try String(getpid()).write(toFile: dir + "/owner", atomically: true, encoding: .utf8)
        guard let nobody = getpwnam(Self.user)?.pointee else { throw Failure(description: "no user \(Self.user)") }
        chown(dir, nobody.pw_uid, nobody.pw_gid)
        chmod(dir, 0o700)
        let pwfile = dir + "/pwfile"
        try password.write(toFile: pwfile, atomically: true, encoding: .utf8)
        chown(pwfile, nobody.pw_uid, nobody.pw_gid)
        do {
            try Self.asUser(Self.bin + "/initdb", ["-D", dir + "/data", "-U", Self.admin, "--pwfile", pwfile, "--auth-local=trust",
                                                   "--auth-host=scram-sha-256", "--no-sync"], timeout: 60)
            try Self.asUser(Self.bin + "/pg_ctl", ["-D", dir + "/data", "-l", dir + "/log", "-w", "-t", "30", "-o",
                                                   "-k \(dir) -p \(port) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=120",
                                                   "start"], timeout: 40)
        } catch {
            stop()
            throw error
        }
    }

    public func settings(database: String, role: String = PrivatePostgres.admin, password: String? = nil) -> PostgresSettings {
        PostgresSettings(location: PostgresLocation(role: role, host: "127.0.0.1", port: port, database: database),
                         password: password ?? self.password, timeout: 20)
    }

    /// A new, empty database.
    public func database() throws -> String {
        let name = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        _ = try psql("CREATE DATABASE \(name)", database: "postgres")
        return name
    }

    /// SQL run by the cluster's superuser, outside jitsh: what the tests check with. The exit
    /// status and the output (errors included).
    public func run(_ sql: String, database: String, role: String = PrivatePostgres.admin) throws -> (status: Int32, output: String) {
        try Self.execute(Self.bin + "/psql", ["-h", dir, "-p", String(port), "-U", role, "-d", database, "-X", "-v", "ON_ERROR_STOP=1",
                                              "-tAc", sql], timeout: 30)
    }

    public func psql(_ sql: String, database: String) throws -> String {
        let (status, output) = try run(sql, database: database)
        guard status == 0 else { throw Failure(description: "psql \(sql): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static let prefix = "/tmp/jitsh-conformance-pg-"

    /// A test process that crashed skips its atexit: the servers of test processes that are
    /// gone are stopped and removed before a new one starts.
    public static func stopAbandoned() {
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for name in dirs where ("/tmp/" + name).hasPrefix(prefix) {
            let dir = "/tmp/" + name
            guard let owner = (try? String(contentsOfFile: dir + "/owner", encoding: .utf8)).flatMap({ pid_t($0) }),
                  kill(owner, 0) != 0 && errno == ESRCH else { continue }
            _ = try? asUser(bin + "/pg_ctl", ["-D", dir + "/data", "-m", "immediate", "-w", "-t", "20", "stop"], timeout: 30)
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    public func stop() {
        _ = try? Self.asUser(Self.bin + "/pg_ctl", ["-D", dir + "/data", "-m", "immediate", "-w", "-t", "20", "stop"], timeout: 30)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Runs a server program as `nobody`; its output goes nowhere, because the server it starts
    /// would hold a pipe open past the program's end. posix_spawn and waitpid: Foundation's
    /// Process does not see the end of a runuser whose grandchild stays. Killed at `timeout`.
    public static func asUser(_ path: String, _ arguments: [String], timeout: TimeInterval) throws {
        let quoted = ([path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let argv = ["/usr/sbin/runuser", "-u", user, "--", "/bin/sh", "-c", quoted + " >/dev/null 2>&1 </dev/null"]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        // The server must not inherit this process's descriptors: `heavy`'s build lock among
        // them would stay held by a server that outlived its test run.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // (glibc skips a close action on a descriptor that is not open, so each one listed is safe.)
        let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
        for fd in open where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        var pid: pid_t = 0
        guard posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ) == 0 else { throw Failure(description: "cannot run \(path)") }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { throw Failure(description: "waitpid: \(String(cString: strerror(errno)))") }
            guard Date() < deadline else {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw Failure(description: "\(path) \(arguments.joined(separator: " ")) did not end within \(Int(timeout)) s")
            }
            usleep(20_000)
        }
        guard status == 0 else { throw Failure(description: "\(path) \(arguments.joined(separator: " ")) exited with status \(status)") }
    }

    /// Runs a program to its end or kills it at `timeout`: its status and its output and errors
    /// (through a file, so a program that leaves a child behind cannot hold the test on a pipe).
    public static func execute(_ path: String, _ arguments: [String], timeout: TimeInterval, capture: Bool = true,
                        environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        if let environment { p.environment = environment }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-conformance-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        let out = capture ? FileHandle(forWritingAtPath: file) ?? FileHandle.nullDevice : FileHandle.nullDevice
        defer { try? out.close() }
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        let ended = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in ended.signal() }
        try p.run()
        guard ended.wait(timeout: .now() + timeout) == .success else {
            p.terminate()
            throw Failure(description: "\(path) \(arguments.joined(separator: " ")) did not end within \(Int(timeout)) s")
        }
        return (p.terminationStatus, (try? String(contentsOfFile: file, encoding: .utf8)) ?? "")
    }
}
