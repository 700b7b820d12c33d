import Foundation
import Policy
import Posix
import Store
#if canImport(Glibc)
import Glibc
#endif

/// scp, sftp and rsync requests: run as argv (never through a shell), under the role's
/// `transfers:`, with option allow-lists as rssh's fixes for CVE-2019-1000018/3463/3464 did.
public enum Transfer {
    public enum Kind: String, Sendable { case scp, sftp, rsync }

    public struct Request: Sendable, Equatable {
        public var kind: Kind
        public var argv: [String]
        /// Whether the client sends files here (upload) rather than fetching them.
        public var writes: Bool
    }

    static let sftpServers = ["/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/lib/sftp-server"]

    /// What a forced command's original command asks for, if it is a transfer; throws when it
    /// is one but with options that are not allowed.
    public static func classify(_ argv: [String]) throws -> Request? {
        guard let first = argv.first else { return nil }
        let name = PathName.base(first)
        if first == "internal-sftp" || name == "sftp-server" {
            guard let server = sftpServers.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                throw TransferError("sftp-server is not installed on this host")
            }
            return Request(kind: .sftp, argv: [server], writes: true)
        }
        if name == "scp" {
            var writes: Bool?
            var paths: [String] = []
            var optionsEnded = false
            for a in argv.dropFirst() {
                if !optionsEnded, a == "--" { optionsEnded = true; continue }
                if !optionsEnded, a.hasPrefix("-") {
                    for c in a.dropFirst() {
                        switch c {
                        case "t": writes = true
                        case "f": writes = false
                        case "r", "p", "d", "v", "q": break
                        default: throw TransferError("scp option -\(c) is not allowed here")
                        }
                    }
                    continue
                }
                paths.append(a)
            }
            guard let writes, !paths.isEmpty else { throw TransferError("scp needs -t or -f and a path") }
            return Request(kind: .scp, argv: ["/usr/bin/scp"] + Array(argv.dropFirst()), writes: writes)
        }
        if name == "rsync", argv.dropFirst().first == "--server" {
            let sender = argv.contains("--sender")
            for a in argv.dropFirst(2) {
                if a == "." || !a.hasPrefix("-") { continue }
                if a.hasPrefix("--") {
                    let option = String(a.prefix { $0 != "=" })
                    guard rsyncLongOptions.contains(option) else { throw TransferError("rsync option \(option) is not allowed here") }
                    continue
                }
                // A short cluster; `-e.xyz` carries protocol capabilities, not a command.
                if let e = a.firstIndex(of: "e") {
                    let after = a[a.index(after: e)...]
                    guard after.hasPrefix(".") else { throw TransferError("rsync -e is not allowed here") }
                    guard a[..<e].dropFirst().allSatisfy({ rsyncShortOptions.contains($0) }) else {
                        throw TransferError("rsync option \(a) is not allowed here")
                    }
                    continue
                }
                guard a.dropFirst().allSatisfy({ rsyncShortOptions.contains($0) }) else {
                    throw TransferError("rsync option \(a) is not allowed here")
                }
            }
            return Request(kind: .rsync, argv: ["/usr/bin/rsync"] + Array(argv.dropFirst()), writes: !sender)
        }
        return nil
    }

    /// Why an upload may not go where it goes: a login file, or a directory above one, where
    /// the client names the files (scp's and rsync's protocols carry the names, not the command).
    public static func loginFileDestination(_ r: Request, home: String, cwd: String) -> String? {
        guard r.writes, r.kind != .sftp else { return nil }
        let operands = r.argv.dropFirst().filter { !$0.hasPrefix("-") && $0 != "." || $0 == "." }
        let destinations = r.kind == .rsync ? Array(operands.suffix(1)) : operands.filter { $0 != "--" }
        for d in destinations {
            let path = PathName.resolved(d, cwd: cwd) ?? d
            if let file = Session.loginFile(path, home: home) {
                return "\(r.kind.rawValue) would write \(file), which runs at login outside jitsh"
            }
            if let file = Session.loginFile(path, home: home, ancestors: true) {
                return "\(r.kind.rawValue) into \(path) could write \(file), which runs at login outside jitsh; "
                    + "upload into a subdirectory, or name the file (or use sftp)"
            }
        }
        return nil
    }

    static let rsyncShortOptions = Set("vlogDtprzcHAXSxuWIbLkKOJRCmnhiq")
    static let rsyncLongOptions: Set<String> = [
        "--server", "--sender", "--delete", "--delete-before", "--delete-during", "--delete-after", "--delete-delay",
        "--partial", "--append", "--append-verify", "--inplace", "--timeout", "--bwlimit", "--numeric-ids", "--compress-level",
        "--size-only", "--ignore-times", "--existing", "--ignore-existing", "--safe-links", "--copy-links", "--checksum",
        "--no-implied-dirs", "--sparse", "--whole-file", "--no-whole-file", "--modify-window", "--stats", "--info", "--debug",
    ]

    public struct TransferError: Error, CustomStringConvertible, Sendable {
        public var description: String
        init(_ d: String) { description = d }
    }

    /// Whether the role lets this request through, and the argv to run (sftp read-only: -R).
    public static func admit(_ request: Request, rules: TransferRules?) -> Result<[String], TransferError> {
        let mode: TransferRules.Mode
        switch request.kind {
        case .sftp: mode = rules?.sftp ?? .deny
        case .scp: mode = rules?.scp ?? .deny
        case .rsync: mode = rules?.rsync ?? .deny
        }
        switch mode {
        case .deny:
            return .failure(TransferError("\(request.kind.rawValue) is not allowed for this role"))
        case .readOnly:
            if request.kind == .sftp { return .success(request.argv + ["-R"]) }
            if request.writes { return .failure(TransferError("\(request.kind.rawValue) may only download for this role")) }
            return .success(request.argv)
        case .readWrite:
            return .success(request.argv)
        }
    }
}

extension Session {
    /// Runs an admitted transfer with the client's streams, recording what was moved and how much.
    public func runTransfer(_ request: Transfer.Request, argv: [String]) -> Int32 {
        do { try begin(mode: "transfer", command: argv.joined(separator: " ")) } catch {
            FileHandle.standardError.write(Data("jitsh: the session cannot be recorded: \(error)\n".utf8))
            return 1
        }
        recorder.marker(["event": "transfer", "kind": .string(request.kind.rawValue), "argv": .array(argv.map(JSONText.string))])
        audit(.transfer, line: argv.joined(separator: " "), decision: .allow)
        var env = state.processEnvironment
        env["HOME"] = nil
        guard let input = makePipe(), let output = makePipe(), let errors = makePipe() else { return finish(.error, status: 1) }
        let spec = Spawner.Spec(path: argv[0], arguments: argv, environment: env, directory: existingDirectory(), stdin: input.read,
                                stdout: output.write, stderr: errors.write)
        guard let pid = try? Spawner.spawn(spec).pid else { return finish(.error, status: 1) }
        for fd in [input.read, output.write, errors.write] { close(fd) }
        // A read-write sftp-server is watched: no request may change a login file.
        let filter = request.kind == .sftp && !argv.contains("-R") ? loginFileFilter() : nil
        let code = relayTransfer(pid, input: input.write, output: output.read, errors: errors.read, filter: filter)
        recorder.marker(["event": "exited", "status": .int(Int(code))])
        return finish(.exit, status: code)
    }

    /// Moves the client's bytes to the transfer program and its answers back, recording both
    /// ways (the files moved are in the recording too), and ends it when the grant does. Bytes
    /// for the program wait in a buffer while its input is full, so neither side can block the other.
    func relayTransfer(_ pid: pid_t, input: Int32, output: Int32, errors: Int32, filter start: SFTPFilter? = nil) -> Int32 {
        setNonBlocking(input)
        var filter = start
        var framer = SFTPFramer()
        var answers: [UInt8] = []
        var reported = 0
        var toChild: Int32? = input
        var pending: [UInt8] = []
        var clientOpen = true
        var open: [Int32: (Frame.Kind, Int32)] = [output: (.output, 1), errors: (.stderr, 2)]
        var status: Int32?
        let scope = LoopScope()
        let client = scope.watch(0)
        let streams = [scope.watch(output), scope.watch(errors)]
        let program = scope.watch(events: POLLOUT)
        let again = scope.timer()
        scope.prepare = { [self] in
            // Both ways are recorded: neither is read while the recorder has no room for it.
            let backedUp = recorder.backedUp
            client.fd = clientOpen && pending.isEmpty && !backedUp ? 0 : -1
            for (w, fd) in zip(streams, [output, errors]) { w.fd = open[fd] == nil || backedUp ? -1 : fd }
            program.fd = !pending.isEmpty ? (toChild ?? -1) : -1
            again.deadline = loop.now + (status == nil && !backedUp ? 250_000 : 50_000)
        }
        scope.onSignal = { sig in if sig == SIGHUP || sig == SIGTERM { kill(pid, SIGKILL) } }
        scope.onWatchdog = { found in
            if case .end(_, let message) = found {
                FileHandle.standardError.write(Data("jitsh: \(message)\n".utf8))
                kill(pid, SIGKILL)
            }
        }
        scope.afterTurn = { [self] in
            if client.ready {
                if let bytes = readSome(0, max: recorder.readRoom), !bytes.isEmpty {
                    // Once the recording failed nothing more is passed on: it could not be recorded.
                    if recorder.failure == nil {
                        recorder.record(.input, bytes)
                        if filter != nil {
                            let (toServer, toClient) = filter!.feed(bytes)
                            pending += toServer
                            answers += toClient
                            reportRefusals(filter!, from: &reported)
                            if filter!.broken {
                                refuseTransfer("the sftp stream is not one jitsh can read")
                                kill(pid, SIGKILL)
                            }
                        } else {
                            pending += bytes
                        }
                    }
                } else {
                    clientOpen = false
                }
            }
            if program.ready, let w = toChild {
                let n = pending.withUnsafeBytes { write(w, $0.baseAddress, $0.count) }
                if n > 0 { pending.removeFirst(n) } else if n < 0 && errno != EAGAIN && errno != EINTR { pending.removeAll() }
            }
            // The client finished sending and all of it was passed on: the program sees end of input.
            if !clientOpen && pending.isEmpty, let w = toChild { close(w); toChild = nil }
            for w in streams where w.ready {
                let fd = w.fd
                guard let (kind, target) = open[fd] else { continue }
                if let bytes = readSome(fd, max: recorder.readRoom), !bytes.isEmpty {
                    guard recorder.failure == nil else { continue }
                    let passed = filter != nil && kind == .output ? framer.feed(bytes) : bytes
                    recorder.record(kind, passed)
                    writeAll(target, passed)
                } else {
                    if filter != nil && kind == .output { writeAll(target, framer.rest()) }
                    open[fd] = nil
                }
            }
            // jitsh's own answers (refusals) go to the client between two whole packets.
            if !answers.isEmpty {
                recorder.record(.output, answers)
                writeAll(1, answers)
                answers = []
            }
            if status == nil, let s = reap(pid), s >= 0 { status = s }
            if recorder.failure != nil { kill(pid, SIGKILL) }
        }
        loop.run(scope) { status != nil && open.isEmpty }
        if let w = toChild { close(w) }
        close(output)
        close(errors)
        return status ?? 1
    }
}

extension Session {
    /// The filter for a read-write sftp-server: login files (shell start-up files, ~/.ssh, user
    /// units) are never changed, by their path or through a symlink that leads to them.
    func loginFileFilter() -> SFTPFilter {
        let home = setup.home
        let cwd = existingDirectory()
        return SFTPFilter { path, ancestors in
            guard let file = Session.loginFile(PathName.resolved(path, cwd: cwd) ?? path, home: home, ancestors: ancestors) else { return nil }
            return "\(file) runs at login outside jitsh: it cannot be changed here"
        }
    }

    func reportRefusals(_ filter: SFTPFilter, from reported: inout Int) {
        for r in filter.refused.dropFirst(reported) {
            audit(.transferRefused, line: "\(r.request) \(r.path)", decision: .deny, reason: r.why, alert: alerts("guard"))
            recorder.marker(["event": "transfer-refused", "request": .string(r.request), "path": .string(r.path), "reason": .string(r.why)])
        }
        reported = filter.refused.count
    }

    func refuseTransfer(_ why: String) {
        audit(.transferRefused, line: "", decision: .deny, reason: why)
        FileHandle.standardError.write(Data("jitsh: \(why)\n".utf8))
    }
}
