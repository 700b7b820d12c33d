import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a helper program to completion with bounded time: its input given, its output and errors
/// collected. It is started as the jobs are (Spawner): without jitsh's group, nothing inherited.
public enum ChildProcess {
    public struct Result {
        /// nil when it did not finish in time (it was killed).
        public var status: Int32?
        public var output: [UInt8]
        public var errors: [UInt8]
    }

    public static func run(_ argv: [String], input: [UInt8], timeout: TimeInterval, limit: Int = 1 << 20) -> Result {
        var pipes: [Int32] = Array(repeating: -1, count: 6)
        for k in 0..<3 {
            guard pipes.withUnsafeMutableBufferPointer({ pipe($0.baseAddress! + 2 * k) }) == 0 else {
                return Result(status: nil, output: [], errors: Array("pipe failed".utf8))
            }
            for fd in pipes[(2 * k)...(2 * k + 1)] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        }
        let (inRead, inWrite, outRead, outWrite, errRead, errWrite) = (pipes[0], pipes[1], pipes[2], pipes[3], pipes[4], pipes[5])
        let spec = Spawner.Spec(path: argv[0], arguments: argv, environment: ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"],
                                stdin: inRead, stdout: outWrite, stderr: errWrite)
        let pid: pid_t
        do { pid = try Spawner.spawn(spec).pid } catch {
            for fd in pipes { close(fd) }
            return Result(status: nil, output: [], errors: Array("\(error)".utf8))
        }
        for fd in [inRead, outWrite, errWrite] { close(fd) }
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
        // The whole group: a plug-in that is a script leaves no child holding on after it.
        if timedOut { kill(-pid, SIGKILL); kill(pid, SIGKILL) }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let status = WaitStatus.code(raw)
        return Result(status: timedOut ? nil : status, output: output, errors: errors)
    }
}
