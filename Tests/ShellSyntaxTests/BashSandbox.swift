import Foundation
@testable import ShellSyntax
import TestSupport

/// The real bash, in a throwaway root where every other program is a stub that logs its argv.
/// Lines run as `nobody` in a user and network namespace with a process limit, so nothing they
/// do reaches the machine. What bash ran is then compared with what extraction found.
final class BashSandbox: @unchecked Sendable {
    let root: URL
    private let lock = NSLock()

    struct Run {
        /// Programs bash executed: basename, then arguments.
        var invocations: [[String]]
        /// Command names bash looked up and did not find.
        var notFound: [String]
        var timedOut: Bool
    }

    static let shared: Result<BashSandbox, any Error> = Result { try BashSandbox() }

    static let stubNames = """
        ls rm cat grep wc id pwd find xargs sudo env mv cp tee diff df du sleep nice nohup timeout stdbuf ionice setsid \
        chrt taskset flock watch su runuser doas chroot strace script unbuffer busybox mkdir rmdir touch chmod chown \
        head tail sort uniq cut tr sed awk less more vim vi git tar gzip date whoami hostname uname ps kill systemctl \
        journalctl kubectl docker ssh scp curl wget python3 perl dash zsh ksh 1 a b c d wc help time
        """.split(separator: " ").map(String.init)

    private init() throws {
        let fm = FileManager.default
        // Roots left by earlier runs whose process is gone.
        for name in (try? fm.contentsOfDirectory(atPath: fm.temporaryDirectory.path)) ?? [] where name.hasPrefix("jitsh-bash-sandbox-") {
            if let pid = Int32(name.dropFirst("jitsh-bash-sandbox-".count)), kill(pid, 0) != 0 {
                try? fm.removeItem(at: fm.temporaryDirectory.appendingPathComponent(name))
            }
        }
        root = fm.temporaryDirectory.appendingPathComponent("jitsh-bash-sandbox-\(getpid())")
        try? fm.removeItem(at: root)
        for dir in ["bin", "usr/bin", "home/alice", "log", "dev", "tmp"] {
            try fm.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: "/bin/bash", toPath: root.appendingPathComponent("bin/bash").path)
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("bin/sh").path, withDestinationPath: "bash")
        for library in Set(try BashSandbox.sharedLibraries(of: "/bin/bash")) {
            let target = root.appendingPathComponent(String(library.dropFirst()))
            try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            // The loader names libraries by their symlinks; copy what they point at.
            try fm.copyItem(atPath: URL(fileURLWithPath: library).resolvingSymlinksInPath().path, toPath: target.path)
        }
        let stub = """
            #!/bin/bash
            { printf '%s\\0' "$#" "${0##*/}" "$@"; } >> /log/calls
            """
        try stub.write(to: root.appendingPathComponent("stub"), atomically: true, encoding: .utf8)
        chmod(root.appendingPathComponent("stub").path, 0o755)
        for name in Set(BashSandbox.stubNames) {
            try fm.createSymbolicLink(atPath: root.appendingPathComponent("usr/bin/\(name)").path, withDestinationPath: "/stub")
        }
        try Data().write(to: root.appendingPathComponent("dev/null"))
        for dir in ["log", "dev", "tmp", "home/alice"] { chmod(root.appendingPathComponent(dir).path, 0o777) }
        chmod(root.appendingPathComponent("dev/null").path, 0o666)
    }

    private static func sharedLibraries(of binary: String) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        p.arguments = [binary]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
            .map(String.init).filter { $0.hasPrefix("/") }
    }

    /// Runs one line; lines run one at a time (they share the log).
    func run(_ line: String) throws -> Run {
        lock.lock()
        defer { lock.unlock() }
        let log = root.appendingPathComponent("log/calls")
        try? FileManager.default.removeItem(at: log)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        p.arguments = ["-s", "KILL", "1", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                       "/usr/bin/prlimit", "--nproc=64", "--as=1000000000", "/usr/bin/unshare", "-rn", "/usr/sbin/chroot", root.path,
                       "/bin/bash", "--noprofile", "--norc", "-c", "cd /home/alice && exec /bin/bash --noprofile --norc -O extglob -c \"$1\"", "_", line]
        // The locale a session runs lines in: $'\u…' decodes to UTF-8 only in a UTF-8 locale.
        p.environment = ["HOME": "/home/alice", "USER": "alice", "PWD": "/home/alice", "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"]
        let errors = Pipe()
        p.standardError = errors
        p.standardOutput = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        var run = Run(invocations: [], notFound: [], timedOut: p.terminationStatus == 137 || p.terminationStatus == 124)
        if let data = try? Data(contentsOf: log) {
            var fields = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            while let countText = fields.first, let count = Int(countText), fields.count >= count + 2 {
                run.invocations.append(Array(fields[1...(count + 1)]))
                fields.removeFirst(count + 2)
            }
        }
        // "/bin/bash: line 1: NAME: command not found"; bash shows a name holding control
        // characters as $'…', which such a name in the extraction is compared with as is.
        for message in String(decoding: stderr, as: UTF8.self).split(separator: "\n") where message.hasSuffix(": command not found") {
            guard let lineMarker = message.firstRange(of: ": line ") else { continue }
            let afterLine = message[lineMarker.upperBound...].drop { $0.isNumber }.dropFirst(2)
            run.notFound.append(String(afterLine.dropLast(": command not found".count)))
        }
        return run
    }
}

enum Mutator {
    static let alphabet = Array("ab $`'\"\\(){}[]|&;<>#*?!~=-_:/\n\t0123456789@%^,+.".unicodeScalars)

    static func mutate(_ line: String, _ rng: inout SeededGenerator) -> String {
        var scalars = Array(line.unicodeScalars)
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0 where !scalars.isEmpty:
                scalars.remove(at: Int.random(in: 0..<scalars.count, using: &rng))
            case 1:
                scalars.insert(alphabet.randomElement(using: &rng)!, at: Int.random(in: 0...scalars.count, using: &rng))
            case 2 where scalars.count > 1:
                let a = Int.random(in: 0..<scalars.count, using: &rng)
                let b = min(scalars.count, a + Int.random(in: 1...6, using: &rng))
                scalars.insert(contentsOf: scalars[a..<b], at: Int.random(in: 0...scalars.count, using: &rng))
            default:
                if !scalars.isEmpty {
                    scalars[Int.random(in: 0..<scalars.count, using: &rng)] = alphabet.randomElement(using: &rng)!
                }
            }
        }
        var s = String.UnicodeScalarView()
        s.append(contentsOf: scalars)
        return String(s)
    }
}
