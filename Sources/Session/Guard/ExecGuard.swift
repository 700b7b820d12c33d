import CSpawn
import Foundation
import Posix
#if canImport(Glibc)
import Glibc
#endif

/// What the exec guard asks of the session it guards, on the session's thread.
protocol ExecGuardDelegate: AnyObject {
    /// An exec the guard thread did not find plainly allowed, or an escape: said and recorded
    /// here while the task waits stopped (nothing of the new image has run); true lets it run,
    /// false kills it.
    func settle(_ pid: pid_t, _ verdict: ExecVerdict) -> Bool
}

/// Traces every job so that each exec is decided when the new image is loaded and has not run
/// one instruction (sudo's intercept idea, done with ptrace events: no per-syscall stops).
/// Signals, group-stops (Ctrl-Z), fork and threads pass through as without a tracer; the job
/// filter (seccomp.c) stops only a clone that asks not to be traced.
///
/// The tracing runs on a thread of its own, blocked in `waitpid`: a fork and exec stops the job
/// three times (fork event, the child's first stop, exec event) and its exit waits for the
/// tracer's wait, so each stop is answered at once instead of after a wake of the session's loop
/// (a signal, the self-pipe, a poll, a turn). That thread spawns the jobs too, since ptrace
/// requests come only from the thread that traces. It decides the execs the role plainly
/// allows; anything else (a block, an escape, a setuid note) is handed to the session's thread
/// through `news`, with the task held stopped until the session has said and recorded it.
final class ExecGuard: @unchecked Sendable {
    enum Escape: Equatable {
        case untracedClone
        var reason: String { "it tried to start a process the exec guard would not see (clone with CLONE_UNTRACED)" }
    }

    enum LeaderState: Equatable {
        case running, stopped, exited(Int32)
    }

    unowned let delegate: ExecGuardDelegate
    /// Readable when the guard thread has news for the session: a job's leader stopped or
    /// exited, or an exec waits to be settled. The session's loop watches it.
    let news: Int32
    private let newsWrite: Int32
    private let judge: ExecJudge

    // The guard thread's state. It alone changes it (the session's thread through `perform`);
    // the session's thread reads it under `lock`.
    private let lock = NSCondition()
    private var thread: pid_t = 0
    private var requests: [Request] = []
    private var tasks: Set<pid_t> = []
    /// The job each task belongs to (its leader), inherited on fork.
    private var owner: [pid_t: pid_t] = [:]
    /// Tasks attached by a fork event whose first stop (an artificial SIGSTOP) is still due.
    private var fresh: Set<pid_t> = []
    /// Tasks whose first stop came before the fork event that announces them.
    private var early: Set<pid_t> = []
    private var groupStopped: Set<pid_t> = []
    private var leaders: [pid_t: LeaderState] = [:]
    /// The leader's own exec of jitsh's shell, which is not a user's program.
    private var shellExec: Set<pid_t> = []
    /// When each job was last continued by `fg`.
    private var resumedAt: [pid_t: Double] = [:]
    /// Jobs where a clone event was seen (a thread, most likely): only there can an exec come
    /// from a thread other than the leader, whose old id the exec event's message names. Other
    /// jobs' execs skip that request (one ptrace call fewer per exec).
    private var threaded: Set<pid_t> = []
    /// What each job's execs are decided by (its leader's line: role, confirmations, cwd).
    private var rules: [pid_t: ExecRules] = [:]
    /// Whether SIGCHLD is left to its default action (no wake of the session) while traced jobs live.
    private var childSignalsQuiet = false
    /// Execs (and escapes) held stopped for the session to settle, in the order they stopped.
    private var unsettled: [(pid: pid_t, verdict: ExecVerdict)] = []

    private final class Request {
        let work: () -> Void
        var taken = false
        var done = false
        init(_ work: @escaping () -> Void) { self.work = work }
    }

    init(delegate: ExecGuardDelegate, judge: ExecJudge) throws(AttachError) {
        guard let pipe = makePipe() else { throw AttachError(errno: errno) }
        setNonBlocking(pipe.read)
        setNonBlocking(pipe.write)
        news = pipe.read
        newsWrite = pipe.write
        self.delegate = delegate
        self.judge = judge
        let started = Thread { [self] in run() }
        started.name = "jitsh-guard"
        started.start()
        lock.lock()
        while thread == 0 { lock.wait() }
        lock.unlock()
    }

    struct AttachError: Error, CustomStringConvertible {
        var errno: Int32
        var description: String { "the job could not be started under the exec guard: \(String(cString: strerror(errno)))" }
    }

    // MARK: The session's thread

    /// Spawns `spec` on the guard thread (its tracer), stopped before its exec, takes it under
    /// the guard and lets it run; its execs are decided by `rules`.
    func spawn(_ spec: Spawner.Spec, rules: ExecRules) throws -> pid_t {
        let outcome: Result<pid_t, any Error> = perform {
            do {
                let (pid, report) = try Spawner.spawn(spec)
                try self.attach(pid, report: report, rules: rules)
                return .success(pid)
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    func state(of leader: pid_t) -> LeaderState? {
        lock.lock()
        defer { lock.unlock() }
        return leaders[leader]
    }

    /// Settles what the guard thread holds stopped for the session: each is said and recorded
    /// (or just let go), then continued or killed. Called when `news` is readable, and before a
    /// job's end is acted on, so a block is said before the line's end, as it happened.
    func settle() {
        while readSome(news, max: 4096)?.isEmpty == false {}
        lock.lock()
        let pending = unsettled
        unsettled.removeAll()
        lock.unlock()
        for (pid, verdict) in pending {
            if delegate.settle(pid, verdict) {
                perform { _ = jitsh_trace_cont(pid, 0) }
            } else {
                kill(pid, SIGKILL)
            }
        }
    }

    /// After `fg` sent SIGCONT: tasks of the job held in group-stop go on. A task whose stop is
    /// reported only now (the leader's stop suspended the job before its children's arrived)
    /// goes on too when it is reported, within half a second.
    func resume(_ leader: pid_t) {
        perform {
            self.resumedAt[leader] = monotonicSeconds()
            for pid in self.groupStopped where self.owner[pid] == leader {
                self.groupStopped.remove(pid)
                _ = jitsh_trace_cont(pid, 0)
            }
            if self.leaders[leader] == .stopped { self.leaders[leader] = .running }
        }
    }

    /// Whether a task is held in group-stop: the relay then looks at it now and then.
    var holdsStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return !groupStopped.isEmpty
    }

    /// A task in group-stop that another process continued (`timeout` sends SIGTERM and SIGCONT
    /// to a command it put in a process group of its own): without a tracer SIGCONT would wake
    /// it, but a traced task stays stopped until its tracer lets it go, so it goes on here.
    func continueSignalled() {
        lock.lock()
        let stopped = groupStopped
        lock.unlock()
        let woken = stopped.filter(ExecGuard.continuePending)
        guard !woken.isEmpty else { return }
        perform {
            for pid in woken where self.groupStopped.remove(pid) != nil {
                if self.leaders[pid] == .stopped { self.leaders[pid] = .running }
                _ = jitsh_trace_cont(pid, 0)
            }
        }
    }

    /// SIGCONT pending for the task or its process (`SigPnd`/`ShdPnd` in /proc/PID/status).
    static func continuePending(_ pid: pid_t) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        let bit = UInt64(1) << UInt64(SIGCONT - 1)
        for line in text.split(separator: "\n") where line.hasPrefix("SigPnd:") || line.hasPrefix("ShdPnd:") {
            if let mask = UInt64(line.split(separator: "\t").last ?? "", radix: 16), mask & bit != 0 { return true }
        }
        return false
    }

    /// The job is over: what is left of it (background processes, already sent SIGHUP) is killed.
    func release(_ leader: pid_t) {
        settle()
        perform {
            for (pid, o) in self.owner where o == leader { kill(pid, SIGKILL) }
            self.leaders[leader] = nil
            self.resumedAt[leader] = nil
            self.rules[leader] = nil
            self.threaded.remove(leader)
            self.drain()
            self.quietChildSignals()
        }
    }

    /// The tasks of a job (its leader's, however far they forked), to be kept while it is stopped.
    func members(of leader: pid_t) -> Set<pid_t> {
        lock.lock()
        defer { lock.unlock() }
        return Set(owner.filter { $0.value == leader }.map(\.key))
    }

    /// Runs `work` on the guard thread and returns what it returned. A guard thread blocked in
    /// its wait is kicked out of it; a kick that lands just before it enters the wait is lost,
    /// so it is repeated until the thread took the work.
    @discardableResult
    private func perform<T>(_ work: @escaping () -> T) -> T {
        var result: T?
        let request = Request { result = work() }
        lock.lock()
        requests.append(request)
        lock.broadcast()
        while !request.done {
            if !request.taken { _ = jitsh_guard_kick(thread) }
            _ = lock.wait(until: Date(timeIntervalSinceNow: 0.002))
        }
        lock.unlock()
        return result!
    }

    // MARK: The guard thread

    private func run() {
        let me = jitsh_guard_thread_enter()
        lock.lock()
        thread = me
        lock.broadcast()
        while true {
            if !requests.isEmpty {
                let work = requests
                requests.removeAll()
                for r in work { r.taken = true }
                for r in work {
                    r.work()
                    r.done = true
                }
                lock.broadcast()
                continue
            }
            guard !tasks.isEmpty else {
                lock.wait()
                continue
            }
            lock.unlock()
            var status: Int32 = 0
            let pid = jitsh_guard_wait(&status)
            let failure = errno
            lock.lock()
            // One stop at a time: a blocking wait returns at once when another is pending, and
            // a non-blocking one after each would only cost a wait4 that finds nothing.
            if pid > 0 {
                handle(pid, status)
            } else if failure == ECHILD {
                lost()
            }
        }
    }

    /// Takes a child spawned with `trace` (stopped before its exec) under the guard and lets it run.
    private func attach(_ pid: pid_t, report: Int32, rules: ExecRules) throws(AttachError) {
        defer { close(report) }
        var status: Int32 = 0
        guard jitsh_wait_pid(pid, &status) == pid, WaitStatus.stopped(status) else {
            throw AttachError(errno: childError(report) ?? EPERM)
        }
        guard jitsh_trace_setoptions(pid) == 0 else {
            let e = errno
            kill(pid, SIGKILL)
            _ = jitsh_wait_pid(pid, &status)
            throw AttachError(errno: e)
        }
        tasks.insert(pid)
        owner[pid] = pid
        leaders[pid] = .running
        shellExec.insert(pid)
        self.rules[pid] = rules
        quietChildSignals()
        _ = jitsh_trace_cont(pid, 0)
        // EOF: the exec happened (the report pipe closes on exec); four bytes: it failed.
        if let e = childError(report) {
            _ = jitsh_wait_pid(pid, &status)
            forget(pid)
            leaders[pid] = nil
            self.rules[pid] = nil
            quietChildSignals()
            throw AttachError(errno: e)
        }
    }

    private func childError(_ report: Int32) -> Int32? {
        var e: Int32 = 0
        var n: Int
        repeat { n = read(report, &e, 4) } while n < 0 && errno == EINTR
        return n == 4 ? e : nil
    }

    /// Handles every stop and exit already pending.
    private func drain() {
        var status: Int32 = 0
        while true {
            let pid = jitsh_guard_poll(&status)
            guard pid > 0 else { return }
            handle(pid, status)
        }
    }

    private func handle(_ pid: pid_t, _ status: Int32) {
        guard WaitStatus.stopped(status) else {
            if leaders[pid] != nil {
                leaders[pid] = .exited(WaitStatus.code(status))
                tell()
            }
            forget(pid)
            return
        }
        handleStop(pid, status)
    }

    /// No child is left to wait for, yet some tasks were never seen to end: they are gone, and
    /// a leader among them ended without a status this thread saw.
    private func lost() {
        for pid in tasks where leaders[pid] == .running || leaders[pid] == .stopped {
            leaders[pid] = .exited(1)
        }
        for pid in tasks { forget(pid) }
        tell()
    }

    private func handleStop(_ pid: pid_t, _ status: Int32) {
        let signal = (status >> 8) & 0xff
        let event = status >> 16
        if signal == SIGTRAP && event != 0 {
            switch event {
            case ExecGuard.eventFork, ExecGuard.eventVfork, ExecGuard.eventClone:
                let child = pid_t(truncatingIfNeeded: jitsh_trace_eventmsg(pid))
                if child > 0 {
                    tasks.insert(child)
                    owner[child] = owner[pid] ?? pid
                    if event == ExecGuard.eventClone { threaded.insert(owner[pid] ?? pid) }
                    if early.remove(child) != nil { _ = jitsh_trace_cont(child, 0) } else { fresh.insert(child) }
                }
            case ExecGuard.eventExec:
                // A thread that exec'd took over the thread group's id; its old id is gone.
                if threaded.contains(owner[pid] ?? pid) {
                    let former = pid_t(truncatingIfNeeded: jitsh_trace_eventmsg(pid))
                    if former > 0 && former != pid { forget(former) }
                }
                if shellExec.remove(pid) == nil {
                    let verdict: ExecVerdict = rules[owner[pid] ?? pid].map { judge.verdict(pid, $0) }
                        ?? .block(program: "process \(pid)", parent: "?", reason: "the line it belongs to is over", rule: "")
                    if verdict != .allow {
                        hold(pid, verdict)
                        return
                    }
                }
            case ExecGuard.eventSeccomp:
                if jitsh_trace_eventmsg(pid) == JITSH_SECCOMP_UNTRACED_CLONE {
                    let program = ExecImage.read(pid)?.executable ?? "process \(pid)"
                    hold(pid, .block(program: program, parent: ExecImage.parentName(pid), reason: Escape.untracedClone.reason, rule: ""))
                    return
                }
            default:
                break
            }
            _ = jitsh_trace_cont(pid, 0)
            return
        }
        if !tasks.contains(pid) {
            // A new task stopping before its parent's fork event was seen.
            tasks.insert(pid)
            early.insert(pid)
            return
        }
        if fresh.remove(pid) != nil && signal == SIGSTOP {
            _ = jitsh_trace_cont(pid, 0)
            return
        }
        if [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU].contains(signal) && jitsh_trace_is_group_stop(pid) != 0 {
            if let leader = owner[pid], leaders[leader] == .running, let at = resumedAt[leader], monotonicSeconds() - at < 0.5 {
                _ = jitsh_trace_cont(pid, 0)
                return
            }
            // Stays stopped, as it would without a tracer, until fg continues it.
            groupStopped.insert(pid)
            if leaders[pid] != nil {
                leaders[pid] = .stopped
                tell()
            }
            return
        }
        _ = jitsh_trace_cont(pid, signal)
    }

    /// SIGCHLD wakes the session only while no traced job lives (stopped ones count): its
    /// children then are others (a transfer, a webhook), and theirs it must hear of.
    private func quietChildSignals() {
        let quiet = !leaders.isEmpty
        guard quiet != childSignalsQuiet else { return }
        childSignalsQuiet = quiet
        _ = jitsh_signals_child(quiet ? 0 : 1)
    }

    /// The task stays stopped until the session settled it.
    private func hold(_ pid: pid_t, _ verdict: ExecVerdict) {
        unsettled.append((pid, verdict))
        tell()
    }

    /// Wakes the session's loop (a full pipe already will).
    private func tell() {
        var byte: UInt8 = 1
        _ = write(newsWrite, &byte, 1)
    }

    private func forget(_ pid: pid_t) {
        tasks.remove(pid)
        owner[pid] = nil
        fresh.remove(pid)
        early.remove(pid)
        groupStopped.remove(pid)
    }

    // <linux/ptrace.h>: the event numbers in bits 16-23 of a stop status.
    static let eventFork: Int32 = 1, eventVfork: Int32 = 2, eventClone: Int32 = 3, eventExec: Int32 = 4
    static let eventSeccomp: Int32 = 7
}
