import CSpawn
import Foundation
import ShellSyntax
import Store
#if canImport(Glibc)
import Glibc
#endif

/// A job stopped with Ctrl-Z, kept with its terminal until `fg`.
struct SuspendedJob {
    var pid: pid_t
    var master: Int32
    var stateRead: Int32
    var line: String
    var state: [UInt8]
}

/// How a job finished.
enum JobOutcome: Equatable {
    case exited(Int32)
    case stopped
    case ended(EndReason)
}

extension Session {
    var bashArguments: [String] { ["bash", "--noprofile", "--norc", "+H", "-O", "extglob", "-c"] }

    /// Runs a decided line on a pseudo-terminal of jitsh's own, relaying the user's terminal.
    func runOnTerminal(_ line: String) -> JobOutcome {
        let size = terminal.size()
        var master: Int32 = -1, slave: Int32 = -1
        guard jitsh_openpty(&master, &slave, UInt16(size.rows), UInt16(size.cols)) == 0, let pipe = makePipe() else {
            say("jitsh: cannot open a terminal for the job: \(String(cString: strerror(errno)))\n")
            return .exited(1)
        }
        let spec = Spawner.Spec(path: setup.shell, arguments: bashArguments + [state.script(for: line)],
                                environment: state.processEnvironment, directory: existingDirectory(), stdin: slave, stdout: slave,
                                stderr: slave, controllingTerminal: slave, extra: pipe.write)
        let pid: pid_t
        do {
            pid = try spawnJob(spec)
        } catch {
            close(master); close(slave); close(pipe.read); close(pipe.write)
            say("jitsh: \(error)\n")
            return .exited(126)
        }
        close(slave)
        close(pipe.write)
        setNonBlocking(master)
        setNonBlocking(pipe.read)
        recorder.marker(["event": "started", "line": .string(line), "pid": .int(Int(pid))])
        let job = SuspendedJob(pid: pid, master: master, stateRead: pipe.read, line: line, state: [])
        return relay(job)
    }

    /// The working directory to start in: the carried one if it still exists.
    func existingDirectory() -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: state.cwd, isDirectory: &isDirectory), isDirectory.boolValue { return state.cwd }
        state.cwd = setup.home
        return FileManager.default.fileExists(atPath: setup.home) ? setup.home : "/"
    }

    /// Moves bytes between the user's terminal and the job's until the job exits or stops.
    func relay(_ start: SuspendedJob) -> JobOutcome {
        var job = start
        var masterOpen = true
        var inputOpen = true
        var exitStatus: Int32?
        var killAt: Int64?
        var endReason: EndReason?
        while true {
            var fds = [pollfd(fd: inputOpen ? terminal.input : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: masterOpen ? job.master : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: job.stateRead, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: signals.read, events: Int16(POLLIN), revents: 0)]
            var timeout = Int(watchdog.nextCheckIn * 1000)
            if let due = recorder.dueIn { timeout = min(timeout, Int(due / 1000) + 1) }
            if let killAt { timeout = min(timeout, Int(max(0, killAt - Clock.microseconds) / 1000) + 1) }
            if exitStatus != nil { timeout = min(timeout, 50) }
            let ready = poll(&fds, nfds_t(fds.count), Int32(max(0, timeout)))
            if ready < 0 && errno != EINTR { break }
            if fds[3].revents != 0 {
                for sig in pendingSignals() {
                    switch sig {
                    case SIGWINCH:
                        let size = terminal.size()
                        _ = jitsh_set_winsize(job.master, UInt16(size.rows), UInt16(size.cols))
                        recorder.resize(rows: size.rows, cols: size.cols)
                    case SIGHUP, SIGTERM:
                        kill(-job.pid, SIGHUP)
                        killAt = Clock.microseconds + 3_000_000
                        endReason = sig == SIGHUP ? .hangup : .terminated
                    default:
                        break
                    }
                }
                if exitStatus == nil, let status = reap(job.pid) {
                    if status == -1 { return suspend(job) }
                    exitStatus = status
                }
            }
            if fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                guard let bytes = readSome(terminal.input) else {
                    // The client is gone: end the job as a hang-up would.
                    kill(-job.pid, SIGHUP)
                    killAt = killAt ?? Clock.microseconds + 3_000_000
                    endReason = endReason ?? .hangup
                    inputOpen = false
                    continue
                }
                if !bytes.isEmpty && exitStatus == nil {
                    if jitsh_echo_enabled(job.master) != 0 {
                        recorder.record(.input, bytes)
                    } else {
                        var count: [UInt8] = []
                        FrameCodec.varint(UInt64(bytes.count), &count)
                        recorder.record(.redacted, count)
                    }
                    let suspend = jitsh_suspend_char(job.master)
                    if suspend >= 0, let k = bytes.firstIndex(of: UInt8(suspend)) {
                        writeAll(job.master, Array(bytes[..<k]))
                        kill(-job.pid, SIGSTOP)
                    } else {
                        writeAll(job.master, bytes)
                    }
                }
            }
            if masterOpen && fds[1].revents != 0 {
                if let bytes = readSome(job.master) {
                    show(bytes)
                } else {
                    masterOpen = false
                }
            }
            if fds[2].revents != 0, let bytes = readSome(job.stateRead, max: 1 << 20) {
                if job.state.count < 4 << 20 { job.state += bytes }
            }
            if exitStatus == nil, let status = reap(job.pid) {
                if status == -1 { return suspend(job) }
                exitStatus = status
            }
            recorder.flushIfDue()
            if recorder.failure != nil, endReason == nil {
                kill(-job.pid, SIGKILL)
                endReason = .recordingFailed
                killAt = Clock.microseconds
            }
            if endReason == nil {
                switch watchdog.check(setup.store, now: now) {
                case .fine: break
                case .warn(let message): say("\r\n\(message)\r\n")
                case .end(let reason, let message):
                    say("\r\n\(message)\r\n")
                    kill(-job.pid, SIGHUP)
                    killAt = Clock.microseconds + 3_000_000
                    endReason = reason
                }
            }
            if let deadline = killAt, Clock.microseconds >= deadline {
                kill(-job.pid, SIGKILL)
                killAt = nil
            }
            if let status = exitStatus, fds[1].revents == 0 || !masterOpen {
                // Exited and nothing more to show: the rest of its output was drained above.
                if masterOpen, let rest = readSome(job.master), !rest.isEmpty { show(rest); continue }
                if let bytes = readSome(job.stateRead, max: 1 << 20), !bytes.isEmpty { job.state += bytes }
                close(job.master)
                close(job.stateRead)
                kill(-job.pid, SIGHUP)
                state.absorb(job.state)
                guardian?.release(job.pid)
                recorder.marker(["event": "exited", "status": .int(Int(status))])
                terminal.discardTypeAhead()
                if let endReason { ended = endReason; return .ended(endReason) }
                return .exited(status)
            }
        }
        if let endReason { ended = endReason; return .ended(endReason) }
        return .exited(1)
    }

    /// The job's exit status (128+signal when killed), -1 when it stopped, nil while it runs.
    func reap(_ pid: pid_t) -> Int32? {
        if let guardian {
            // Waits only when a child changed state (or now and then): not on every pass of the relay.
            let t = monotonicSeconds()
            if childSignalled || t - lastPump > 0.1 {
                childSignalled = false
                lastPump = t
                guardian.pump()
            }
            switch guardian.state(of: pid) {
            case .running: return nil
            case .stopped: return -1
            case .exited(let s): return s
            case nil:
                // Not a traced job (a transfer, a dry run's helper): its own wait, unless the guard's took it.
                if let s = guardian.takeUntraced(pid) { return s }
            }
        }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG | WUNTRACED)
        guard r == pid else { return r < 0 && errno == ECHILD ? 0 : nil }
        if status & 0xFF == 0x7F { return -1 }
        if status & 0x7F == 0 { return (status >> 8) & 0xFF }
        return 128 + (status & 0x7F)
    }

    func suspend(_ job: SuspendedJob) -> JobOutcome {
        suspended.append(job)
        recorder.marker(["event": "stopped", "line": .string(job.line)])
        say("\r\n[\(suspended.count)]+  Stopped                 \(Visible.text(job.line))\r\n")
        return .stopped
    }

    /// `fg`: resumes the most recent stopped job.
    func foreground() -> JobOutcome {
        guard let job = suspended.popLast() else {
            say("jitsh: fg: no stopped job\n")
            return .exited(1)
        }
        say("\(Visible.text(job.line))\r\n")
        let size = terminal.size()
        _ = jitsh_set_winsize(job.master, UInt16(size.rows), UInt16(size.cols))
        recorder.marker(["event": "resumed", "line": .string(job.line)])
        kill(-job.pid, SIGCONT)
        guardian?.resume(job.pid)
        return relay(job)
    }

    /// Exec mode without a terminal: standard output and error recorded as separate streams, and
    /// standard input relayed through jitsh so it is recorded too (`ssh host 'cat > f' < f`
    /// leaves f's bytes in the recording, not only a marker).
    func runPiped(_ line: String) -> JobOutcome {
        guard let out = makePipe(), let err = makePipe(), let statePipe = makePipe(), let inp = makePipe() else { return .exited(1) }
        let spec = Spawner.Spec(path: setup.shell, arguments: bashArguments + [state.script(for: line)],
                                environment: state.processEnvironment, directory: existingDirectory(), stdin: inp.read, stdout: out.write,
                                stderr: err.write, extra: statePipe.write)
        let pid: pid_t
        do { pid = try spawnJob(spec) } catch {
            for fd in [out.read, out.write, err.read, err.write, statePipe.read, statePipe.write, inp.read, inp.write] { close(fd) }
            say("jitsh: \(error)\n", stream: .stderr)
            return .exited(126)
        }
        for fd in [out.write, err.write, statePipe.write, inp.read] { close(fd) }
        for fd in [out.read, err.read, statePipe.read, inp.write] { setNonBlocking(fd) }
        recorder.marker(["event": "started", "line": .string(line), "pid": .int(Int(pid))])
        var open: [Int32: Frame.Kind] = [out.read: .output, err.read: .stderr]
        var stdin = StdinRelay(toJob: inp.write)
        var exitStatus: Int32?
        var endReason: EndReason?
        while !open.isEmpty || exitStatus == nil {
            var fds = [pollfd(fd: out.read, events: Int16(POLLIN), revents: 0), pollfd(fd: err.read, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: signals.read, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: stdin.wantsInput && exitStatus == nil ? 0 : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: stdin.wantsToWrite ? inp.write : -1, events: Int16(POLLOUT), revents: 0)]
            for k in 0..<2 where open[fds[k].fd] == nil { fds[k].fd = -1 }
            var timeout = Int(watchdog.nextCheckIn * 1000)
            if let due = recorder.dueIn { timeout = min(timeout, Int(due / 1000) + 1) }
            if open.isEmpty { timeout = min(timeout, 50) }
            _ = poll(&fds, nfds_t(fds.count), Int32(max(0, timeout)))
            if fds[3].revents != 0 {
                let bytes = readSome(0)
                if let bytes, !bytes.isEmpty { recorder.record(.stdin, bytes) }
                stdin.received(bytes)
            }
            if fds[4].revents != 0 || stdin.wantsToWrite { stdin.write() }
            for k in 0..<2 where fds[k].revents != 0 {
                let fd = fds[k].fd
                if let bytes = readSome(fd), !bytes.isEmpty {
                    writeAll(k == 0 ? 1 : 2, bytes)
                    recorder.record(open[fd] ?? .output, bytes)
                } else if readSome(fd) == nil {
                    open[fd] = nil
                    close(fd)
                }
            }
            if fds[2].revents != 0 {
                for sig in pendingSignals() where sig == SIGHUP || sig == SIGTERM {
                    kill(-pid, SIGKILL)
                    endReason = sig == SIGHUP ? .hangup : .terminated
                }
            }
            if exitStatus == nil, let s = reap(pid), s >= 0 {
                exitStatus = s
                // The line is over: what it did not read is not passed on (nor waited for).
                stdin.close()
            }
            recorder.flushIfDue()
            if recorder.failure != nil, endReason == nil {
                kill(-pid, SIGKILL)
                endReason = .recordingFailed
            }
            if endReason == nil, case .end(let reason, let message) = watchdog.check(setup.store, now: now) {
                say("\(message)\n", stream: .stderr)
                kill(-pid, SIGHUP)
                endReason = reason
            }
        }
        stdin.close()
        var stateBytes: [UInt8] = []
        while let bytes = readSome(statePipe.read, max: 1 << 20), !bytes.isEmpty { stateBytes += bytes }
        close(statePipe.read)
        state.absorb(stateBytes)
        recorder.marker(["event": "exited", "status": .int(Int(exitStatus ?? 1))])
        if let endReason { ended = endReason; return .ended(endReason) }
        return .exited(exitStatus ?? 1)
    }
}

/// Exec mode's standard input on its way to the job: read from the client only while the
/// buffer has room, written without blocking, so a job that does not read cannot stall the
/// relay; end of input closes the job's side once everything read was passed on.
struct StdinRelay {
    static let capacity = 256 << 10
    private var toJob: Int32?
    private var pending: [UInt8] = []
    private var clientOpen = true

    init(toJob: Int32) { self.toJob = toJob }

    var wantsInput: Bool { clientOpen && toJob != nil && pending.count < StdinRelay.capacity }
    var wantsToWrite: Bool { toJob != nil && !pending.isEmpty }

    /// What a read of the client gave: bytes, nothing yet (`[]`), or its end (`nil`).
    mutating func received(_ bytes: [UInt8]?) {
        guard let bytes else {
            clientOpen = false
            if pending.isEmpty { close() }
            return
        }
        if toJob != nil { pending += bytes }
    }

    mutating func write() {
        guard let fd = toJob, !pending.isEmpty else { return }
        let n = pending.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            pending.removeFirst(n)
        } else if n < 0 && errno != EAGAIN && errno != EINTR {
            // The job closed its input (EPIPE): the rest has nowhere to go.
            close()
            return
        }
        if pending.isEmpty && !clientOpen { close() }
    }

    mutating func close() {
        if let fd = toJob { Glibc.close(fd) }
        toJob = nil
        pending = []
    }
}
