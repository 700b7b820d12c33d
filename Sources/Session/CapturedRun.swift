import Posix
#if canImport(Glibc)
import Glibc
#endif

/// What a helper run to completion left: a dry run, a snapshot check.
struct CapturedRun {
    /// nil: it did not finish in time (or the session ended meanwhile), and was killed.
    var status: Int32?
    var output: [UInt8]
    /// More than the limit came; the rest was read and dropped.
    var truncated: Bool
}

extension Session {
    /// Waits on the session's loop for `pid` to exit while its output (`output`, read end of
    /// its stdout and stderr) is captured, at most `limit` bytes, at most `seconds`. A hang-up
    /// or SIGTERM ends the session and stops the wait; whatever is left is killed.
    func captureRun(_ pid: pid_t, output fd: Int32, seconds: Double, limit: Int) -> CapturedRun {
        setNonBlocking(fd)
        var result = CapturedRun(status: nil, output: [], truncated: false)
        var open = true
        var stop = false
        let scope = LoopScope()
        let pipe = scope.watch(fd)
        scope.timer { stop = true }.deadline = loop.now + Int64(seconds * 1_000_000)
        // Its execs wait for the guard's decision, and a child's exit may come with no output: look now and then.
        let tick = scope.timer()
        scope.prepare = { [self] in
            pipe.fd = open ? fd : -1
            tick.deadline = loop.now + 50_000
        }
        scope.onSignal = { [self] sig in
            guard sig == SIGHUP || sig == SIGTERM else { return }
            ended = ended ?? (sig == SIGHUP ? .hangup : .terminated)
            stop = true
        }
        scope.afterTurn = { [self] in
            if pipe.ready {
                if let bytes = readSome(fd), !bytes.isEmpty {
                    let room = limit - result.output.count
                    if bytes.count > room { result.truncated = true }
                    if room > 0 { result.output += bytes.prefix(room) }
                } else if readSome(fd) == nil {
                    open = false
                }
            }
            if result.status == nil, let s = reap(pid) {
                // Stopped (a dry run that asked for the terminal) is not how a capture waits.
                if s == -1 { kill(-pid, SIGKILL) } else { result.status = s }
            }
        }
        loop.run(scope) { stop || (!open && result.status != nil) }
        close(fd)
        if result.status == nil || stop {
            kill(-pid, SIGKILL)
            result.status = nil
            // Killed: reaped before the caller goes on (no zombie, nothing of it left running).
            var gone = false
            let reaping = LoopScope()
            reaping.timer { gone = true }.deadline = loop.now + 2_000_000
            let again = reaping.timer()
            reaping.prepare = { [self] in again.deadline = loop.now + 5_000 }
            reaping.afterTurn = { [self] in if let s = reap(pid), s >= 0 { gone = true } }
            loop.run(reaping) { gone }
        }
        guardian?.release(pid)
        return result
    }
}
