import Policy
import Testing

@Suite struct WhatIfTests {
    static func policy(_ role: String) throws -> Policy {
        try PolicyLoader.load([PolicyFile(path: "roles/ops.yaml", text: role)])
    }

    @Test func aPolicyChangeIsJudgedAgainstRecordedLines() throws {
        let current = try WhatIfTests.policy("role: ops\nallow:\n  - cmd: [ls, cat, reboot]\n")
        let candidate = try WhatIfTests.policy("""
            role: ops
            allow:
              - cmd: [ls, cat, tail]
            deny:
              - cmd: cat
                args: ["/etc/shadow"]
                reason: secrets
            confirm:
              - cmd: reboot
            """)
        let host = HostInfo(name: "prod-1")
        let lines = ["ls /", "cat /etc/shadow", "cat /etc/hosts", "reboot now", "tail /var/log/syslog", "ls /tmp"].map {
            RecordedLine(line: $0, role: "ops", host: host, at: 1_800_000_000, cwd: "/")
        }
        let w = WhatIf(lines, current: current, candidate: candidate, zones: FixedOffsetZones())
        #expect(w.lines == 6)
        #expect(w.changes.map { "\(WhatIf.kind($0)): \($0.line.line)" } == [
            "newly denied: cat /etc/shadow", "newly confirmed: reboot now", "newly allowed: tail /var/log/syslog",
        ])
        #expect(w.counts.map(\.kind) == ["newly allowed", "newly confirmed", "newly denied"])
        #expect(w.counts.first { $0.kind == "newly denied" }?.rule == "roles/ops.yaml:5")
    }
}
