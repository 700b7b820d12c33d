import Testing
@testable import Policy

/// Fleet mode's `offline:` and `recording: strict` decisions, one case a line: the view's age,
/// the role's rule, the grant's end in; online, cached until, or denied out. The table counts
/// seconds for people; the decision takes microseconds, as every time jitsh keeps.
struct DurabilityTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var refreshed: Int64?
        var now: Int64
        var rule: OfflineRule
        var grantEnd: Int64
        var expected: String
        var testDescription: String { "view at \(refreshed.map(String.init) ?? "never"), now \(now), \(rule), grant ends \(grantEnd)" }
    }

    static let cases: [Case] = [
        Case(refreshed: nil, now: 1000, rule: .deny, grantEnd: 5000, expected: "deny"),
        Case(refreshed: nil, now: 1000, rule: .cached(seconds: 600), grantEnd: 5000, expected: "deny"),
        Case(refreshed: 1000, now: 1000, rule: .deny, grantEnd: 5000, expected: "online"),
        Case(refreshed: 985, now: 1000, rule: .deny, grantEnd: 5000, expected: "online"),
        Case(refreshed: 984, now: 1000, rule: .deny, grantEnd: 5000, expected: "deny"),
        Case(refreshed: 984, now: 1000, rule: .cached(seconds: 600), grantEnd: 5000, expected: "cached 1584"),
        Case(refreshed: 1000, now: 1599, rule: .cached(seconds: 600), grantEnd: 5000, expected: "cached 1600"),
        Case(refreshed: 1000, now: 1600, rule: .cached(seconds: 600), grantEnd: 5000, expected: "deny"),
        // Never past the grant's own end.
        Case(refreshed: 1000, now: 1200, rule: .cached(seconds: 600), grantEnd: 1300, expected: "cached 1300"),
        Case(refreshed: 1000, now: 1300, rule: .cached(seconds: 600), grantEnd: 1300, expected: "deny"),
        // A clock behind the view's stamp counts as fresh, not negative.
        Case(refreshed: 1010, now: 1000, rule: .deny, grantEnd: 5000, expected: "online"),
    ]

    @Test(arguments: cases)
    func offline(_ c: Case) {
        let got: String
        switch FleetDurability.offline(viewRefreshed: c.refreshed.map { $0 * second }, now: c.now * second, rule: c.rule,
                                       grantEnd: c.grantEnd * second) {
        case .online: got = "online"
        case .cached(let until): got = "cached \(until / second)"
        case .deny: got = "deny"
        }
        #expect(got == c.expected)
    }

    @Test func strictNeedsAReachableStoreAndShippingThatKeepsUp() {
        let s = second
        #expect(FleetDurability.strict(viewRefreshed: 998 * s, now: 1000 * s, lag: 2 * s) == nil)
        #expect(FleetDurability.strict(viewRefreshed: nil, now: 1000 * s, lag: 0) != nil)
        #expect(FleetDurability.strict(viewRefreshed: 990 * s, now: 1000 * s, lag: 0) == "this role records strictly and the central store is not reachable now")
        #expect(FleetDurability.strict(viewRefreshed: 999 * s, now: 1000 * s, lag: 9 * s) == "this role records strictly and shipping to the central store is 9s behind")
    }

    @Test func rolesSayOfflineAndRecordingAndTheDefaultsFollowWhatTheyMayChange() throws {
        let policy = try PolicyLoader.load([
            PolicyFile(path: "roles/ops.yaml", text: "role: ops\noffline: {cached: 10m}\nrecording: strict\nallow:\n  - cmd: ls\n"),
            PolicyFile(path: "roles/writer.yaml", text: "role: writer\nallow:\n  - cmd: ls\n"),
            PolicyFile(path: "roles/reader.yaml", text: "role: reader\nfilesystem: {read_only: true}\nallow:\n  - cmd: ls\n"),
        ])
        let ops = try #require(policy.role("ops")), writer = try #require(policy.role("writer")), reader = try #require(policy.role("reader"))
        #expect(FleetDurability.offlineRule(ops) == .cached(seconds: 600))
        #expect(FleetDurability.recordingMode(ops) == .strict)
        #expect(FleetDurability.offlineRule(writer) == .deny)
        #expect(FleetDurability.recordingMode(writer) == .buffered)
        #expect(FleetDurability.offlineRule(reader) == .cached(seconds: 600))
        #expect(throws: PolicyError.self) {
            try PolicyLoader.load([PolicyFile(path: "roles/x.yaml", text: "role: x\noffline: sometimes\nallow:\n  - cmd: ls\n")])
        }
    }
}

private let second = Duration.second
