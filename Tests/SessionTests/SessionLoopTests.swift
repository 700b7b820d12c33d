import Foundation
import Policy
import Posix
@testable import Session
import Store
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The session's timers on its one loop, driven by a manual clock: minutes of a session pass in
/// milliseconds, and each test says at which moment of that clock something happened.
@Suite struct SessionLoopTests {
    static let policy = try! PolicyLoader.load([
        PolicyFile(path: "policy.yaml", text: "trusted_paths: [/usr/bin, /bin]\n"),
        PolicyFile(path: "roles/loop.yaml", text: "role: loop\nguard: off\nallow:\n  - cmd: [echo, sleep]\n"),
    ], lint: false)

    /// A session of role `loop` on a pipe for a terminal, over an in-memory store, with its grant
    /// ending `seconds` after the manual clock's start.
    final class Bed {
        let clock = ManualClock()
        let store = MemoryStore()
        let session: Session
        let typed: (read: Int32, write: Int32)
        let shown: (read: Int32, write: Int32)
        let start: Int64

        /// `grace`: real milliseconds each wait gives the descriptors before the clock jumps.
        init(grantSeconds: Int64 = 3600, grace: Int32 = 5) throws {
            let now = clock.wall
            let grant = try store.insertGrant(
                Grant(identity: "alice", role: "loop", contract: "test", hostPattern: "*", reason: "loop tests", requestedAt: now,
                      startsAt: now, duration: grantSeconds * 1_000_000, approvalsNeeded: 0, maxDuration: grantSeconds * 1_000_000,
                      pendingTTL: 60_000_000, breakGlass: true),
                notifications: [])
            guard let typed = makePipe(), let shown = makePipe() else { throw POSIXError(.EMFILE) }
            self.typed = typed
            self.shown = shown
            setNonBlocking(typed.read)
            setNonBlocking(shown.read)
            let policy = SessionLoopTests.policy
            let setup = SessionSetup(identity: "alice", login: "alice", policy: policy, role: policy.role("loop")!, grant: grant,
                                     host: HostInfo(name: "test-host"), store: store,
                                     signingKey: SigningKey(privateKey: .init()), client: "test", home: "/", term: "dumb",
                                     shell: "/bin/bash", protectedPaths: [])
            session = try Session(setup, clock: clock, waiter: ManualWaiter(clock: clock, grace: grace),
                                  terminal: UserTerminal(input: typed.read, output: shown.write))
            session.recorder = Recorder(store: store, sessionID: session.id, startedAt: clock.wall, clock: clock)
            try store.startSession(SessionRecord(id: session.id, identity: "alice", login: "alice", role: "loop", grantID: grant.id,
                                                 host: "test-host", client: "test", mode: "interactive", command: "",
                                                 startedAt: clock.wall, width: 80, height: 24),
                                   event: AuditEvent(at: clock.wall, sessionID: session.id, identity: "alice", host: "test-host",
                                                     kind: .sessionStart))
            start = clock.monotonic
        }

        deinit {
            for fd in [typed.read, typed.write, shown.read, shown.write] { close(fd) }
        }

        /// Manual milliseconds since the bed was made.
        var elapsed: Int64 { (clock.monotonic - start) / 1000 }

        func type(_ text: String) { _ = writeAll(typed.write, Array(text.utf8)) }

        var screen: String { String(decoding: readSome(shown.read) ?? [], as: UTF8.self) }
    }

    @Test func timersFireInDeadlineOrderAtTheirMoment() throws {
        let clock = ManualClock()
        let loop = EventLoop(clock: clock, waiter: ManualWaiter(clock: clock))
        let t0 = clock.monotonic
        var fired: [(String, Int64)] = []
        let scope = LoopScope()
        scope.timer { fired.append(("late", (clock.monotonic - t0) / 1000)) }.deadline = t0 + 90_000_000
        scope.timer { fired.append(("early", (clock.monotonic - t0) / 1000)) }.deadline = t0 + 250_000
        let idle = scope.timer { fired.append(("idle", 0)) }
        idle.deadline = nil
        loop.run(scope) { fired.count == 2 }
        #expect(fired.map(\.0) == ["early", "late"])
        #expect(fired.map(\.1) == [250, 90_000])
    }

    @Test func aReadableDescriptorIsHandledWithoutWaitingForTimers() throws {
        let clock = ManualClock()
        let loop = EventLoop(clock: clock, waiter: ManualWaiter(clock: clock))
        let pipe = try #require(makePipe())
        defer { close(pipe.read); close(pipe.write) }
        setNonBlocking(pipe.read)
        _ = writeAll(pipe.write, Array("x".utf8))
        var got: [UInt8] = []
        let scope = LoopScope()
        scope.watch(pipe.read) { got += readSome(pipe.read) ?? [] }
        scope.timer().deadline = clock.monotonic + 60_000_000
        let t0 = clock.monotonic
        loop.run(scope) { !got.isEmpty }
        #expect(got == Array("x".utf8))
        #expect(clock.monotonic == t0)
    }

    @Test func theGrantWarnsAtFiveMinutesAndOneThenEndsTheSessionAtExpiry() throws {
        let bed = try Bed(grantSeconds: 6 * 60)
        var heard: [(Int64, Watchdog.Outcome)] = []
        let scope = LoopScope()
        scope.onWatchdog = { heard.append((bed.elapsed / 1000, $0)) }
        bed.session.loop.run(scope) { heard.contains { if case .end = $0.1 { true } else { false } } }
        #expect(heard.map(\.0) == [60, 300, 360])
        guard heard.count == 3, case .warn(let first) = heard[0].1, case .warn(let second) = heard[1].1,
              case .end(let reason, _) = heard[2].1 else {
            Issue.record("expected two warnings and an end: \(heard)")
            return
        }
        #expect(first.contains("ends in 5m"))
        #expect(second.contains("ends in 1m"))
        #expect(reason == .grantExpired)
    }

    @Test func aRevocationEndsTheSessionAtTheNextLookWithin5s() throws {
        let bed = try Bed()
        var heard: [(Int64, Watchdog.Outcome)] = []
        let scope = LoopScope()
        scope.onWatchdog = { heard.append((bed.elapsed, $0)) }
        // Revoked 12.5 s in: the watchdog looks every 2 s, so the session hears of it at 14 s.
        scope.timer {
            _ = try? bed.store.changeGrant(bed.session.setup.grant.id) { _ in
                (events: [GrantEvent(.revoked, actor: "carol", at: bed.clock.wall, comment: "incident over")], notifications: [])
            }
        }.deadline = bed.clock.monotonic + 12_500_000
        bed.session.loop.run(scope) { !heard.isEmpty }
        #expect(heard.map(\.0) == [14_000])
        guard case .end(let reason, let message) = heard.first?.1 else { Issue.record("\(heard)"); return }
        #expect(reason == .grantRevoked)
        #expect(message.contains("revoked by carol: incident over"))
    }

    @Test func expiryEndsAJobWithSIGHUPThenSIGKILL3sLater() throws {
        let bed = try Bed(grantSeconds: 90)
        var sent: [(Int64, pid_t, Int32)] = []
        let scope = LoopScope()
        let ending = JobEnding(group: 4242, scope: scope, loop: bed.session.loop, send: { sent.append((bed.elapsed, $0, $1)) })
        scope.onWatchdog = { if case .end(let reason, _) = $0 { ending.end(reason) } }
        bed.session.loop.run(scope) { sent.count == 2 }
        #expect(sent.map(\.0) == [90_000, 93_000])
        #expect(sent.map(\.1) == [-4242, -4242])
        #expect(sent.map(\.2) == [SIGHUP, SIGKILL])
        #expect(ending.reason == .grantExpired)
    }

    @Test func aSecondReasonDoesNotRestartTheEndingNorReplaceTheFirst() throws {
        let clock = ManualClock()
        let loop = EventLoop(clock: clock, waiter: ManualWaiter(clock: clock))
        var sent: [Int32] = []
        let scope = LoopScope()
        let ending = JobEnding(group: 7, scope: scope, loop: loop, send: { sent.append($1) })
        ending.end(.grantRevoked)
        ending.end(.hangup)
        ending.kill(.recordingFailed)
        loop.run(scope) { sent.count == 2 }
        #expect(sent == [SIGHUP, SIGKILL])
        #expect(ending.reason == .grantRevoked)
    }

    @Test func aChunkIsHandedToTheStoreAt250msAfterItsFirstFrame() throws {
        let bed = try Bed()
        let recorder = try #require(bed.session.recorder)
        bed.clock.advance(by: 40_000)
        recorder.record(.output, Array("hello\r\n".utf8))
        let recorded = bed.elapsed
        let scope = LoopScope()
        bed.session.loop.run(scope) { recorder.dueIn == nil }
        #expect(recorded == 40)
        #expect(bed.elapsed == 290)
        try recorder.finish(reason: "exit", status: 0, key: bed.session.setup.signingKey, trail: bed.session.trail)
        let chunks = try bed.store.chunks(session: bed.session.id, after: -1, limit: 10)
        #expect(chunks.first?.startedAt == bed.clock.wall - 250_000)
    }

    /// Chunk commits held until the test lets them go: a store that is slow for a moment.
    final class GatedSink: RecordingSink, @unchecked Sendable {
        let inner = MemoryStore()
        let gate = DispatchSemaphore(value: 0)
        var location: String { inner.location }
        func startSession(_ s: SessionRecord, event: AuditEvent) throws { try inner.startSession(s, event: event) }
        func appendChunk(_ c: Chunk) throws {
            gate.wait()
            try inner.appendChunk(c)
        }
        func endSession(_ e: SessionEnd, event: AuditEvent) throws { try inner.endSession(e, event: event) }
        func session(_ id: String) throws -> SessionRecord? { try inner.session(id) }
        func sessionEnd(_ id: String) throws -> SessionEnd? { try inner.sessionEnd(id) }
        func chunks(session id: String, after seq: Int64, limit: Int) throws -> [Chunk] { try inner.chunks(session: id, after: seq, limit: limit) }
    }

    /// A relay held back for room takes the job's output again the moment the writer commits,
    /// not at its next look 50 ms later (which capped a fast job at a chunk per 50 ms).
    @Test func aRelayHeldBackForRoomGoesOnWhenTheWriterCommitsNotAtItsNextLook() throws {
        // A second of real time for each wait: only a descriptor that became ready ends it early.
        let bed = try Bed(grace: 1000)
        let sink = GatedSink()
        try sink.startSession(try #require(try bed.store.session(bed.session.id)),
                              event: AuditEvent(at: bed.clock.wall, sessionID: bed.session.id, identity: "alice", host: "test-host", kind: .sessionStart))
        let recorder = Recorder(store: sink, sessionID: bed.session.id, startedAt: bed.clock.wall, clock: bed.clock)
        bed.session.recorder = recorder
        recorder.record(.output, [UInt8](repeating: 0x61, count: Recorder.unrecordedBound))
        #expect(recorder.backedUp)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) { sink.gate.signal() }
        // As the relays do: while backed up, look again in 50 ms.
        let relay = LoopScope()
        let again = relay.timer()
        relay.prepare = { again.deadline = recorder.backedUp ? bed.clock.monotonic + 50_000 : nil }
        let t0 = bed.elapsed
        bed.session.loop.run(relay) { !recorder.backedUp }
        #expect(bed.elapsed == t0, "the loop waited for its timer, not for the commit")
        #expect(recorder.failure == nil)
        #expect(try sink.inner.chunks(session: bed.session.id, after: -1, limit: 10).count == 1)
        sink.gate.signal()
    }

    @Test func theConfirmationPhraseTimesOutAfter60s() throws {
        let bed = try Bed()
        #expect(bed.session.askPhrase() == .timedOut)
        #expect(bed.elapsed == 60_000)
    }

    @Test func aPhraseTypedInThreePiecesIsAnsweredAndEchoed() throws {
        let bed = try Bed()
        let base = bed.session.loop.base
        bed.type("pro")
        base.timer { bed.type("d-X\u{7f}1") }.deadline = bed.clock.monotonic + 10_000_000
        base.timer { bed.type("\r") }.deadline = bed.clock.monotonic + 20_000_000
        #expect(bed.session.askPhrase() == .typed("prod-1"))
        #expect(bed.elapsed == 20_000)
        #expect(bed.screen == "prod-X\u{8} \u{8}1\n")
    }

    @Test func aHangUpWhileThePhraseIsAskedEndsTheSession() throws {
        let bed = try Bed()
        _ = writeAll(bed.session.signals.write, [UInt8(SIGHUP)])
        #expect(bed.session.askPhrase() == .ended(.hangup))
        #expect(bed.elapsed == 0)
    }

    @Test func theGrantEndingWhileThePhraseIsAskedEndsTheSessionAtExpiry() throws {
        let bed = try Bed(grantSeconds: 30)
        #expect(bed.session.askPhrase() == .ended(.grantExpired))
        #expect(bed.elapsed == 30_000)
        #expect(bed.screen.contains("has ended; the session ends"))
    }

    /// The dry run's bash parses a line as the job's does: extglob on in both (it was off in dry
    /// runs, where `+(a|b)x` was a syntax error and nothing was shown).
    @Test func aDryRunsBashParsesTheLineAsTheJobsDoes() throws {
        let bed = try Bed()
        let run = bed.session.capture("shopt -q extglob && echo extglob on; echo +(a|b)x", seconds: 3600)
        #expect(run.status == 0)
        #expect(String(decoding: run.output, as: UTF8.self) == "extglob on\n+(a|b)x\n")
        #expect(Bash.job.starts(with: ["bash"] + Bash.options) && Bash.running("x").starts(with: ["bash"] + Bash.options))
    }
}
