import Foundation
import Policy
import PostgresStore
import Store
import Testing

/// A hundred requests from three hosts at once, then their two hundred approvals at once, each
/// host with its own connection to the central store (issue 21): every event kept, each grant
/// decided once, and every host's spool, mirrored afterwards, holds the same grants.
@Suite(.timeLimit(.minutes(2)))
struct ApprovalConcurrencyTests {
    static let hosts = (1...3).map { HostInfo(name: "prod-\($0)", tags: ["env": "production"]) }

    /// Runs `count` bodies on threads of their own at once; the failures they threw.
    static func atOnce(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) -> [String] {
        let failures = Failures()
        let group = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        for k in 0..<count {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                start.wait()
                do { try body(k) } catch { failures.add("\(k): \(error)") }
            }
        }
        for _ in 0..<count { start.signal() }
        guard group.wait(timeout: .now() + 90) == .success else { return failures.all + ["not done within 90 s"] }
        return failures.all
    }

    @Test func aHundredRequestsAndTheirApprovalsFromThreeHostsAtOnce() throws {
        let bed = try Bed(.postgresql)
        let services = try Self.hosts.map { host in
            GrantService(store: try bed.another(), policy: ApprovalConformanceTests.policy, host: host, zones: FixedOffsetZones())
        }
        let now = ApprovalConformanceTests.now
        let ids = RequestIDs()
        let requested = Self.atOnce(100) { k in
            let g = try services[k % 3].request(.init(role: "deployer", hostPattern: "env=production", reason: "CHG-\(k) deploy"),
                                                by: Requester(identity: "eng\(k)", groups: ["oncall"]), now: now)
            ids.set(k, g.id)
        }
        #expect(requested.isEmpty, "\(requested)")
        let grantIDs = ids.values
        #expect(Set(grantIDs).count == 100)

        // Two approvals a grant, from the two hosts that did not take the request, in no order.
        let order = (0..<200).shuffled()
        let approved = Self.atOnce(200) { n in
            let j = order[n], k = j / 2
            let approver = j % 2 == 0 ? Requester(identity: "sre\(k % 5)", groups: ["sre"]) : Requester(identity: "sec\(k % 5)", groups: ["security"])
            _ = try services[(k + 1 + j % 2) % 3].approve(grantIDs[k], by: approver, now: now + 1)
        }
        #expect(approved.isEmpty, "\(approved)")

        let central = try #require(bed.store as? PostgresStore)
        let grants = try central.grants(identity: nil)
        #expect(grants.count == 100)
        #expect(try bed.scalar("SELECT count(*) FROM grant_events") == "300")
        for g in grants {
            #expect(g.events.map(\.kind) == [.requested, .approved, .approved] && g.state(at: now + 2) == .active, "\(g)")
            #expect(Set(g.events.flatMap(\.groups)) == ["sre", "security"], "\(g)")
        }
        // Every host's view of them, as its sync mirrors it: the same grants, the same states.
        let view = try central.grantView(now: now + 2, sessions: [])
        for host in Self.hosts {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-spool-\(host.name)-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let spool = try SQLiteStore(path: dir + "/spool.db", create: true)
            try spool.mirror(grants: view.grants, locks: [], at: now + 2)
            let mirrored = try spool.grants(identity: nil)
            #expect(mirrored == grants, "\(host.name)")
            #expect(mirrored.allSatisfy { $0.isLive(at: now + 2, host: host) }, "\(host.name)")
        }
    }
}

/// The grant id each request got, by request number, written from many threads.
final class RequestIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var ids = [Int64](repeating: 0, count: 100)

    func set(_ k: Int, _ id: Int64) {
        lock.lock()
        ids[k] = id
        lock.unlock()
    }

    var values: [Int64] {
        lock.lock()
        defer { lock.unlock() }
        return ids
    }
}
