import Foundation
import PostgresStore
import Store
import Testing
import TestSupport

extension SessionTests {
    /// Fleet access control over the three-host bed (issue 21): one request for a set of hosts by
    /// tag, approvals that need two groups, the on-call plug-in, and a lock that ends a person's
    /// live sessions on every host.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct FleetAccessTests {
        /// prod-1 and prod-2 are production, prod-3 is staging; sec1 is in security; `deploy`
        /// grants `deployer` on production hosts once a lead and someone of security approved;
        /// `pager` and `night` ask the on-call plug-in (the example script, with a schedule that
        /// has alice on call for `pager` only).
        static func bed() throws -> FleetBed {
            let bed = try FleetBed(tags: ["{env: production}", "{env: production}", "{env: staging}"])
            let policies = bed.root + "/policies"
            try "people:\n  alice: [oncall]\n  lead1: [leads]\n  sec1: [security]\n".write(toFile: policies + "/policy.yaml", atomically: true, encoding: .utf8)
            for role in ["deployer", "pager", "night", "slow"] {
                try "role: \(role)\nrecording: buffered\noffline: {cached: 1h}\nallow:\n  - cmd: [seq, sleep]\n"
                    .write(toFile: policies + "/roles/\(role).yaml", atomically: true, encoding: .utf8)
            }
            try """
                contract: deploy
                role: deployer
                requesters: {groups: [oncall]}
                hosts: {env: production}
                reason: {required: true}
                approval: {all: [{count: 1, groups: [leads]}, {count: 1, groups: [security]}]}
                """.write(toFile: policies + "/contracts/deploy.yaml", atomically: true, encoding: .utf8)
            // The plug-in as installed: root's, readable by the requester it runs as.
            let plugIn = bed.root + "/bin/oncall", schedule = bed.root + "/oncall.schedule"
            try FileManager.default.copyItem(atPath: OnCallApprovalRepository.path + "/examples/oncall/oncall", toPath: plugIn)
            chmod(plugIn, 0o755)
            try "2020-01-01T00:00Z 2099-01-01T00:00Z alice pager\n".write(toFile: schedule, atomically: true, encoding: .utf8)
            chmod(schedule, 0o644)
            let hang = bed.root + "/bin/oncall-hang"
            try "#!/bin/sh\nsleep 617\n".write(toFile: hang, atomically: true, encoding: .utf8)
            chmod(hang, 0o755)
            for (role, command) in [("pager", "[\(plugIn), \"{identity}\", \"{role}\", \(schedule)]"), ("night", "[\(plugIn), \"{identity}\", \"{role}\", \(schedule)]"),
                                    ("slow", "[\(hang)]")] {
                try """
                    contract: \(role)
                    role: \(role)
                    requesters: {groups: [oncall]}
                    hosts: ["prod-*"]
                    reason: {required: true}
                    approval: {count: 1, groups: [leads], auto_if: {command: \(command), timeout: \(role == "slow" ? 1 : 3)s}}
                    """.write(toFile: policies + "/contracts/\(role).yaml", atomically: true, encoding: .utf8)
            }
            return bed
        }

        static func grantID(_ ran: FleetBed.Ran) -> Int64? { ran.output.firstMatch(of: /grant (\d+):/).flatMap { Int64($0.1) } }

        @Test func aTagRequestNeedsBothGroupsThenAdmitsOnTheTaggedHostsOnly() async throws {
            let bed = try Self.bed()
            defer { bed.close() }
            let (p1, p2, p3) = (bed.hosts[0], bed.hosts[1], bed.hosts[2])
            let request = try await bed.ssh(p1, key: bed.aliceKey, "grant request --role deployer --hosts env=production --reason 'CHG-21 deploy'")
            let id = try #require(Self.grantID(request), "\(request)")
            #expect(request.status == 0 && request.output.contains("deployer on env=production for 30m — pending: 0 approvals, needs 1 more of group leads and 1 more of group security"),
                    "\(request)")
            #expect(request.output.contains("\ncovers today: prod-1, prod-2\n"), "\(request)")
            let selfApproval = try await bed.ssh(p2, key: bed.aliceKey, "grant approve \(id)")
            #expect(selfApproval.status == 1 && selfApproval.errors.contains("you requested grant \(id); someone else must approve it"), "\(selfApproval)")

            // The security approver's inbox, on another host.
            let inbox = try await bed.jitsh(p3, ["grant", "list", "--pending", "--mine-to-approve", "--as", "sec1"])
            #expect(inbox.status == 0 && inbox.output.contains("\(id)") && inbox.output.contains("1 more of group leads and 1 more of group security"), "\(inbox)")

            let lead = try await bed.ssh(p2, key: bed.leadKey, "grant approve \(id)")
            #expect(lead.status == 0 && lead.output.contains("pending: 1 approval, needs 1 more of group security"), "\(lead)")
            let leadInbox = try await bed.jitsh(p2, ["grant", "list", "--pending", "--mine-to-approve", "--as", "lead1"])
            #expect(leadInbox.output.contains("nothing waits for your approval"), "\(leadInbox)")
            let security = try await bed.jitsh(p3, ["grant", "approve", "--as", "sec1", String(id)])
            #expect(security.status == 0 && security.output.contains("active"), "\(security)")
            #expect(try bed.sql("SELECT string_agg(kind || ':' || actor || ':' || groups, ' ' ORDER BY id) FROM grant_events WHERE grant_id = \(id)")
                    == "requested:alice: approved:lead1:[\"leads\"] approved:sec1:[\"security\"]")

            let show = try await bed.jitsh(p3, ["grant", "show", String(id)])
            #expect(show.output.contains("covers today: prod-1, prod-2\n"), "\(show)")

            try await bed.syncAll()
            for host in [p1, p2] {
                let ran = try await bed.ssh(host, key: bed.aliceKey, "seq 2")
                #expect(ran.status == 0 && ran.output == "1\n2\n", "\(host.name): \(ran)")
                #expect(try bed.spool(host).session(try #require(try bed.spool(host).latestSessionID()))?.grantID == id)
            }
            let refused = try await bed.ssh(p3, key: bed.aliceKey, "seq 2")
            #expect(refused.status == 1 && refused.output.isEmpty, "\(refused)")
            #expect(refused.errors.contains("Your grant \(id) (deployer on env=production) does not cover prod-3 (env=staging)."), "\(refused)")
        }

        @Test func theOnCallPlugInApprovesWhoeverIsOnCallAndLeavesTheRestToPeopleWhenItSaysNoOrNothing() async throws {
            let bed = try Self.bed()
            defer { bed.close() }
            let onCall = try await bed.ssh(bed.hosts[1], key: bed.aliceKey, "grant request --role pager --host 'prod-*' --reason 'INC-21 paged'")
            let approved = try #require(Self.grantID(onCall), "\(onCall)")
            #expect(onCall.status == 0 && onCall.output.contains("— active"), "\(onCall)")
            #expect(try bed.sql("SELECT string_agg(kind || ':' || actor, ' ' ORDER BY id) FROM grant_events WHERE grant_id = \(approved)")
                    == "requested:alice auto-approved:on-call")

            let offShift = try await bed.ssh(bed.hosts[1], key: bed.aliceKey, "grant request --role night --host 'prod-*' --reason 'INC-21 paged'")
            let pending = try #require(Self.grantID(offShift), "\(offShift)")
            #expect(offShift.output.contains("on-call check: not on call (exit 1); people decide"), "\(offShift)")
            #expect(try bed.sql("SELECT string_agg(kind, ' ') FROM grant_events WHERE grant_id = \(pending)") == "requested")
            // Both runs are audit events of the host they ran on, with what the plug-in said.
            #expect(try bed.sql("""
                SELECT string_agg(host || ' ' || decision || ' ' || reason || ' ' || (data::json->>'output'), ' | ' ORDER BY id)
                FROM audit_events WHERE kind = 'approval-check'
                """) == "prod-2 approve on call: approved alice is on call until 2099-01-01T00:00Z | prod-2  not on call (exit 1) alice is not on call now")
            let lead = try await bed.ssh(bed.hosts[0], key: bed.leadKey, "grant approve \(pending)")
            #expect(lead.status == 0 && lead.output.contains("active"), "\(lead)")

            // A plug-in that never answers is killed at its timeout; people decide.
            let slow = try await bed.ssh(bed.hosts[2], key: bed.aliceKey, "grant request --role slow --host 'prod-*' --reason 'INC-21 paged'")
            let waiting = try #require(Self.grantID(slow), "\(slow)")
            #expect(slow.status == 0 && slow.output.contains("on-call check: the plug-in gave no answer within 1s; people decide"), "\(slow)")
            #expect(try bed.sql("SELECT string_agg(kind, ' ') FROM grant_events WHERE grant_id = \(waiting)") == "requested")
            #expect(try bed.sql("SELECT host || ' ' || reason FROM audit_events WHERE kind = 'approval-check' ORDER BY id DESC LIMIT 1")
                    == "prod-3 the plug-in gave no answer within 1s")
            #expect((try FleetBed.Postgres.execute("/usr/bin/pgrep", ["-f", "sleep 617"], timeout: 5)).status == 1, "the plug-in outlived its timeout")
        }

        @Test func aLockOnAUserEndsTheirSessionsOnEveryHostAndRefusesTheNext() async throws {
            let bed = try FleetBed()
            defer { bed.close() }
            let id = try await bed.grant()
            let services = try bed.hosts.map { try bed.startService($0) }
            defer { for s in services where s.isRunning { kill(s.processIdentifier, SIGKILL) } }
            for host in bed.hosts {
                let mirrored = try await FleetBed.waitFor(15) { try bed.spool(host).grant(id) != nil }
                #expect(mirrored != nil, "the service on \(host.name) never mirrored grant \(id): \(bed.serviceLog(host))")
            }
            // A live job on each host, each watched on a thread of its own.
            let watchers = bed.hosts.map { host in Task { try await bed.watch(host, key: bed.aliceKey, "sleep 616", toldBy: "was locked by root") } }
            let running = await FleetBed.waitFor(15) {
                let count = try? FleetBed.Postgres.execute("/usr/bin/pgrep", ["-c", "-u", Harness.user, "-x", "-f", "sleep 616"], timeout: 5)
                return count?.output.trimmingCharacters(in: .whitespacesAndNewlines) == "3"
            }
            #expect(running != nil, "the three jobs did not all start")

            let lock = try await bed.jitsh(bed.hosts[0], ["lock", "--user", "alice", "--reason", "laptop reported stolen"])
            let lockedAt = Date()
            #expect(lock.status == 0, "\(lock)")
            var figures: [String] = []
            for (host, watcher) in zip(bed.hosts, watchers) {
                let seen = try await watcher.value
                let told = seen.told.map { $0.timeIntervalSince(lockedAt) }, gone = seen.gone.map { $0.timeIntervalSince(lockedAt) }
                figures.append("\(host.name) told \(told.map { String(format: "%.2f", $0) } ?? "never") s, gone \(gone.map { String(format: "%.2f", $0) } ?? "never") s")
                // Within 5 s of the lock, on every host; the kill sequence (SIGHUP, SIGKILL 3 s later) follows.
                #expect(told.map { $0 <= 5 } == true, "\(host.name): told after \(told ?? -1) s: \(seen.ran)")
                #expect(gone.map { $0 <= 5 + 3 + 1 } == true, "\(host.name): gone after \(gone ?? -1) s: \(seen.ran)")
                #expect(seen.ran.errors.contains("user alice was locked by root: laptop reported stolen; the session ends"), "\(host.name): \(seen.ran)")
                let session = try #require(try bed.spool(host).latestSessionID())
                #expect(try bed.spool(host).sessionEnd(session)?.exitReason == "locked", "\(host.name)")
            }
            print("fleet lock (from `jitsh lock` on prod-1 returning): " + figures.joined(separator: "; "))
            #expect((try FleetBed.Postgres.execute("/usr/bin/pgrep", ["-u", Harness.user, "-x", "-f", "sleep 616"], timeout: 5)).status == 1,
                    "a job outlived its session")
            // The next login is refused, here and elsewhere, while the grant itself stays active.
            for host in bed.hosts {
                let refused = try await bed.ssh(host, key: bed.aliceKey, "seq 1")
                #expect(refused.status == 1 && refused.errors.contains("user alice is locked by root: laptop reported stolen"), "\(host.name): \(refused)")
            }
            #expect(try bed.sql("SELECT count(*) FROM audit_events WHERE kind = 'lock' AND line = 'user alice'") == "1")
        }
    }
}

/// Where the repository is, for the example plug-in.
enum OnCallApprovalRepository {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}
