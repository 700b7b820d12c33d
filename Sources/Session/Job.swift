import CSpawn
import Foundation
import Posix
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
    /// The script for `line` in a memory file (descriptor to pass as the job's 4), or nil.
    func scriptFile(for line: String) -> Int32? {
        let text = state.script(for: line)
        let fd = text.withCString { jitsh_script_fd($0, strlen($0)) }
        return fd >= 0 ? fd : nil
    }

    /// Runs a decided line on a pseudo-terminal of jitsh's own, relaying the user's terminal.
    func runOnTerminal(_ line: String) -> JobOutcome {
        let size = terminal.size()
        var master: Int32 = -1, slave: Int32 = -1
        guard jitsh_openpty(&master, &slave, UInt16(size.rows), UInt16(size.cols)) == 0, let pipe = makePipe() else {
            say("jitsh: cannot open a terminal for the job: \(String(cString: strerror(errno)))\n")
            return .exited(1)
        }
        guard let script = scriptFile(for: line) else {
            close(master); close(slave); close(pipe.read); close(pipe.write)
            say("jitsh: cannot hand the line to bash: \(String(cString: strerror(errno)))\n")
            return .exited(126)
        }
        defer { close(script) }
        var spec = Spawner.Spec(path: setup.shell, arguments: Bash.job,
                                environment: state.processEnvironment, directory: existingDirectory(), stdin: slave, stdout: slave,
                                stderr: slave, controllingTerminal: slave, extra: pipe.write)
        spec.script = script
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
        var signalled = false
        var outcome: JobOutcome?
        // Neither side can stop the loop: keys wait here while the job does not read (up to a
        // bound, beyond which they are refused with a bell), and the job's output is read only
        // while the client takes what was read before.
        var toJob: [UInt8] = []
        var toClient: [UInt8] = []
        var lastSent: UInt8?
        setNonBlocking(terminal.output)
        /// Keys for the job: recorded (only a count while the job turned echo off), Ctrl-Z and
        /// the signal keys acted on, the rest queued up to the bound.
        func take(keys bytes: [UInt8]) {
            if jitsh_echo_enabled(job.master) != 0 {
                recorder.record(.input, bytes)
            } else {
                var count: [UInt8] = []
                FrameCodec.varint(UInt64(bytes.count), &count)
                recorder.record(.redacted, count)
            }
            let suspend = jitsh_suspend_char(job.master)
            var keys = bytes
            if suspend >= 0, let k = bytes.firstIndex(of: UInt8(suspend)) {
                keys = Array(bytes[..<k])
                kill(-job.pid, SIGSTOP)
            }
            // Ctrl-C (or Ctrl-\) behind keys the job does not read: the terminal would
            // flush them and signal the job; it cannot while it takes nothing, so jitsh does.
            if !toJob.isEmpty, let k = keys.lastIndex(where: { jitsh_signal_for_key(job.master, $0) != 0 }) {
                let sig = jitsh_signal_for_key(job.master, keys[k])
                recorder.marker(["event": "input-refused", "bytes": .int(toJob.count + k)])
                toJob = []
                keys = Array(keys[(k + 1)...])
                let group = jitsh_foreground_group(job.master)
                kill(group > 0 ? -group : -job.pid, sig)
            }
            let room = max(0, Session.relayBound - toJob.count)
            toJob += keys.prefix(room)
            if keys.count > room {
                recorder.marker(["event": "input-refused", "bytes": .int(keys.count - room)])
                recorder.record(.output, [0x07])
                toClient.append(0x07)
            }
        }
        let scope = LoopScope()
        let ending = JobEnding(group: job.pid, scope: scope, loop: loop)
        let input = scope.watch()
        let master = scope.watch()
        let carried = scope.watch(job.stateRead)
        let client = scope.watch(events: POLLOUT)
        // An exited job's last output, or output that waits for room in the recorder, is looked at again soon.
        let again = scope.timer()
        scope.prepare = { [self] in
            input.fd = inputOpen ? terminal.input : -1
            let events = (toClient.count < Session.relayBound && !recorder.backedUp ? POLLIN : 0) | (toJob.isEmpty ? 0 : POLLOUT)
            // Not waited for at all while nothing is asked of it: a hung-up terminal would wake the
            // loop at once, again and again, while it waits for the recorder.
            master.fd = masterOpen && events != 0 ? job.master : -1
            master.events = Int16(events)
            client.fd = toClient.isEmpty ? -1 : terminal.output
            again.deadline = exitStatus != nil || recorder.backedUp ? loop.now + 50_000 : nil
        }
        scope.onSignal = { [self] sig in
            signalled = true
            switch sig {
            case SIGWINCH:
                let size = terminal.size()
                _ = jitsh_set_winsize(job.master, UInt16(size.rows), UInt16(size.cols))
                recorder.resize(rows: size.rows, cols: size.cols)
            case SIGHUP, SIGTERM:
                ending.end(sig == SIGHUP ? .hangup : .terminated)
            default:
                break
            }
        }
        scope.onWatchdog = { [self] found in
            guard !ending.ending else { return }
            switch found {
            case .fine: break
            case .warn(let message): say("\r\n\(message)\r\n")
            case .end(let reason, let message):
                say("\r\n\(message)\r\n")
                ending.end(reason)
            }
        }
        scope.afterTurn = { [self] in
            if signalled {
                signalled = false
                if exitStatus == nil, let status = reap(job.pid) {
                    if status == -1 { flushToClient(&toClient); outcome = suspend(job); return }
                    exitStatus = status
                }
            }
            if input.has(POLLIN | POLLHUP | POLLERR) {
                if let bytes = readSome(terminal.input) {
                    if !bytes.isEmpty && exitStatus == nil { take(keys: bytes) }
                } else {
                    // The client is gone: end the job as a hang-up would.
                    ending.end(.hangup)
                    inputOpen = false
                    return
                }
            }
            if masterOpen && master.has(POLLOUT) && !toJob.isEmpty {
                let n = toJob.withUnsafeBytes { write(job.master, $0.baseAddress, $0.count) }
                if n > 0 {
                    lastSent = toJob[n - 1]
                    toJob.removeFirst(n)
                }
            }
            if masterOpen && !recorder.backedUp && master.has(POLLIN | POLLHUP | POLLERR) {
                if let bytes = readSome(job.master, max: recorder.readRoom) {
                    // Once the recording failed nothing more is shown: it could not be recorded.
                    if !bytes.isEmpty && recorder.failure == nil {
                        recorder.record(.output, bytes)
                        toClient += bytes
                    }
                } else {
                    masterOpen = false
                }
            }
            if !toClient.isEmpty && (client.has(POLLOUT) || toClient.count < Session.relayBound) {
                let n = toClient.withUnsafeBytes { write(terminal.output, $0.baseAddress, $0.count) }
                if n > 0 { toClient.removeFirst(n) } else if n < 0 && errno != EAGAIN && errno != EINTR {
                    // The client is gone: what it did not take is in the recording.
                    toClient.removeAll()
                    ending.end(.hangup)
                }
            }
            if carried.ready, let bytes = readSome(job.stateRead, max: 1 << 20) {
                if job.state.count < 8 << 20 { job.state += bytes }
            }
            if exitStatus == nil, let status = reap(job.pid) {
                if status == -1 { flushToClient(&toClient); outcome = suspend(job); return }
                exitStatus = status
            }
            if recorder.failure != nil { ending.kill(.recordingFailed) }
            guard let status = exitStatus, !master.has(POLLIN) || !masterOpen else { return }
            // Exited and nothing more to show: the rest of its output was drained above.
            // What is left waits for room in the recorder, as the output before it did.
            if masterOpen && recorder.backedUp { return }
            if masterOpen, let rest = readSome(job.master, max: recorder.readRoom), !rest.isEmpty {
                if recorder.failure == nil {
                    recorder.record(.output, rest)
                    toClient += rest
                }
                return
            }
            flushToClient(&toClient)
            if let bytes = readSome(job.stateRead, max: 1 << 20), !bytes.isEmpty { job.state += bytes }
            close(job.master)
            close(job.stateRead)
            kill(-job.pid, SIGHUP)
            noteUncarried(self.state.absorb(job.state))
            guardian?.release(job.pid)
            endOrphans()
            recorder.marker(["event": "exited", "status": .int(Int(status))])
            typeAheadMidLine = discardTypeAhead(after: lastSent)
            if let reason = ending.reason { ended = reason; outcome = .ended(reason) } else { outcome = .exited(status) }
        }

        loop.run(scope) { outcome != nil }
        return outcome ?? .exited(1)
    }

    /// Says which variables were too large to carry to the next line.
    func noteUncarried(_ names: [String]) {
        guard !names.isEmpty else { return }
        say("jitsh: not carried to the next line (too large for the environment): \(names.joined(separator: ", "))\n",
            stream: interactive ? .output : .stderr)
    }

    /// How many bytes the relay holds for the job (keys) or for the client (output) at most.
    static let relayBound = 64 << 10

    /// Writes what the client has not taken yet, waiting at most a few seconds for a client
    /// that reads nothing: the session goes on (and ends) without it.
    func flushToClient(_ pending: inout [UInt8]) {
        var rest = pending
        pending.removeAll()
        var gone = false
        let scope = LoopScope()
        let client = scope.watch(terminal.output, events: POLLOUT)
        scope.timer { gone = true }.deadline = loop.now + 5_000_000
        scope.afterTurn = { [self] in
            guard client.ready else { return }
            let n = rest.withUnsafeBytes { write(terminal.output, $0.baseAddress, $0.count) }
            if n > 0 { rest.removeFirst(n) } else if n < 0 && errno != EAGAIN && errno != EINTR { gone = true }
        }
        loop.run(scope) { rest.isEmpty || gone }
    }

    /// The job's exit status (128+signal when killed), -1 when it stopped, nil while it runs.
    func reap(_ pid: pid_t) -> Int32? {
        if let guardian {
            // The guard thread waits for its jobs and tells the loop when a leader stops or exits.
            switch guardian.state(of: pid) {
            case .running: return nil
            case .stopped, .exited:
                // What it held for the session is said first, as it happened before.
                guardian.settle()
                if case .exited(let s) = guardian.state(of: pid) { return s }
                return -1
            case nil:
                // Not a traced job (a transfer, a dry run's helper): this thread's own child.
                break
            }
        }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG | WUNTRACED)
        guard r == pid else { return r < 0 && errno == ECHILD ? 0 : nil }
        return WaitStatus.stopped(status) ? -1 : WaitStatus.code(status)
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
}
