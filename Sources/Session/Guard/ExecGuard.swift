import CSpawn
import Foundation
import Posix
#if canImport(Glibc)
import Glibc
#endif

/// What the exec guard asks of the session it guards.
protocol ExecGuardDelegate: AnyObject {
    /// Decides the program `pid` is about to run; false kills it before it runs.
    func judgeExec(_ pid: pid_t) -> Bool
    /// `pid` tried to leave the guard's sight (the job filter's trace stop); it is killed after this.
    func refuseEscape(_ pid: pid_t, _ attempt: ExecGuard.Escape)
}

/// Traces every job so that each exec is decided when the new image is loaded and has not run
/// one instruction (sudo's intercept idea, done with ptrace events: no per-syscall stops).
/// Signals, group-stops (Ctrl-Z), fork and threads pass through as without a tracer; the job
/// filter (seccomp.c) stops only a clone that asks not to be traced.
final class ExecGuard {
    enum Escape: Equatable {
        case untracedClone
        var reason: String { "it tried to start a process the exec guard would not see (clone with CLONE_UNTRACED)" }
    }

    enum LeaderState: Equatable {
        case running, stopped, exited(Int32)
    }

    unowned let delegate: ExecGuardDelegate
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
    /// Exit statuses of children that were not traced (reaped here because waits take any child).
    private(set) var untraced: [pid_t: Int32] = [:]

    init(delegate: ExecGuardDelegate) { self.delegate = delegate }

    struct AttachError: Error, CustomStringConvertible {
        var errno: Int32
        var description: String { "the job could not be started under the exec guard: \(String(cString: strerror(errno)))" }
    }

    /// Takes a child spawned with `trace` (stopped before its exec) under the guard and lets it run.
    func attach(_ pid: pid_t, report: Int32) throws(AttachError) {
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
        _ = jitsh_trace_cont(pid, 0)
        // EOF: the exec happened (the report pipe closes on exec); four bytes: it failed.
        if let e = childError(report) {
            _ = jitsh_wait_pid(pid, &status)
            forget(pid)
            leaders[pid] = nil
            throw AttachError(errno: e)
        }
    }

    private func childError(_ report: Int32) -> Int32? {
        var e: Int32 = 0
        var n: Int
        repeat { n = read(report, &e, 4) } while n < 0 && errno == EINTR
        return n == 4 ? e : nil
    }

    func state(of leader: pid_t) -> LeaderState? { leaders[leader] }

    /// The exit status of an untraced child the guard's waits reaped, once.
    func takeUntraced(_ pid: pid_t) -> Int32? { untraced.removeValue(forKey: pid) }

    /// Handles every pending stop and exit of every traced task.
    func pump() {
        var status: Int32 = 0
        while true {
            let pid = jitsh_wait_any(&status)
            guard pid > 0 else { return }
            guard WaitStatus.stopped(status) else {
                let code = WaitStatus.code(status)
                if tasks.contains(pid) || leaders[pid] != nil {
                    if leaders[pid] != nil { leaders[pid] = .exited(code) }
                    forget(pid)
                } else {
                    untraced[pid] = code
                }
                continue
            }
            handleStop(pid, status)
        }
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
                    if early.remove(child) != nil { _ = jitsh_trace_cont(child, 0) } else { fresh.insert(child) }
                }
            case ExecGuard.eventExec:
                // A thread that exec'd took over the thread group's id; its old id is gone.
                let former = pid_t(truncatingIfNeeded: jitsh_trace_eventmsg(pid))
                if former > 0 && former != pid { forget(former) }
                if shellExec.remove(pid) == nil && !delegate.judgeExec(pid) {
                    kill(pid, SIGKILL)
                    return
                }
            case ExecGuard.eventSeccomp:
                if jitsh_trace_eventmsg(pid) == JITSH_SECCOMP_UNTRACED_CLONE {
                    delegate.refuseEscape(pid, .untracedClone)
                    kill(pid, SIGKILL)
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
            if leaders[pid] != nil { leaders[pid] = .stopped }
            return
        }
        _ = jitsh_trace_cont(pid, signal)
    }

    /// After `fg` sent SIGCONT: tasks of the job held in group-stop go on. A task whose stop is
    /// reported only now (the leader's stop suspended the job before its children's arrived)
    /// goes on too when it is reported, within half a second.
    func resume(_ leader: pid_t) {
        pump()
        resumedAt[leader] = monotonicSeconds()
        for pid in groupStopped where owner[pid] == leader {
            groupStopped.remove(pid)
            _ = jitsh_trace_cont(pid, 0)
        }
        if leaders[leader] == .stopped { leaders[leader] = .running }
    }

    /// Whether a task is held in group-stop: the relay then looks at it now and then.
    var holdsStopped: Bool { !groupStopped.isEmpty }

    /// A task in group-stop that another process continued (`timeout` sends SIGTERM and SIGCONT
    /// to a command it put in a process group of its own): without a tracer SIGCONT would wake
    /// it, but a traced task stays stopped until its tracer lets it go, so it goes on here.
    func continueSignalled() {
        for pid in groupStopped where ExecGuard.continuePending(pid) {
            groupStopped.remove(pid)
            if leaders[pid] == .stopped { leaders[pid] = .running }
            _ = jitsh_trace_cont(pid, 0)
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
        for (pid, o) in owner where o == leader { kill(pid, SIGKILL) }
        leaders[leader] = nil
        resumedAt[leader] = nil
        pump()
    }

    /// The tasks of a job (its leader's, however far they forked), to be kept while it is stopped.
    func members(of leader: pid_t) -> Set<pid_t> {
        Set(owner.filter { $0.value == leader }.map(\.key))
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
