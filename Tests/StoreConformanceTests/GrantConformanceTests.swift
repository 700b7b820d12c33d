import Foundation
import Store
import Testing

/// Grants, locks and the outbox, the same on every back end.
@Suite(.timeLimit(.minutes(1)))
struct GrantConformanceTests {
    @Test(arguments: Backend.allCases)
    func aGrantIsItsEventsInOrder(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let g = try bed.store.insertGrant(Fixture.grant(), notifications: [Notification(event: "requested", text: "asked", fields: [:])])
        #expect(g.id > 0)
        #expect(try bed.store.grant(g.id)?.state(at: g.requestedAt + 1) == .pending)
        let approved = try bed.store.changeGrant(g.id) { current in
            #expect(current.events.map(\.kind) == [.requested])
            return ([GrantEvent(.approved, actor: "lead1", at: current.requestedAt + 5, comment: "ok")],
                    [Notification(event: "approved", text: "approved", fields: [:])])
        }
        #expect(approved.events.map(\.kind) == [.requested, .approved])
        let stored = try #require(try bed.store.grant(g.id))
        #expect(stored == approved)
        #expect(stored.state(at: g.requestedAt + 10) == .active)
        #expect(stored.events.last == GrantEvent(.approved, actor: "lead1", at: g.requestedAt + 5, comment: "ok"))

        let other = try bed.store.insertGrant(Fixture.grant(identity: "bob"), notifications: [])
        #expect(try bed.store.grants(identity: "alice").map(\.id) == [g.id])
        #expect(try bed.store.grants(identity: nil).map(\.id) == [g.id, other.id])
        #expect(try bed.store.grant(other.id + 1000) == nil)
    }

    /// A refusal inside the change (an approver's own check) appends nothing.
    @Test(arguments: Backend.allCases)
    func aRefusedChangeLeavesTheGrantAsItWas(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let g = try bed.store.insertGrant(Fixture.grant(), notifications: [])
        #expect(throws: GrantRefusal("you requested grant \(g.id)")) {
            try bed.store.changeGrant(g.id) { _ in throw GrantRefusal("you requested grant \(g.id)") }
        }
        #expect(try bed.store.grant(g.id)?.events.count == 1)
        #expect(throws: GrantRefusal("there is no grant 999999")) { try bed.store.changeGrant(999_999) { _ in ([], []) } }
        #expect(try bed.store.dueNotifications(now: Int64.max / 2, limit: 10).isEmpty)
    }

    /// Fifty approvers at once, from threads with stores of their own (as many hosts): every
    /// change saw the one before it (each saw a different number of events), none was lost.
    @Test(arguments: Backend.allCases)
    func concurrentChangesAreSerialised(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let g = try bed.store.insertGrant(Fixture.grant(approvals: 50), notifications: [])
        let stores = try (0..<5).map { _ in try bed.another() }
        let failures = Failures()
        let group = DispatchGroup()
        for k in 0..<50 {
            group.enter()
            let store = stores[k % stores.count]
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    _ = try store.changeGrant(g.id) { current in
                        ([GrantEvent(.approved, actor: "approver\(k)", at: current.requestedAt + Int64(k), comment: "saw \(current.events.count)")],
                         [Notification(event: "approved", text: "approver\(k)", fields: [:])])
                    }
                } catch {
                    failures.add("\(error)")
                }
            }
        }
        #expect(group.wait(timeout: .now() + 45) == .success, "50 approvals did not finish within 45 s")
        #expect(failures.all.isEmpty)
        let final = try #require(try bed.store.grant(g.id))
        #expect(final.events.count == 51)
        #expect(Set(final.events.dropFirst().map(\.comment)) == Set((1...50).map { "saw \($0)" }))
        #expect(Set(final.approvers(since: nil)).count == 50)
        #expect(final.state(at: g.requestedAt + 100) == .active)
        #expect(try bed.store.dueNotifications(now: g.requestedAt + 100, limit: 100).count == 50)
    }

    @Test(arguments: Backend.allCases)
    func notificationsWaitUntilDelivered(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let g = try bed.store.insertGrant(Fixture.grant(), notifications: [Notification(event: "requested", text: "a", fields: ["role": "operator"])])
        let due = try bed.store.dueNotifications(now: g.requestedAt, limit: 10)
        #expect(due.count == 1)
        let item = try #require(due.first)
        #expect(item.event == "requested")
        #expect(item.payload.contains("\"grant\":\"\(g.id)\""))
        #expect(try bed.store.dueNotifications(now: g.requestedAt - 1, limit: 10).isEmpty)
        try bed.store.markFailed(item.id, error: "HTTP 500", retryAt: g.requestedAt + 30)
        #expect(try bed.store.dueNotifications(now: g.requestedAt + 29, limit: 10).isEmpty)
        #expect(try bed.store.dueNotifications(now: g.requestedAt + 30, limit: 10).first?.attempts == 1)
        try bed.store.markDelivered(item.id, at: g.requestedAt + 31)
        #expect(try bed.store.dueNotifications(now: g.requestedAt + 3600, limit: 10).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func aSessionLockKeepsTheFirst(_ backend: Backend) throws {
        let bed = try Bed(backend)
        try Fixture.record(bed.store, "locked-1", [])
        #expect(try bed.store.sessionLock("locked-1") == nil)
        try bed.store.lockSession(SessionLock(sessionID: "locked-1", actor: "root", reason: "first", at: 1))
        try bed.store.lockSession(SessionLock(sessionID: "locked-1", actor: "bob", reason: "second", at: 2))
        #expect(try bed.store.sessionLock("locked-1") == SessionLock(sessionID: "locked-1", actor: "root", reason: "first", at: 1))
    }
}

/// What threads report back, under a lock.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []

    func add(_ m: String) {
        lock.lock()
        messages.append(m)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return messages
    }
}
