import CSpawn
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a helper program to completion with bounded time: its input given, its output and errors
/// collected. It is started as the jobs are (CSpawn): without jitsh's group, nothing inherited.
enum ChildProcess {
    struct Result {
        /// nil when it did not finish in time (it was killed).
        var status: Int32?
        var output: [UInt8]
        var errors: [UInt8]
    }

    static func run(_ argv: [String], input: [UInt8], timeout: TimeInterval, limit: Int = 1 << 20) -> Result {
        var pipes: [Int32] = Array(repeating: -1, count: 6)
        for k in 0..<3 {
            guard pipes.withUnsafeMutableBufferPointer({ pipe($0.baseAddress! + 2 * k) }) == 0 else {
                return Result(status: nil, output: [], errors: Array("pipe failed".utf8))
            }
            for fd in pipes[(2 * k)...(2 * k + 1)] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        }
        let (inRead, inWrite, outRead, outWrite, errRead, errWrite) = (pipes[0], pipes[1], pipes[2], pipes[3], pipes[4], pipes[5])
        var cArgs = argv.map { strdup($0) } + [nil]
        let environment: [String] = ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"]
        var cEnv = environment.map { strdup($0) } + [nil]
        defer { for p in cArgs + cEnv { free(p) } }
        var error: Int32 = 0, pending: Int32 = -1
        let pid = argv[0].withCString { path in
            cArgs.withUnsafeMutableBufferPointer { a in
                cEnv.withUnsafeMutableBufferPointer { e in
                    var spec = jitsh_spawn_spec(path: path, argv: a.baseAddress, envp: e.baseAddress, cwd: nil, stdin_fd: inRead,
                                                stdout_fd: outWrite, stderr_fd: errWrite, ctty_fd: -1, extra_fd: -1, new_session: 1,
                                                trace: 0, landlock_fd: -1)
                    return jitsh_spawn(&spec, &error, &pending)
                }
            }
        }
        for fd in [inRead, outWrite, errWrite] { close(fd) }
        guard pid > 0 else {
            for fd in [inWrite, outRead, errRead] { close(fd) }
            return Result(status: nil, output: [], errors: Array(String(cString: strerror(error)).utf8))
        }
        signal(SIGPIPE, SIG_IGN)
        _ = input.withUnsafeBytes { write(inWrite, $0.baseAddress, $0.count) }
        close(inWrite)
        var output: [UInt8] = [], errors: [UInt8] = []
        var open: Set<Int32> = [outRead, errRead]
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while !open.isEmpty {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { timedOut = true; break }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), Int32(min(left, 1) * 1000)) >= 0 || errno == EINTR else { break }
            for f in fds where f.revents != 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = read(f.fd, &buffer, buffer.count)
                if n <= 0 { open.remove(f.fd); continue }
                if f.fd == outRead { if output.count < limit { output += buffer.prefix(n) } } else if errors.count < limit { errors += buffer.prefix(n) }
            }
        }
        close(outRead)
        close(errRead)
        if timedOut { kill(pid, SIGKILL) }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let status: Int32 = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        return Result(status: timedOut ? nil : status, output: output, errors: errors)
    }
}
