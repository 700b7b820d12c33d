import Foundation
import Policy
import Store
import Testing

/// Approval rules and host sets (issue 21), through GrantService on every back end: the rule
/// and each approver's groups are kept with the grant, so a grant read back from another
/// connection is judged the same way.
@Suite(.timeLimit(.minutes(1)))
struct ApprovalConformanceTests {
    static let files: [String: String] = [
        "policy.yaml": """
            people:
              alice: [oncall, sre]
              sre1: [sre]
              sre2: [sre]
              sec1: [security]
              both: [sre, security]
              lead1: [leads]
              root: [admins]
              admin2: [admins]
            """,
        "roles/deployer.yaml": "role: deployer\nallow:\n  - cmd: ls\n",
        "roles/operator.yaml": "role: operator\nallow:\n  - cmd: ls\n",
        "roles/dba.yaml": "role: dba\nallow:\n  - cmd: psql\n",
        "contracts/pair.yaml": """
            contract: pair
            role: deployer
            requesters: {groups: [oncall]}
            hosts: {env: production}
            max_duration: 4h
            reason: {required: true}
            approval: {all: [{count: 1, groups: [sre]}, {count: 1, groups: [security]}]}
            """,
        "contracts/either.yaml": """
            contract: either
            role: dba
            requesters: {groups: [oncall]}
            approval: {any: [{count: 2, groups: [sre]}, {count: 1, groups: [leads]}]}
            """,
        "contracts/named.yaml": """
            contract: named
            role: operator
            requesters: {groups: [oncall]}
            hosts: ["prod-*"]
            approval: {count: 1, groups: [leads]}
            """,
    ]

    static let policy: Policy = try! PolicyLoader.load(files.map { PolicyFile(path: $0.key, text: $0.value) })
    static let prod1 = HostInfo(name: "prod-1", tags: ["env": "production"])
    static let now: Int64 = 1_767_614_400 * sec

    static func person(_ name: String) -> Requester {
        Requester(identity: name, groups: Set(policy.global.people[name] ?? []), isRoot: name == "root")
    }

    static func service(_ store: any ConformingStore, host: HostInfo = prod1) -> GrantService {
        GrantService(store: store, policy: policy, host: host, zones: FixedOffsetZones())
    }

    static func request(_ s: GrantService, role: String = "deployer", hosts: String? = "env=production") throws -> Grant {
        try s.request(.init(role: role, hostPattern: hosts, reason: "CHG-7 deploy"), by: person("alice"), now: now)
    }

    @Test(arguments: Backend.allCases)
    func anAllRuleWaitsForEveryGroupAndCountsEachApproverOnce(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let s = Self.service(bed.store)
        let g = try Self.request(s)
        #expect(g.approval == .all([.approvers(count: 1, groups: ["sre"], people: []), .approvers(count: 1, groups: ["security"], people: [])]))
        #expect(g.hostPattern == "env=production" && g.approvalsNeeded == 2)
        // The requester is in sre, and still never counts.
        #expect(throws: GrantRefusal("you requested grant \(g.id); someone else must approve it")) {
            try s.approve(g.id, by: Self.person("alice"), now: Self.now + 1 * sec)
        }
        // One person in both groups is one approval, not the two the rule needs.
        let once = try s.approve(g.id, by: Self.person("both"), now: Self.now + 2 * sec)
        #expect(once.state(at: Self.now + 3 * sec) == .pending)
        #expect(once.events.last?.groups == ["security", "sre"])
        #expect(throws: GrantRefusal("you already approved grant \(g.id)")) { try s.approve(g.id, by: Self.person("both"), now: Self.now + 3 * sec) }
        #expect(throws: GrantRefusal("lead1 may not approve grants of pair; it needs approval by 1 of group sre and 1 of group security")) {
            try s.approve(g.id, by: Self.person("lead1"), now: Self.now + 3 * sec)
        }
        let second = try s.approve(g.id, by: Self.person("sre1"), now: Self.now + 4 * sec)
        #expect(second.state(at: Self.now + 5 * sec) == .active)

        // Read back elsewhere: the same rule, the same groups, the same verdict.
        let other = try #require(try bed.another().grant(g.id))
        #expect(other == second)
        #expect(other.approvals(since: nil) == [.init(identity: "both", groups: ["sre", "security"]), .init(identity: "sre1", groups: ["sre"])])
    }

    @Test(arguments: Backend.allCases)
    func twoOfOneGroupStayPendingUntilTheOtherGroupApproves(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let s = Self.service(bed.store)
        let g = try Self.request(s)
        _ = try s.approve(g.id, by: Self.person("sre1"), now: Self.now + 1 * sec)
        let two = try s.approve(g.id, by: Self.person("sre2"), now: Self.now + 2 * sec)
        #expect(two.state(at: Self.now + 3 * sec) == .pending)
        #expect(two.outstanding(since: nil) == "1 more of group security")
        let done = try s.approve(g.id, by: Self.person("sec1"), now: Self.now + 3 * sec)
        #expect(done.state(at: Self.now + 4 * sec) == .active && done.outstanding(since: nil) == "")

        // An extension is a new question: the rule is asked again, from its request on.
        let asked = try s.extend(g.id, by: Self.person("alice"), seconds: 1800, now: Self.now + 10 * sec)
        let marker = try #require(asked.pendingExtension)
        #expect(asked.outstanding(since: marker.index) == "1 more of group sre and 1 more of group security")
        let half = try s.approve(g.id, by: Self.person("sec1"), now: Self.now + 11 * sec)
        #expect(half.pendingExtension != nil && half.endsAt == done.endsAt)
        let whole = try s.approve(g.id, by: Self.person("sre2"), now: Self.now + 12 * sec)
        #expect(whole.pendingExtension == nil && whole.endsAt == done.endsAt + 1800 * sec)
        #expect(try bed.another().grant(g.id)?.endsAt == done.endsAt + 1800 * sec)
    }

    @Test(arguments: Backend.allCases)
    func anAnyRuleIsMetByEitherPart(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let s = Self.service(bed.store)
        let byLead = try Self.request(s, role: "dba", hosts: nil)
        #expect(try s.approve(byLead.id, by: Self.person("lead1"), now: Self.now + 1 * sec).state(at: Self.now + 2 * sec) == .active)
        let bySRE = try Self.request(s, role: "dba", hosts: nil)
        let one = try s.approve(bySRE.id, by: Self.person("sre1"), now: Self.now + 1 * sec)
        #expect(one.state(at: Self.now + 2 * sec) == .pending && one.outstanding(since: nil) == "2 of group sre or 1 of group leads")
        #expect(try s.approve(bySRE.id, by: Self.person("sre2"), now: Self.now + 2 * sec).state(at: Self.now + 3 * sec) == .active)
    }

    /// `grant list --pending --mine-to-approve`: what waits for this approver, and nothing else.
    @Test(arguments: Backend.allCases)
    func anApproversInboxHoldsWhatTheyMayStillApprove(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let s = Self.service(bed.store)
        let pair = try Self.request(s), named = try Self.request(s, role: "operator", hosts: "prod-*")
        #expect(try s.awaitingApproval(by: Self.person("sre1"), now: Self.now + 1 * sec).map(\.id) == [pair.id])
        #expect(try s.awaitingApproval(by: Self.person("lead1"), now: Self.now + 1 * sec).map(\.id) == [named.id])
        #expect(try s.awaitingApproval(by: Self.person("alice"), now: Self.now + 1 * sec).isEmpty)
        _ = try s.approve(pair.id, by: Self.person("sre1"), now: Self.now + 2 * sec)
        #expect(try s.awaitingApproval(by: Self.person("sre1"), now: Self.now + 3 * sec).isEmpty)
        #expect(try s.awaitingApproval(by: Self.person("sec1"), now: Self.now + 3 * sec).map(\.id) == [pair.id])
        _ = try s.approve(pair.id, by: Self.person("sec1"), now: Self.now + 4 * sec)
        #expect(try s.awaitingApproval(by: Self.person("sre2"), now: Self.now + 5 * sec).isEmpty)
        // Past pending_ttl the request lapsed: nobody's inbox.
        #expect(try s.awaitingApproval(by: Self.person("lead1"), now: Self.now + 7200 * sec).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func aTagRequestCoversTheHostsWithTheTagsAndOnlyWhatTheContractCovers(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let s = Self.service(bed.store)
        let g = try Self.request(s, hosts: "env=production")
        #expect(g.covers(HostInfo(name: "prod-9", tags: ["env": "production", "tier": "web"])))
        #expect(!g.covers(HostInfo(name: "prod-3", tags: ["env": "staging"])))
        #expect(!g.covers(HostInfo(name: "prod-4")))
        #expect(throws: GrantRefusal("contract pair does not cover env=staging (it covers env=production)")) {
            try Self.request(s, hosts: "env=staging")
        }
        // A narrower set is within the contract; a name glob is not (names say nothing of tags).
        #expect(try Self.request(s, hosts: "env=production,tier=web").hostPattern == "env=production,tier=web")
        #expect(throws: GrantRefusal("contract pair does not cover web-* (it covers env=production)")) { try Self.request(s, hosts: "web-*") }
        // A contract of names takes no tag set.
        #expect(throws: GrantRefusal("contract named does not cover env=production (it covers prod-*)")) {
            try Self.request(s, role: "operator", hosts: "env=production")
        }
        #expect(throws: GrantRefusal("env= is neither a host name or glob (prod-*) nor tags (env=production,tier=web)")) {
            try Self.request(s, hosts: "env=")
        }
    }

    /// What a webhook receives: the host set, what is still needed and the command that gives it.
    @Test(arguments: Backend.allCases)
    func notificationsSayWhatIsStillNeededAndHowToApprove(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let s = Self.service(bed.store)
        let g = try Self.request(s)
        _ = try s.approve(g.id, by: Self.person("sre1"), now: Self.now + 1 * sec)
        let sent = try bed.store.dueNotifications(now: Self.now + 10 * sec, limit: 10)
        #expect(sent.map(\.event) == ["requested", "approval"])
        let request = try #require(sent.first.map { try JSONSerialization.jsonObject(with: Data($0.payload.utf8)) as? [String: Any] } ?? nil)
        let fields = try #require(request["fields"] as? [String: String])
        #expect(request["text"] as? String == "alice requested deployer on env=production for 30m: CHG-7 deploy; "
                + "needs approval by 1 of group sre and 1 of group security; approve with: jitsh grant approve \(g.id)")
        #expect(fields["host"] == "env=production" && fields["approve"] == "jitsh grant approve \(g.id)" && fields["grant"] == "\(g.id)")
        #expect(fields["needs"] == "1 more of group sre and 1 more of group security")
        #expect(sent[1].payload.contains("sre1 approved alice's deployer request \(g.id) on env=production; it still needs 1 more of group security: jitsh grant approve \(g.id)"))
    }

    /// Break glass skips approval; another admin looks at it afterwards.
    @Test(arguments: Backend.allCases)
    func aBreakGlassGrantAlertsAtOnceAndIsReviewedByAnotherAdmin(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let s = Self.service(bed.store)
        let g = try s.createBreakGlass(for: "alice", role: "operator", hostPattern: "env=production", seconds: 3600, reason: "INC-9 db down",
                                       by: Self.person("admin2"), now: Self.now)
        #expect(g.awaitsReview && g.state(at: Self.now + 1 * sec) == .active && g.covers(Self.prod1))
        let alert = try #require(try bed.store.dueNotifications(now: Self.now, limit: 10).first)
        #expect(alert.event == "break-glass" && alert.payload.contains("another admin reviews it afterwards with: jitsh grant review \(g.id) --note"))
        #expect(throws: GrantRefusal("you made break-glass grant \(g.id); another admin reviews it")) {
            try s.review(g.id, by: Self.person("admin2"), note: "fine", now: Self.now + 60 * sec)
        }
        #expect(throws: GrantRefusal("only root or an admin (group admins in people) may review a break-glass grant")) {
            try s.review(g.id, by: Self.person("lead1"), note: "fine", now: Self.now + 60 * sec)
        }
        #expect(throws: GrantRefusal("a review needs --note \"what was done and whether it was needed\"")) {
            try s.review(g.id, by: Self.person("root"), note: " ", now: Self.now + 60 * sec)
        }
        let reviewed = try s.review(g.id, by: Self.person("root"), note: "needed: INC-9", now: Self.now + 60 * sec)
        #expect(!reviewed.awaitsReview && reviewed.events.last == GrantEvent(.reviewed, actor: "root", at: Self.now + 60 * sec, comment: "needed: INC-9"))
        #expect(try bed.another().grant(g.id)?.awaitsReview == false)
        #expect(throws: GrantRefusal("break-glass grant \(g.id) was reviewed by root at \(Timestamp.format(microseconds: Self.now + 60 * sec))")) {
            try s.review(g.id, by: Self.person("root"), note: "again", now: Self.now + 61 * sec)
        }
        let ordinary = try Self.request(s)
        #expect(throws: GrantRefusal("grant \(ordinary.id) is not a break-glass grant; only those are reviewed after the fact")) {
            try s.review(ordinary.id, by: Self.person("root"), note: "x", now: Self.now + 62 * sec)
        }
    }

    /// The on-call plug-in's yes: approved at once, once, while pending only.
    @Test(arguments: Backend.allCases)
    func anOnCallApprovalApprovesAPendingRequestOnly(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let s = Self.service(bed.store)
        let g = try Self.request(s)
        let approved = try s.approveOnCall(g.id, check: "/usr/local/lib/jitsh/oncall", output: "alice is on call until 18:00", now: Self.now + 1 * sec)
        #expect(approved.state(at: Self.now + 2 * sec) == .active)
        #expect(approved.events.last == GrantEvent(.autoApproved, actor: "on-call", at: Self.now + 1 * sec,
                                                   comment: "on call (/usr/local/lib/jitsh/oncall): alice is on call until 18:00"))
        #expect(try bed.another().grant(g.id)?.state(at: Self.now + 2 * sec) == .active)
        #expect(throws: GrantRefusal("grant \(g.id) is active, not pending")) {
            try s.approveOnCall(g.id, check: "/usr/local/lib/jitsh/oncall", output: "", now: Self.now + 3 * sec)
        }
    }
}
