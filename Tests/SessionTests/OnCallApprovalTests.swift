import Foundation
import Policy
import Session
import Store
import Testing

/// The on-call plug-in (`approval: {auto_if: …}`) run for real: the shipped example script
/// reading a schedule, and plug-ins that refuse, hang, crash or do not exist. Exit 0 approves;
/// everything else leaves the request pending; every run is an audit event with its output.
@Suite(.timeLimit(.minutes(1)))
struct OnCallApprovalTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    final class Bed {
        let directory: String
        let store: SQLiteStore
        let service: GrantService

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-oncall-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try "# start end identity roles\n2020-01-01T00:00Z 2099-01-01T00:00Z alice deployer\n2020-01-01T00:00Z 2021-01-01T00:00Z bob\n"
                .write(toFile: directory + "/schedule", atomically: true, encoding: .utf8)
            for (name, body) in [("hang", "sleep 31.5\n"), ("crash", "kill -SEGV $$\n")] {
                try "#!/bin/sh\n\(body)".write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
                chmod(directory + "/" + name, 0o755)
            }
            let example = OnCallApprovalTests.repository.appendingPathComponent("examples/oncall/oncall").path
            let contract = { (name: String, command: String) in
                PolicyFile(path: "contracts/\(name).yaml", text: """
                    contract: \(name)
                    role: \(name)
                    requesters: {groups: [oncall]}
                    approval: {count: 1, groups: [leads], auto_if: {command: \(command), timeout: 1s}}
                    """)
            }
            let policy = try PolicyLoader.load([
                PolicyFile(path: "policy.yaml", text: "people:\n  alice: [oncall]\n  bob: [oncall]\n  lead1: [leads]\n"),
                PolicyFile(path: "roles/r.yaml", text: "role: deployer\nallow:\n  - cmd: ls\n"),
                PolicyFile(path: "roles/h.yaml", text: "role: hang\nallow:\n  - cmd: ls\n"),
                PolicyFile(path: "roles/c.yaml", text: "role: crash\nallow:\n  - cmd: ls\n"),
                PolicyFile(path: "roles/m.yaml", text: "role: missing\nallow:\n  - cmd: ls\n"),
                contract("deployer", "[\(example), \"{identity}\", \"{role}\", \(directory)/schedule]"),
                contract("hang", "[\(directory)/hang]"),
                contract("crash", "[\(directory)/crash]"),
                contract("missing", "[\(directory)/no-such-plug-in]"),
            ], lint: false)
            store = try SQLiteStore(path: directory + "/jitsh.db", create: true)
            service = GrantService(store: store, policy: policy, host: HostInfo(name: "prod-1"), zones: FixedOffsetZones())
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        /// A request by `who` for `role`, then the plug-in's say on it.
        func ask(_ who: String, _ role: String) throws -> (OnCallApproval.Outcome, Grant, AuditEvent?) {
            let requester = Requester(identity: who, groups: ["oncall"])
            let g = try service.request(.init(role: role, reason: "INC-5 pager"), by: requester, now: Clock.now)
            let check = try #require(service.policy.contracts.first { $0.role == role }?.approval.onCall)
            let outcome = OnCallApproval(service: service, audit: store).ask(check, about: g, now: { Clock.now })
            let event = try store.auditEvents(after: 0, limit: 100).last { $0.kind == AuditKind.approvalCheck.rawValue }
            return (outcome, try #require(try store.grant(g.id)), event)
        }
    }

    @Test func theExampleScriptApprovesWhoeverIsOnCallNow() throws {
        let bed = try Bed()
        let (outcome, g, event) = try bed.ask("alice", "deployer")
        #expect(outcome == .approved(g))
        #expect(g.state(at: Clock.now) == .active)
        #expect(g.events.map(\.kind) == [.requested, .autoApproved])
        #expect(g.events.last?.comment.hasSuffix("/examples/oncall/oncall): alice is on call until 2099-01-01T00:00Z") == true, "\(g.events)")
        let e = try #require(event)
        #expect(e.identity == "alice" && e.decision == "approve" && e.reason == "on call: approved")
        #expect(e.line.hasSuffix("/examples/oncall/oncall alice deployer \(bed.directory)/schedule"))
        #expect(e.data.contains("\"output\":\"alice is on call until 2099-01-01T00:00Z\"") && e.data.contains("\"exit\":0"), "\(e.data)")
    }

    @Test func aShiftThatEndedLeavesTheRequestToPeople() throws {
        let bed = try Bed()
        let (outcome, g, event) = try bed.ask("bob", "deployer")
        #expect(outcome == .pending("not on call (exit 1)"))
        #expect(g.state(at: Clock.now) == .pending && g.events.map(\.kind) == [.requested])
        #expect(event?.decision == "" && event?.reason == "not on call (exit 1)" && event?.data.contains("bob is not on call now") == true)
        // People still decide.
        #expect(try bed.service.approve(g.id, by: Requester(identity: "lead1", groups: ["leads"]), now: Clock.now).state(at: Clock.now) == .active)
    }

    @Test func aPlugInThatHangsIsKilledAndTheRequestWaits() throws {
        let bed = try Bed()
        let (outcome, g, event) = try bed.ask("alice", "hang")
        #expect(outcome == .pending("the plug-in gave no answer within 1s"))
        #expect(g.state(at: Clock.now) == .pending)
        #expect(event?.reason == "the plug-in gave no answer within 1s" && event?.data.contains("\"exit\":null") == true)
        // Killed with its whole group: nothing of it is left running.
        let left = Process()
        left.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        left.arguments = ["-f", "sleep 31.5"]
        try left.run()
        left.waitUntilExit()
        #expect(left.terminationStatus == 1, "the plug-in's sleep outlived the timeout")
    }

    @Test func aPlugInThatCrashesOrIsMissingApprovesNothing() throws {
        let bed = try Bed()
        let (crashed, g, event) = try bed.ask("alice", "crash")
        #expect(crashed == .pending("not on call (exit 139)"))
        #expect(g.state(at: Clock.now) == .pending && event?.reason == "not on call (exit 139)")
        let (missing, h, absent) = try bed.ask("alice", "missing")
        guard case .pending(let why) = missing else { Issue.record("a missing plug-in approved: \(missing)"); return }
        #expect(why.hasPrefix("the plug-in did not start"), "\(why)")
        #expect(h.state(at: Clock.now) == .pending && absent?.reason == why)
    }
}
