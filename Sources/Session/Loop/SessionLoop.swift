#if canImport(Glibc)
import Glibc
#endif

extension Session {
    /// The session's own sources, waited for under every activity: the signal self-pipe, the
    /// grant's watchdog, the recorder's chunk deadline and commits, and the exec guard's news.
    func installLoop() {
        let base = loop.base
        base.watch(signals.read) { [unowned self] in
            for sig in self.pendingSignals() { self.loop.signalHandler?(sig) }
        }
        let flush = base.timer { [unowned self] in self.recorder?.flushIfDue() }
        // A commit gives the relays room again: the next turn's prepare sees it.
        let committed = base.watch { [unowned self] in self.recorder?.drainCommitted() }
        let grant = base.timer { [unowned self] in
            guard let handler = self.loop.watchdogHandler else { return }
            let outcome = self.watchdog.check(self.setup.store, now: self.now)
            if outcome != .fine { handler(outcome) }
        }
        if let guardian {
            base.watch(guardian.news) { guardian.settle() }
        }
        // A job held stopped by the guard (a SIGCONT to deliver) is looked at again soon.
        let held = base.timer()
        base.prepare = { [unowned self] in
            let now = self.loop.now
            flush.deadline = self.recorder?.dueIn.map { now + $0 }
            committed.fd = self.recorder?.committed ?? -1
            let due = self.watchdog.nextCheck(now: self.now)
            grant.deadline = self.loop.watchdogHandler == nil ? nil : now + max(0, due - self.clock.wall)
            held.deadline = self.guardian?.holdsStopped == true ? now + 200_000 : nil
        }
        loop.afterWake = { [unowned self] in self.guardian?.continueSignalled() }
    }
}

/// How a job ends when its session must (expiry, revocation, a lock, a hang-up): SIGHUP to its
/// process group at once, SIGKILL 3 s later to whatever ignored it. The first reason is the one
/// recorded.
final class JobEnding {
    static let grace: Int64 = 3_000_000
    private(set) var reason: EndReason?
    private let group: pid_t
    private let loop: EventLoop
    private let timer: LoopTimer
    private let send: (pid_t, Int32) -> Void

    /// `afterKill` runs once the SIGKILL went (exec mode ends what the job left behind there).
    init(group: pid_t, scope: LoopScope, loop: EventLoop, send: @escaping (pid_t, Int32) -> Void = { _ = Glibc.kill($0, $1) },
         afterKill: @escaping () -> Void = {}) {
        self.group = group
        self.loop = loop
        self.send = send
        timer = scope.timer {
            send(-group, SIGKILL)
            afterKill()
        }
    }

    var ending: Bool { reason != nil }

    /// SIGHUP now, SIGKILL after the grace period.
    func end(_ why: EndReason) {
        guard reason == nil else { return }
        reason = why
        send(-group, SIGHUP)
        timer.deadline = loop.now + JobEnding.grace
    }

    /// SIGKILL now: nothing more of the job may be shown (its recording failed).
    func kill(_ why: EndReason) {
        guard reason == nil else { return }
        reason = why
        send(-group, SIGKILL)
        timer.deadline = nil
    }
}
