import Posix
#if canImport(Glibc)
import Glibc
#endif

/// A descriptor the loop waits on. Its owner says before each wait what it waits for
/// (`fd` -1: nothing now); after the wait `revents` says what happened, until the next wait.
final class LoopWatch {
    var fd: Int32
    var events: Int16
    fileprivate(set) var revents: Int16 = 0
    fileprivate let handler: (() -> Void)?

    init(fd: Int32, events: Int32, handler: (() -> Void)?) {
        self.fd = fd
        self.events = Int16(events)
        self.handler = handler
    }

    var ready: Bool { revents != 0 }
    func has(_ mask: Int32) -> Bool { revents & Int16(mask) != 0 }
}

/// Something due at a moment of the loop's clock (`deadline`, monotonic microseconds; nil: idle).
/// A timer fires once per arming.
final class LoopTimer {
    var deadline: Int64?
    fileprivate let fire: () -> Void

    init(fire: @escaping () -> Void) { self.fire = fire }
}

/// One activity's part of the loop (the prompt, a job's relay, a transfer, the confirmation
/// phrase, a dry run): its descriptors and timers, and what it does around each wait. Only the
/// innermost activity is waited for, beside the session's own scope (signals, grant, recorder).
final class LoopScope {
    fileprivate(set) var watches: [LoopWatch] = []
    fileprivate(set) var timers: [LoopTimer] = []
    /// Before each wait: say what the watches wait for, arm or disarm timers.
    var prepare: (() -> Void)?
    /// After the watches' handlers and the due timers, once per wait.
    var afterTurn: (() -> Void)?
    /// A signal the session received (SIGHUP, SIGTERM, SIGWINCH, SIGCHLD) while this scope ran.
    /// A scope without one leaves signals to the activity it runs in (a dry run's to the prompt's).
    var onSignal: ((Int32) -> Void)?
    /// What the grant's watchdog found, when it is not `.fine`; as `onSignal`, the innermost
    /// activity that has one is told, and no watchdog runs while none has.
    var onWatchdog: ((Watchdog.Outcome) -> Void)?

    @discardableResult
    func watch(_ fd: Int32 = -1, events: Int32 = POLLIN, handler: (() -> Void)? = nil) -> LoopWatch {
        let w = LoopWatch(fd: fd, events: events, handler: handler)
        watches.append(w)
        return w
    }

    @discardableResult
    func timer(_ fire: @escaping () -> Void = {}) -> LoopTimer {
        let t = LoopTimer(fire: fire)
        timers.append(t)
        return t
    }
}

/// How the loop waits: `poll` (the one call of it in a session), or a test's stand-in that
/// moves a manual clock instead of sleeping.
protocol Waiter {
    /// Waits until a descriptor is ready or `timeout` microseconds passed (nil: no limit).
    func wait(_ fds: inout [pollfd], timeout: Int64?) -> Int32
}

struct PollWaiter: Waiter {
    func wait(_ fds: inout [pollfd], timeout: Int64?) -> Int32 {
        // Rounded up: a timer due in 0.3 ms must not make the loop spin until it is.
        let ms = timeout.map { Int32(clamping: ($0 + 999) / 1000) } ?? -1
        return Posix.wait(&fds, milliseconds: ms)
    }
}

/// For tests: descriptors are looked at without waiting long, and when none is ready the
/// manual clock jumps to the deadline the loop asked for, so minutes of timers pass in milliseconds.
struct ManualWaiter: Waiter {
    let clock: ManualClock
    /// Real time given to the descriptors on each wait (a child process's exit takes some).
    var grace: Int32 = 5

    func wait(_ fds: inout [pollfd], timeout: Int64?) -> Int32 {
        let ready = Posix.wait(&fds, milliseconds: timeout == 0 ? 0 : grace)
        if ready == 0, let timeout { clock.advance(by: timeout) }
        return ready
    }
}

/// The session's one event loop: one wait over the registered descriptors and the earliest
/// timer, with an injected clock (swift-nio's `EventLoop` is the model; `ManualWaiter` with a
/// `ManualClock` is its `EmbeddedEventLoop`). Activities run on it one inside the other: the
/// prompt runs a job, a confirmation runs a dry run; each waits only for its own sources.
final class EventLoop {
    let clock: any SessionClock
    let waiter: any Waiter
    /// The session's own sources, always waited for.
    let base = LoopScope()
    /// Right after every wait, before anything is handled (the exec guard resumes what a
    /// SIGCONT woke there).
    var afterWake: (() -> Void)?
    private var scopes: [LoopScope] = []

    init(clock: any SessionClock = SystemClock.shared, waiter: any Waiter = PollWaiter()) {
        self.clock = clock
        self.waiter = waiter
    }

    var now: Int64 { clock.monotonic }

    /// Who hears of a signal now: the innermost activity that listens.
    var signalHandler: ((Int32) -> Void)? { scopes.reversed().lazy.compactMap(\.onSignal).first }
    /// Who hears of the grant's watchdog now.
    var watchdogHandler: ((Watchdog.Outcome) -> Void)? { scopes.reversed().lazy.compactMap(\.onWatchdog).first }

    /// Runs `scope` until `done` says so (checked before every wait).
    func run(_ scope: LoopScope, until done: () -> Bool) {
        scopes.append(scope)
        defer { scopes.removeLast() }
        while !done() { turn() }
    }

    /// One wait and what follows it.
    func turn() {
        let running = [base] + (scopes.last.map { [$0] } ?? [])
        for scope in running { scope.prepare?() }
        let watches = running.flatMap(\.watches)
        var fds = watches.map { pollfd(fd: $0.fd, events: $0.fd < 0 ? 0 : $0.events, revents: 0) }
        let timers = running.flatMap(\.timers)
        let deadline = timers.compactMap(\.deadline).min()
        let ready = waiter.wait(&fds, timeout: deadline.map { max(0, $0 - now) })
        for (w, p) in zip(watches, fds) { w.revents = ready > 0 && w.fd >= 0 ? p.revents : 0 }
        afterWake?()
        for w in watches where w.ready { w.handler?() }
        let t = now
        for timer in timers {
            guard let d = timer.deadline, d <= t else { continue }
            timer.deadline = nil
            timer.fire()
        }
        for scope in running { scope.afterTurn?() }
    }
}
