import Foundation
@testable import Policy
import ShellSyntax

enum Fixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The files of a policy directory, as the loader takes them.
    static func directory(_ path: String) -> [PolicyFile] {
        let root = repository.appendingPathComponent(path)
        var out: [PolicyFile] = []
        let fm = FileManager.default
        for sub in ["", "roles", "contracts", "tests"] {
            let dir = sub.isEmpty ? root : root.appendingPathComponent(sub)
            for name in ((try? fm.contentsOfDirectory(atPath: dir.path)) ?? []).sorted() where name.hasSuffix(".yaml") {
                let text = (try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? ""
                out.append(PolicyFile(path: sub.isEmpty ? name : "\(sub)/\(name)", text: text))
            }
        }
        return out
    }

    static func policy(_ files: [String: String]) throws -> Policy {
        try PolicyLoader.load(files.map { PolicyFile(path: $0.key, text: $0.value) })
    }

    static func loadErrors(_ files: [String: String]) -> [String] {
        do {
            _ = try PolicyLoader.load(files.map { PolicyFile(path: $0.key, text: $0.value) })
            return []
        } catch {
            return error.diagnostics.filter { $0.severity == .error }.map(\.description)
        }
    }

    static let context = DecisionContext(host: HostInfo(name: "prod-1", tags: ["env": "production"]),
                                         epochSeconds: PolicyTesting.defaultInstant, cwd: "/home/alice", home: "/home/alice",
                                         protectedPaths: ["/var/lib/jitsh"], files: KnownFiles([]))
    static let environment = ShellEnvironment(variables: ["HOME": "/home/alice", "PWD": "/home/alice"], complete: true)

    static func decide(_ policy: Policy, _ role: String, _ line: String, context: DecisionContext = context) -> Decision {
        Decider(policy).decide(line: line, environment: environment, role: role, context: context)
    }
}
