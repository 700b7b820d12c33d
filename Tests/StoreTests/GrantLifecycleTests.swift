import Foundation
import Policy
import Testing
@testable import Store

/// Every transition of a grant and every refusal, against a real (temporary) store.
struct GrantLifecycleTests {
    let t: TemporaryStore
    let service: GrantService
    let now = TestPolicy.monday

    init() throws {
        t = try TemporaryStore()
        service = t.service()
    }

    func refusal(_ body: () throws -> Grant) -> String? {
        do { _ = try body(); return nil } catch let r as GrantRefusal { return r.message } catch { return "\(error)" }
    }

    @Test func anAutomaticContractGrantsAtOnce() throws {
        let g = try service.request(.init(role: "readonly", reason: "INC-1 look"), by: TestPolicy.person("alice"), now: now)
        #expect(g.state(at: now) == .active)
        #expect(g.events.map(\.kind) == [.requested, .approved])
        #expect(g.endsAt == now + 1800 * second)
        #expect(try service.live(for: "alice", now: now).map(\.id) == [g.id])
        #expect(try service.live(for: "alice", now: now + 1800 * second).isEmpty)
    }

    @Test func oneApproverMakesItActive() throws {
        let g = try service.request(.init(role: "operator", reason: "change"), by: TestPolicy.person("alice"), now: now)
        #expect(g.state(at: now) == .pending)
        #expect(refusal { try service.approve(g.id, by: TestPolicy.person("alice"), now: now) } == "you requested grant \(g.id); someone else must approve it")
        #expect(refusal { try service.approve(g.id, by: TestPolicy.person("bob"), now: now) }?.hasPrefix("bob may not approve grants of one") == true)
        let approved = try service.approve(g.id, by: TestPolicy.person("lead1"), comment: "ok", now: now + 5 * second)
        #expect(approved.state(at: now + 5 * second) == .active)
        #expect(refusal { try service.approve(g.id, by: TestPolicy.person("lead2"), now: now + 6 * second) } == "grant \(g.id) is active, not pending")
    }

    @Test func twoDistinctApproversAreNeededWhenTheContractSaysSo() throws {
        let g = try service.request(.init(role: "dba", reason: ""), by: TestPolicy.person("alice"), now: now)
        let once = try service.approve(g.id, by: TestPolicy.person("lead1"), now: now)
        #expect(once.state(at: now) == .pending)
        #expect(refusal { try service.approve(g.id, by: TestPolicy.person("lead1"), now: now) } == "you already approved grant \(g.id)")
        let twice = try service.approve(g.id, by: TestPolicy.person("bob"), now: now)
        #expect(twice.state(at: now) == .active)
    }

    @Test func aDeniedRequestStaysDenied() throws {
        let g = try service.request(.init(role: "operator", reason: "x"), by: TestPolicy.person("bob"), now: now)
        let denied = try service.deny(g.id, by: TestPolicy.person("lead2"), comment: "use readonly", now: now)
        #expect(denied.state(at: now) == .denied)
        #expect(refusal { try service.approve(g.id, by: TestPolicy.person("lead1"), now: now) } == "grant \(g.id) is denied, not pending")
    }

    @Test func whoMayRevoke() throws {
        let g = try service.request(.init(role: "operator", reason: "x"), by: TestPolicy.person("alice"), now: now)
        _ = try service.approve(g.id, by: TestPolicy.person("lead1"), now: now)
        #expect(refusal { try service.revoke(g.id, by: TestPolicy.person("bob"), now: now) } == "only the holder, an approver or an admin may revoke grant \(g.id)")
        let revoked = try service.revoke(g.id, by: TestPolicy.person("lead2"), reason: "done", now: now + 60 * second)
        #expect(revoked.state(at: now + 60 * second) == .revoked)
        #expect(try service.live(for: "alice", now: now + 60 * second).isEmpty)
        #expect(refusal { try service.revoke(g.id, by: TestPolicy.person("alice"), now: now + 61 * second) } == "grant \(g.id) is already revoked")
        let other = try service.request(.init(role: "readonly", reason: "INC-2"), by: TestPolicy.person("alice"), now: now)
        #expect(try service.revoke(other.id, by: TestPolicy.person("alice"), now: now).state(at: now) == .revoked)
        let third = try service.request(.init(role: "readonly", reason: "INC-3"), by: TestPolicy.person("bob"), now: now)
        #expect(try service.revoke(third.id, by: TestPolicy.person("root"), now: now).state(at: now) == .revoked)
    }

    @Test func extensionsStayWithinTheMaximumAndAreApprovedLikeRequests() throws {
        let auto = try service.request(.init(role: "readonly", reason: "INC-1"), by: TestPolicy.person("alice"), now: now)
        let longer = try service.extend(auto.id, by: TestPolicy.person("alice"), seconds: 1800, now: now + 60 * second)
        #expect(longer.endsAt == now + 3600 * second)
        #expect(refusal { try service.extend(auto.id, by: TestPolicy.person("alice"), seconds: 7200, now: now + 60 * second) }?.hasPrefix("grant \(auto.id) may last at most 2h") == true)
        #expect(refusal { try service.extend(auto.id, by: TestPolicy.person("bob"), seconds: 60, now: now + 60 * second) } == "only the holder may extend grant \(auto.id)")

        let g = try service.request(.init(role: "operator", reason: "x"), by: TestPolicy.person("alice"), now: now)
        _ = try service.approve(g.id, by: TestPolicy.person("lead1"), now: now)
        let asked = try service.extend(g.id, by: TestPolicy.person("alice"), seconds: 3600, now: now + 10 * second)
        #expect(asked.pendingExtension?.extra == 3600 * second)
        #expect(asked.endsAt == now + 3600 * second)
        #expect(asked.state(at: now + 10 * second) == .active)
        let denied = try service.deny(g.id, by: TestPolicy.person("lead2"), now: now + 20 * second)
        #expect(denied.state(at: now + 20 * second) == .active)
        #expect(denied.pendingExtension == nil)
        _ = try service.extend(g.id, by: TestPolicy.person("alice"), seconds: 1800, now: now + 30 * second)
        let extended = try service.approve(g.id, by: TestPolicy.person("lead2"), now: now + 40 * second)
        #expect(extended.endsAt == now + 5400 * second)
        #expect(extended.events.last?.kind == .extended)
    }

    @Test func unapprovedRequestsLapseAndExpiredGrantsAreRecorded() throws {
        let g = try service.request(.init(role: "operator", reason: "x"), by: TestPolicy.person("alice"), now: now)
        #expect(g.state(at: now + 3599 * second) == .pending)
        #expect(g.state(at: now + 3600 * second) == .lapsed)
        let a = try service.request(.init(role: "readonly", reason: "INC-1"), by: TestPolicy.person("bob"), now: now)
        #expect(try service.sweep(now: now + 4000 * second) == 2)
        #expect(try service.sweep(now: now + 4001 * second) == 0)
        #expect(try t.store.grant(a.id)?.events.last?.kind == .expired)
        #expect(try t.store.grant(g.id)?.events.last?.comment == "not approved in time")
    }

    @Test(arguments: [
        (Requester(identity: "alice", groups: ["oncall"]), GrantService.Request(role: "nope", reason: "INC-1"), "no contract grants role nope; you may request: dba, operator, readonly"),
        (Requester(identity: "zed", groups: []), GrantService.Request(role: "readonly", reason: "INC-1"), "zed may not request role readonly: auto needs group oncall"),
        (Requester(identity: "alice", groups: ["oncall"]), GrantService.Request(role: "readonly", reason: ""), "contract auto needs a reason"),
        (Requester(identity: "alice", groups: ["oncall"]), GrantService.Request(role: "readonly", reason: "looking around"), "contract auto needs a reason matching ^(INC|CHG)-[0-9]+"),
        (Requester(identity: "alice", groups: ["oncall"]), GrantService.Request(role: "readonly", duration: 3 * 3600, reason: "INC-1"), "contract auto allows at most 2h; asked for 3h"),
        (Requester(identity: "alice", groups: ["oncall"]), GrantService.Request(role: "readonly", hostPattern: "dev-1", reason: "INC-1"), "contract auto does not cover dev-1 (it covers prod-*)"),
        (Requester(identity: "alice", groups: ["oncall"]), GrantService.Request(role: "readonly", start: (1_767_614_400 - 3600) * second, reason: "INC-1"), "a grant cannot start in the past"),
    ])
    func requestsAreRefusedWithWhatIsMissing(who: Requester, request: GrantService.Request, message: String) {
        #expect(refusal { try service.request(request, by: who, now: now) }?.hasPrefix(message) == true,
                "\(refusal { try service.request(request, by: who, now: now) } ?? "accepted")")
    }

    @Test func contractsTakeNoRequestsInTheirDenyWindows() {
        let saturday = now + 5 * 86400 * second
        #expect(refusal { try service.request(.init(role: "operator", reason: "x"), by: TestPolicy.person("alice"), now: saturday) }
                == "contract one takes no requests during Sat,Sun 00:00-24:00 UTC")
    }

    @Test func aGrantCoversOnlyItsHosts() throws {
        let g = try service.request(.init(role: "readonly", reason: "INC-1"), by: TestPolicy.person("alice"), now: now)
        #expect(g.covers(HostInfo(name: "prod-1")))
        #expect(!g.covers(HostInfo(name: "prod-2")))
        let other = t.service(host: HostInfo(name: "prod-2"))
        #expect(try other.live(for: "alice", now: now).isEmpty)
    }

    @Test func breakGlassIsForAdminsAndSaysSo() throws {
        #expect(refusal { try service.createBreakGlass(for: "bob", role: "operator", hostPattern: nil, seconds: 600, reason: "x", by: TestPolicy.person("lead1"), now: now) }?
            .hasPrefix("only root or an admin") == true)
        let g = try service.createBreakGlass(for: "bob", role: "operator", hostPattern: nil, seconds: 600, reason: "INC-9 db down",
                                             by: TestPolicy.person("root"), now: now)
        #expect(g.breakGlass && g.state(at: now) == .active && g.events.map(\.kind) == [.created])
        let due = try t.store.dueNotifications(now: now, limit: 10)
        #expect(due.contains { $0.event == "break-glass" && $0.payload.contains("BREAK-GLASS") })
    }

    @Test func everyChangeQueuesItsNotification() throws {
        let g = try service.request(.init(role: "operator", reason: "x"), by: TestPolicy.person("alice"), now: now)
        _ = try service.approve(g.id, by: TestPolicy.person("lead1"), now: now)
        _ = try service.revoke(g.id, by: TestPolicy.person("alice"), now: now)
        #expect(try t.store.dueNotifications(now: now, limit: 10).map(\.event) == ["requested", "approved", "revoked"])
    }

    @Test func historyCannotBeRewritten() throws {
        _ = try service.request(.init(role: "readonly", reason: "INC-1"), by: TestPolicy.person("alice"), now: now)
        for sql in ["UPDATE grant_events SET actor = 'mallory'", "DELETE FROM grant_events", "UPDATE grants SET role = 'operator'",
                    "DELETE FROM grants"] {
            #expect(throws: Error.self) { try t.store.database.write { db in try db.execute(sql: sql) } }
        }
        #expect(try t.store.grant(1)?.events.count == 2)
    }
}
