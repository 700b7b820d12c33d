import Foundation
import Posix
import Store
#if canImport(Glibc)
import Glibc
#endif

extension Session {
    /// Exec mode without a terminal: standard output and error recorded as separate streams, and
    /// standard input relayed through jitsh so it is recorded too (`ssh host 'cat > f' < f`
    /// leaves f's bytes in the recording, not only a marker).
    func runPiped(_ line: String) -> JobOutcome {
        guard let out = makePipe(), let err = makePipe(), let statePipe = makePipe(), let inp = makePipe(),
              let script = scriptFile(for: line) else {
            say("jitsh: cannot start the line: \(String(cString: strerror(errno)))\n", stream: .stderr)
            return .exited(1)
        }
        defer { close(script) }
        var spec = Spawner.Spec(path: setup.shell, arguments: Bash.job,
                                environment: state.processEnvironment, directory: existingDirectory(), stdin: inp.read, stdout: out.write,
                                stderr: err.write, extra: statePipe.write)
        spec.script = script
        let pid: pid_t
        do { pid = try spawnJob(spec) } catch {
            for fd in [out.read, out.write, err.read, err.write, statePipe.read, statePipe.write, inp.read, inp.write] { close(fd) }
            say("jitsh: \(error)\n", stream: .stderr)
            return .exited(126)
        }
        for fd in [out.write, err.write, statePipe.write, inp.read] { close(fd) }
        for fd in [out.read, err.read, statePipe.read, inp.write] { setNonBlocking(fd) }
        // A client that stops reading cannot hold the loop (writes give up after a stall).
        setNonBlocking(1)
        setNonBlocking(2)
        recorder.marker(["event": "started", "line": .string(line), "pid": .int(Int(pid))])
        var open: [Int32: Frame.Kind] = [out.read: .output, err.read: .stderr]
        var stdin = StdinRelay(toJob: inp.write)
        var exitStatus: Int32?
        var stateBytes: [UInt8] = []
        var stateOpen = true
        let scope = LoopScope()
        // Ends the job as an interactive one ends: SIGHUP to the job, SIGKILL to everything
        // of it 3 s later (a job that ignores SIGHUP does not outlive its grant or its client).
        let ending = JobEnding(group: pid, scope: scope, loop: loop, afterKill: { [self] in endOrphans() })
        let streams = [scope.watch(out.read), scope.watch(err.read)]
        let client = scope.watch(0)
        let toJob = scope.watch(inp.write, events: POLLOUT)
        // The client's ends of standard output and error are watched for errors only: a
        // client that went away (killed, reset, ClientAlive timeout) leaves them broken.
        let clientOut = [scope.watch(1, events: 0), scope.watch(2, events: 0)]
        // The state the line leaves is read as it comes: a large one must not hold the job at
        // its exit, waiting for room in the pipe.
        let carried = scope.watch(statePipe.read)
        let again = scope.timer()
        scope.prepare = { [self] in
            // While the recorder is backed up the job's output waits in its pipes (and the job
            // blocks writing): nothing is shown that is not on its way to the store.
            let backedUp = recorder.backedUp
            for (w, fd) in zip(streams, [out.read, err.read]) { w.fd = open[fd] == nil || backedUp ? -1 : fd }
            client.fd = stdin.wantsInput && exitStatus == nil ? 0 : -1
            toJob.fd = stdin.wantsToWrite ? inp.write : -1
            for (w, fd) in zip(clientOut, [Int32(1), 2]) { w.fd = ending.ending ? -1 : fd }
            carried.fd = stateOpen ? statePipe.read : -1
            again.deadline = open.isEmpty || backedUp ? loop.now + 50_000 : nil
        }
        scope.onSignal = { sig in
            if sig == SIGHUP || sig == SIGTERM { ending.end(sig == SIGHUP ? .hangup : .terminated) }
        }
        scope.onWatchdog = { [self] found in
            guard !ending.ending else { return }
            switch found {
            case .fine: break
            case .warn(let message): say("\(message)\n", stream: .stderr)
            case .end(let reason, let message):
                say("\(message)\n", stream: .stderr)
                ending.end(reason)
            }
        }
        scope.afterTurn = { [self] in
            if client.ready {
                let bytes = readSome(0)
                if let bytes, !bytes.isEmpty { recorder.record(.stdin, bytes) }
                stdin.received(bytes)
            }
            if toJob.ready || stdin.wantsToWrite { stdin.write() }
            if clientOut.contains(where: { $0.has(POLLERR | POLLHUP) }) { ending.end(.hangup) }
            if carried.ready {
                if let bytes = readSome(statePipe.read, max: 1 << 20) {
                    if stateBytes.count < 8 << 20 { stateBytes += bytes }
                } else {
                    stateOpen = false
                }
            }
            for (k, w) in streams.enumerated() where w.ready {
                let fd = w.fd
                if let bytes = readSome(fd, max: recorder.readRoom), !bytes.isEmpty {
                    guard recorder.failure == nil else { continue }
                    recorder.record(open[fd] ?? .output, bytes)
                    writeAll(k == 0 ? 1 : 2, bytes)
                } else if readSome(fd) == nil {
                    open[fd] = nil
                    close(fd)
                }
            }
            if exitStatus == nil, let s = reap(pid), s >= 0 {
                exitStatus = s
                // The line is over: what it did not read is not passed on (nor waited for), and
                // what it left running (holding its pipes or not) ends now, as on a terminal.
                stdin.close()
                guardian?.release(pid)
                endOrphans()
            }
            if recorder.failure != nil { ending.kill(.recordingFailed) }
        }
        loop.run(scope) { open.isEmpty && exitStatus != nil }
        stdin.close()
        while stateOpen, stateBytes.count < 8 << 20, let bytes = readSome(statePipe.read, max: 1 << 20), !bytes.isEmpty { stateBytes += bytes }
        close(statePipe.read)
        noteUncarried(state.absorb(stateBytes))
        recorder.marker(["event": "exited", "status": .int(Int(exitStatus ?? 1))])
        if let reason = ending.reason { ended = reason; return .ended(reason) }
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
