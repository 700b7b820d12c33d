import Foundation

/// The fleet beds' policy: alice on call, lead1 a lead, an `operator` role (`role`, its whole
/// file) and the `fleet` contract for prod-* hosts, approved by one lead.
public enum FleetPolicy {
    public static func write(into root: String, role: String) throws {
        for dir in ["policies/roles", "policies/contracts"] {
            try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        try "people:\n  alice: [oncall]\n  lead1: [leads]\n".write(toFile: root + "/policies/policy.yaml", atomically: true, encoding: .utf8)
        try role.write(toFile: root + "/policies/roles/operator.yaml", atomically: true, encoding: .utf8)
        try """
            contract: fleet
            role: operator
            requesters: {groups: [oncall]}
            hosts: ["prod-*"]
            default_duration: 1h
            max_duration: 4h
            reason: {required: true}
            approval: {count: 1, groups: [leads]}
            pending_ttl: 1h
            """.write(toFile: root + "/policies/contracts/fleet.yaml", atomically: true, encoding: .utf8)
    }
}
