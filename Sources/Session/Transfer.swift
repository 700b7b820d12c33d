import Foundation
import Policy
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
        recorder.marker(["event": "transfer", "kind": request.kind.rawValue, "argv": argv])
        audit("transfer", line: argv.joined(separator: " "), decision: "allow")
        var env = state.processEnvironment
        env["HOME"] = nil
        let spec = Spawner.Spec(path: argv[0], arguments: argv, environment: env, directory: existingDirectory(), stdin: 0, stdout: 1,
                                stderr: 2)
        guard let pid = try? Spawner.spawn(spec).pid else { return finish(.error, status: 1) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        recorder.marker(["event": "exited", "status": Int(code)])
        return finish(.exit, status: code)
    }
}
