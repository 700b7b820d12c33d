import Foundation
import Store
import Testing

/// Locks on users, roles and hosts, the same on every back end: numbered, lifted by a removal
/// (the first one counts), ending by themselves, never changed in the database.
@Suite(.timeLimit(.minutes(1)))
struct LockConformanceTests {
    static let t: Int64 = 1_767_614_400

    @Test(arguments: Backend.allCases)
    func locksHoldUntilLiftedOrOver(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let user = try bed.store.addLock(Lock(target: .user("alice"), actor: "root", reason: "laptop stolen", at: Self.t))
        let host = try bed.store.addLock(Lock(target: .host("prod-3"), actor: "admin1", reason: "INC-88", at: Self.t, until: Self.t + 3600))
        let role = try bed.store.addLock(Lock(target: .role("dba"), actor: "root", reason: "audit", at: Self.t + 10))
        #expect([user.id, host.id, role.id] == [1, 2, 3])
        #expect(try bed.store.locks(holdingAt: Self.t - 5).map(\.id) == [1, 2, 3], "a lock holds once made, whatever the reader's clock says")
        #expect(try bed.store.locks(holdingAt: Self.t + 3600).map(\.id) == [1, 3], "the host lock is over at its end")

        let lifted = try #require(try bed.store.removeLock(1, Lock.Removal(actor: "admin1", reason: "found it", at: Self.t + 20)))
        #expect(lifted.removal == Lock.Removal(actor: "admin1", reason: "found it", at: Self.t + 20))
        let again = try bed.store.removeLock(1, Lock.Removal(actor: "mallory", reason: "second", at: Self.t + 30))
        #expect(again?.removal?.actor == "admin1", "the first removal counts")
        #expect(try bed.store.removeLock(99, Lock.Removal(actor: "root", reason: "x", at: Self.t)) == nil)
        #expect(try bed.store.locks(holdingAt: Self.t + 25).map(\.id) == [2, 3])

        let all = try bed.store.locks(holdingAt: nil)
        #expect(all.map(\.target) == [.user("alice"), .host("prod-3"), .role("dba")])
        #expect(all[1] == host && all[2] == role)
        #expect(Lock.covering(all, identity: "bob", role: "dba", host: "prod-1", now: Self.t + 25)?.id == 3)
        #expect(Lock.covering(all, identity: "alice", role: "operator", host: "prod-1", now: Self.t + 25) == nil)
    }

    @Test(arguments: Backend.databases)
    func theDatabaseRefusesToChangeALock(_ backend: Backend) throws {
        let bed = try Bed(backend)
        _ = try bed.store.addLock(Lock(target: .user("alice"), actor: "root", reason: "r", at: Self.t))
        _ = try bed.store.removeLock(1, Lock.Removal(actor: "root", reason: "lifted", at: Self.t + 1))
        for sql in ["UPDATE locks SET value = 'bob'", "DELETE FROM lock_removals", "DELETE FROM locks"] {
            let (ok, output) = try bed.raw(sql)
            #expect(!ok && output.contains("append-only"), "\(backend) \(sql): \(output)")
        }
        #expect(try bed.store.locks(holdingAt: nil).first?.removal?.reason == "lifted")
    }
}
