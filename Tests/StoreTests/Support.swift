import Foundation
import Policy
@testable import Store

enum TestPolicy {
    static let files: [String: String] = [
        "policy.yaml": "people:\n  alice: [oncall]\n  bob: [oncall]\n  lead1: [leads]\n  lead2: [leads]\n  root: [admins]\n",
        "roles/readonly.yaml": "role: readonly\nallow:\n  - cmd: ls\n",
        "roles/operator.yaml": "role: operator\nallow:\n  - cmd: ls\n",
        "roles/dba.yaml": "role: dba\nallow:\n  - cmd: psql\n",
        "contracts/auto.yaml": """
            contract: auto
            role: readonly
            requesters: {groups: [oncall]}
            hosts: ["prod-*"]
            default_duration: 30m
            max_duration: 2h
            reason: {required: true, pattern: "^(INC|CHG)-[0-9]+"}
            approval: {auto: true}
            pending_ttl: 1h
            """,
        "contracts/one.yaml": """
            contract: one
            role: operator
            requesters: {groups: [oncall]}
            hosts: ["prod-*"]
            default_duration: 1h
            max_duration: 4h
            reason: {required: true}
            approval: {count: 1, groups: [leads]}
            windows: {deny: ["Sat,Sun 00:00-24:00 UTC"]}
            pending_ttl: 1h
            """,
        "contracts/two.yaml": """
            contract: two
            role: dba
            requesters: {people: [alice]}
            hosts: ["prod-*"]
            default_duration: 1h
            max_duration: 2h
            reason: {required: false}
            approval: {count: 2, groups: [leads], people: [bob]}
            pending_ttl: 30m
            """,
    ]

    static let policy: Policy = try! PolicyLoader.load(files.map { PolicyFile(path: $0.key, text: $0.value) })
    static let host = HostInfo(name: "prod-1")
    /// 2026-01-05T12:00:00Z, a Monday, in microseconds as the store counts.
    static let monday: Int64 = 1_767_614_400 * second

    static func person(_ name: String) -> Requester {
        Requester(identity: name, groups: Set(policy.global.people[name] ?? []), isRoot: name == "root")
    }
}

/// A store in a fresh temporary directory, removed when the test ends.
final class TemporaryStore {
    let directory: URL
    let store: SQLiteStore
    var path: String { directory.appendingPathComponent("jitsh.db").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try SQLiteStore(path: directory.appendingPathComponent("jitsh.db").path, create: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func service(host: HostInfo = TestPolicy.host) -> GrantService {
        GrantService(store: store, policy: TestPolicy.policy, host: host, zones: FixedOffsetZones())
    }
}

/// The built jitsh binary, for tests that drive it as separate processes.
enum Binary {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var jitsh: String {
        if let explicit = ProcessInfo.processInfo.environment["JITSH_BINARY"] { return explicit }
        return repository.appendingPathComponent(".build/debug/jitsh").path
    }

    struct Result {
        var status: Int32
        var output: String
        var error: String
    }

    static func run(_ arguments: [String], as user: String? = nil) throws -> Result {
        let p = Process()
        if let user {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid=\(user)", "--regid=\(user)", "--clear-groups", jitsh] + arguments
            p.environment = ["PATH": "/usr/bin:/bin", "HOME": "/"]
        } else {
            p.executableURL = URL(fileURLWithPath: jitsh)
            p.arguments = arguments
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, output: String(decoding: o, as: UTF8.self), error: String(decoding: e, as: UTF8.self))
    }
}

/// Microseconds in a second: tests write times as the store keeps them, `now + 60 * second`.
let second: Int64 = 1_000_000
