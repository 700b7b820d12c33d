import Foundation
import Policy
import Posix
import ShellSyntax
import Store

/// Asks a contract's on-call plug-in (`approval: {auto_if: …}`) about a new request: exit 0
/// approves it at once; anything else (another status, a crash, no answer within the timeout,
/// a program that does not start) leaves it pending for people. The plug-in runs as the
/// requester, without jitsh's group, with nothing inherited; every run is an audit event with
/// what it printed, whatever it answered.
public struct OnCallApproval {
    public let service: GrantService
    public let audit: (any AuditLog)?

    public init(service: GrantService, audit: (any AuditLog)?) {
        self.service = service
        self.audit = audit
    }

    public enum Outcome: Equatable {
        case approved(Grant)
        /// Still pending, and why the plug-in did not approve.
        case pending(String)
    }

    /// Output kept in the event, and shown: enough for a schedule's answer, bounded.
    static let outputLimit = 2048

    public func ask(_ check: OnCallCheck, about g: Grant, now: () -> Int64) -> Outcome {
        let argv = check.argv(identity: g.identity, role: g.role, hosts: g.hostPattern, contract: g.contract, grant: g.id)
        let result = ChildProcess.run(argv, input: [], timeout: Double(check.timeout) / 1000, limit: Self.outputLimit)
        let printed = Visible.text(String(decoding: (result.output + result.errors).prefix(Self.outputLimit), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines))
        let verdict: String
        var approved: Grant?
        switch result.status {
        case 0?:
            do {
                approved = try service.approveOnCall(g.id, check: argv[0], output: printed, now: now())
                verdict = "on call: approved"
            } catch {
                verdict = "the plug-in approved, but the grant did not take it: \(error)"
            }
        case let status?:
            verdict = status == 127 && result.output.isEmpty ? "the plug-in did not start" : "not on call (exit \(status))"
        case nil:
            verdict = result.output.isEmpty && result.errors.starts(with: Array("cannot start".utf8))
                ? "the plug-in did not start: \(String(decoding: result.errors, as: UTF8.self))"
                : "the plug-in gave no answer within \(Duration.describe(max(1, check.timeout / 1000)))"
        }
        let data: [String: Any] = ["grant": g.id, "command": argv, "exit": result.status.map { Int($0) } ?? NSNull(),
                                   "output": printed, "approved": approved != nil]
        let json = (try? JSONSerialization.data(withJSONObject: data, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let event = AuditEvent(at: now(), sessionID: nil, identity: g.identity, host: service.host.name, kind: .approvalCheck,
                               line: argv.joined(separator: " "), decision: approved == nil ? .none : .approve, reason: verdict, data: json)
        do { try audit?.appendAudit([event]) } catch {
            // The run is part of the record: an approval nobody can audit is withdrawn.
            guard let granted = approved else { return .pending(verdict) }
            _ = try? service.revoke(granted.id, by: Requester(identity: "jitsh", groups: [], isRoot: true),
                                    reason: "the on-call approval could not be audited: \(error)", now: now())
            return .pending("the on-call approval could not be audited (\(error)); it was withdrawn")
        }
        return approved.map(Outcome.approved) ?? .pending(verdict)
    }
}
