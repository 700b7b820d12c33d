import Foundation
import Store
#if canImport(Glibc)
import Glibc
import TestSupport
#endif

/// The test bed: a store filled by real sessions (the jitsh binary run as sshd runs it, exec
/// mode and an interactive one under `script`), grants made with the CLI, and a real
/// `jitsh serve` on a free loopback port. Started once; the server is killed when tests end.
final class Bed: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static let shared: Result<Bed, any Error> = Result { try Bed() }
    static var instance: Bed { get throws { try shared.get() } }

    let root: String
    let binary: String
    let config: String
    let storePath: String
    let port: Int
    let host = "serve-host"
    /// Session ids by what they did.
    var sessions: [String: String] = [:]
    var pendingGrant: Int64 = 0
    private var server: Process?

    static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }
    static let typedCommand = "echo player-check-42"
    /// Watched by the serve-snap role; inside the test bed, so it goes with it.
    static let watched = "/run/jitsh-serve-test-\(getpid())/watched"
    static let hostileLine = "echo '<script>alert(1)</script>' '\u{1b}[31mred'"

    private init() throws {
        guard getuid() == 0 else { throw Failure(description: "the serve tests run as root (make test does): jitsh runs as the forced command") }
        root = "/run/jitsh-serve-test-\(getpid())"
        let fm = FileManager.default
        try? fm.removeItem(atPath: root)
        try fm.createDirectory(atPath: root + "/store", withIntermediateDirectories: true)
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        binary = ProcessInfo.processInfo.environment["JITSH_BINARY"] ?? repository + "/.build/debug/jitsh"
        try fm.copyItem(atPath: repository + "/policies", toPath: root + "/policies")
        try fm.removeItem(atPath: root + "/policies/tests")
        try """
            people:
              alice: [oncall]
              carol: [oncall]
              dora: [oncall]
              sasha: [oncall]
              bob: [oncall]
              rita: [auditors]
              sam: [admins]
              adam: [approvers]
              nobody-special: []
            """.write(toFile: root + "/policies/policy.yaml", atomically: true, encoding: .utf8)
        try """
            contract: serve-auto
            role: readonly
            requesters: {people: [alice, carol, dora]}
            hosts: [serve-host]
            reason: {required: false}
            approval: {auto: true}
            """.write(toFile: root + "/policies/contracts/serve-auto.yaml", atomically: true, encoding: .utf8)
        try """
            contract: serve-approved
            role: readonly
            requesters: {people: [bob]}
            hosts: [serve-host]
            reason: {required: true}
            approval: {groups: [approvers], count: 1}
            """.write(toFile: root + "/policies/contracts/serve-approved.yaml", atomically: true, encoding: .utf8)
        // A role that watches files: its session page shows what a line changed, as a diff.
        try """
            role: serve-snap
            extends: [readonly]
            allow:
              - cmd: printf
            writes: ["\(Bed.watched)/**"]
            snapshot:
              - paths: ["\(Bed.watched)/**"]
            """.write(toFile: root + "/policies/roles/serve-snap.yaml", atomically: true, encoding: .utf8)
        try """
            contract: serve-snap
            role: serve-snap
            requesters: {people: [sasha]}
            hosts: [serve-host]
            reason: {required: false}
            approval: {auto: true}
            """.write(toFile: root + "/policies/contracts/serve-snap.yaml", atomically: true, encoding: .utf8)
        try? fm.removeItem(atPath: Bed.watched)
        try fm.createDirectory(atPath: Bed.watched, withIntermediateDirectories: true)
        storePath = root + "/store/jitsh.db"
        config = root + "/jitsh.yaml"
        port = try Loopback.freePort()
        try """
            store: \(storePath)
            policies: \(root)/policies
            signing_key: \(root)/store/signing.key
            host: {name: \(host)}
            review_url: http://127.0.0.1:\(port)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        try run(["init", "--config", config])
        for who in ["alice", "carol", "dora"] {
            try run(["grant", "request", "--config", config, "--as", who, "--role", "readonly", "--duration", "30m", "--reason", "serve tests"])
        }
        // Real sessions, as sshd would start them.
        sessions["alice-echo"] = try execSession("alice", "echo serve-word-alpha")
        sessions["carol-echo"] = try execSession("carol", "echo serve-word-beta")
        sessions["alice-denied"] = try execSession("alice", "rm -rf /tmp/serve-test-nothing")
        sessions["hostile"] = try execSession("alice", Bed.hostileLine)
        try run(["grant", "request", "--config", config, "--as", "sasha", "--role", "serve-snap", "--duration", "30m", "--reason", "serve tests"])
        sessions["snapshot"] = try execSession("sasha", "printf 'listen <b>80</b>;\\n' > \(Bed.watched)/app.conf")
        sessions["interactive"] = try interactiveSession("alice", lines: [Bed.typedCommand, "ls /", "exit"])
        let out = try run(["grant", "request", "--config", config, "--as", "bob", "--role", "readonly", "--duration", "30m",
                           "--reason", "INC-7 approve me <b>please</b>"])
        pendingGrant = out.split(whereSeparator: { !$0.isNumber }).compactMap { Int64($0) }.first ?? 0
        try startServer()
    }

    // MARK: Sessions

    @discardableResult
    func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws -> String {
        let (status, text) = try Bed.execute(binary, arguments, environment: environment, input: input)
        guard status == 0 else { throw Failure(description: "jitsh \(arguments.joined(separator: " ")): exit \(status): \(text)") }
        return text
    }

    func store() throws -> SQLiteStore { try SQLiteStore(path: storePath) }

    func newestSession(after known: Set<String>) throws -> String {
        let ids = try store().allSessionIDs()
        guard let id = ids.last(where: { !known.contains($0) }) else { throw Failure(description: "no new session recorded") }
        return id
    }

    /// `ssh host 'LINE'`: the forced command with SSH_ORIGINAL_COMMAND.
    func execSession(_ who: String, _ line: String) throws -> String {
        let before = Set(try store().allSessionIDs())
        _ = try Bed.execute(binary, ["--config", config, "--as", who], environment: ["SSH_ORIGINAL_COMMAND": line])
        return try newestSession(after: before)
    }

    /// An exec session left running: the process, and the session's id once it is recorded.
    func runningSession(_ who: String, _ line: String) throws -> (Process, String) {
        let before = Set(try store().allSessionIDs())
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["--config", config, "--as", who]
        var env = ProcessInfo.processInfo.environment
        env["SSH_ORIGINAL_COMMAND"] = line
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let id = try? newestSession(after: before) { return (p, id) }
            usleep(100_000)
        }
        p.terminate()
        throw Failure(description: "the running session was not recorded")
    }

    /// `ssh -t host`: the forced command on a terminal (util-linux `script` makes the pty), lines typed with pauses.
    func interactiveSession(_ who: String, lines: [String]) throws -> String {
        let before = Set(try store().allSessionIDs())
        let typing = lines.map { "sleep 1; printf '%s\\r' '\($0)'" }.joined(separator: "; ") + "; sleep 2"
        let command = "(\(typing)) | script -qfec '\(binary) --config \(config) --as \(who)' /dev/null"
        _ = try Bed.execute("/usr/bin/timeout", ["30", "/bin/bash", "-c", command], environment: ["TERM": "xterm-256color"])
        return try newestSession(after: before)
    }

    // MARK: The server

    private func startServer() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["serve", "--config", config, "--listen", "127.0.0.1:\(port)"]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let log = root + "/serve.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        server = p
        serverPID = p.processIdentifier
        bedRoot = root
        atexit {
            if serverPID > 0 { kill(serverPID, SIGKILL) }
            if let r = bedRoot { try? FileManager.default.removeItem(atPath: r) }
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if Bed.accepts(port) { return }
            guard p.isRunning else { break }
            usleep(50_000)
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw Failure(description: "jitsh serve did not start: \(text)")
    }

    /// Another `jitsh serve` (TLS, a Unix socket), up once it accepts; the caller kills it.
    func serve(_ arguments: [String], port: Int? = nil, socket: String? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["serve", "--config", config] + arguments
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && p.isRunning {
            if let port, Bed.accepts(port) { return p }
            if let socket, FileManager.default.fileExists(atPath: socket) { usleep(200_000); return p }
            usleep(50_000)
        }
        kill(p.processIdentifier, SIGKILL)
        throw Failure(description: "jitsh serve \(arguments) did not start")
    }

    var serveLog: String { (try? String(contentsOfFile: root + "/serve.log", encoding: .utf8)) ?? "" }

    /// `jitsh review login` for `who`: the one-time link's path and query.
    func signInLink(_ who: String, validFor: Int? = nil, next: String? = nil) throws -> String {
        var args = ["review", "login", "--config", config, "--as", who]
        if let validFor { args += ["--valid-for", String(validFor)] }
        if let next { args += ["--next", next] }
        let out = try run(args)
        guard let line = out.split(separator: "\n").first(where: { $0.hasPrefix("http://") }),
              let range = line.range(of: "/login?") else { throw Failure(description: "no link in: \(out)") }
        return String(line[range.lowerBound...])
    }

    /// Signs `who` in: the browser session's cookie value.
    func signIn(_ who: String) throws -> String {
        let r = try HTTP.request(port: port, "GET", try signInLink(who))
        guard r.status == 303, let cookie = r.cookie else { throw Failure(description: "sign-in of \(who): \(r.status) \(r.body.prefix(300))") }
        return cookie
    }

    // MARK: Processes and sockets

    static func execute(_ path: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil,
                        timeout: TimeInterval = 60) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["SSH_ORIGINAL_COMMAND"] = nil
        env["SSH_CONNECTION"] = nil
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let pid = p.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        watchdog.cancel()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func accepts(_ port: Int) -> Bool {
        (try? HTTP.connect(port: port, from: nil)).map { close($0); return true } ?? false
    }
}

nonisolated(unsafe) var serverPID: Int32 = 0
nonisolated(unsafe) var bedRoot: String?
