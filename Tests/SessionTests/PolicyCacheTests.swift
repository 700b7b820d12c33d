import Foundation
import Policy
@testable import Session
import Store
import Testing

/// The policy cache lets a session parse only what its grant needs, and only when root wrote it
/// for exactly the files on disk: anything else loads the whole directory, as without a cache.
@Suite(.serialized) struct PolicyCacheTests {
    static let files = [
        PolicyFile(path: "policy.yaml", text: "people:\n  alice: [oncall]\n"),
        PolicyFile(path: "roles/base.yaml", text: "role: base\nallow:\n  - cmd: ls\n"),
        PolicyFile(path: "roles/operator.yaml", text: "role: operator\nextends: [base]\nallow:\n  - cmd: systemctl\n"),
        PolicyFile(path: "roles/dba.yaml", text: "role: dba\nallow:\n  - cmd: psql\n"),
        PolicyFile(path: "contracts/change.yaml", text: """
            contract: change
            role: operator
            requesters: {groups: [oncall]}
            approval: {auto: true}
            reason: {required: false}
            confirm_tokens: true
            """),
    ]

    let dir: String
    let installation: Installation

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-policy-cache-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var configuration = HostConfiguration(host: HostInfo(name: "prod-1"))
        configuration.storePath = dir + "/jitsh.db"
        installation = Installation(configuration: configuration, configurationPath: dir + "/jitsh.yaml")
    }

    var cachePath: String { dir + "/policy.cache" }

    @Test func aCacheNamesTheFilesOfARoleItsParentsAndItsContract() throws {
        let policy = try PolicyLoader.load(Self.files, lint: false)
        let cache = PolicyCache(policy: policy, files: Self.files)
        #expect(PolicyCache.parse(cache.text) == cache)
        let needed = try #require(cache.files(forRole: "operator", contract: "change", in: Self.files)).map(\.path)
        #expect(needed == ["policy.yaml", "roles/base.yaml", "roles/operator.yaml", "contracts/change.yaml"])
        #expect(cache.files(forRole: nil, contract: nil, in: Self.files)?.map(\.path) == ["policy.yaml"])
        #expect(cache.files(forRole: "gone", contract: nil, in: Self.files) == nil)
        // A break-glass grant names no contract of the directory.
        #expect(cache.files(forRole: "dba", contract: "break-glass", in: Self.files)?.map(\.path) == ["policy.yaml", "roles/dba.yaml"])
    }

    /// Parsed alone, the granted role decides as it does in the whole policy.
    @Test func thePartialPolicyHoldsTheRoleAsTheWholeOneDoes() throws {
        guard geteuid() == 0 else { return }
        let first = try installation.loadSessionPolicy(role: nil, contract: nil, files: Self.files)
        #expect(first.whole, "no cache yet: the whole directory")
        let global = try installation.loadSessionPolicy(role: nil, contract: nil, files: Self.files)
        #expect(!global.whole)
        #expect(global.policy.global.people["alice"] == ["oncall"])
        let partial = try installation.loadSessionPolicy(role: "operator", contract: "change", files: Self.files)
        #expect(!partial.whole)
        #expect(Set(partial.policy.roles.keys) == ["base", "operator"])
        let whole = try PolicyLoader.load(Self.files, lint: false)
        #expect(partial.policy.role("operator")?.rules.map(\.commands) == whole.role("operator")?.rules.map(\.commands))
        #expect(partial.policy.contracts.map(\.name) == ["change"])
        #expect(partial.policy.contracts.first?.confirmTokens == true)
    }

    /// A changed file, a cache not root's or writable by others: the whole directory, and a
    /// broken file then stops the load, cache or not.
    @Test func aCacheOfOtherFilesOrNotRootsIsIgnored() throws {
        guard geteuid() == 0 else { return }
        _ = try installation.loadSessionPolicy(role: nil, contract: nil, files: Self.files)
        var changed = Self.files
        changed[3] = PolicyFile(path: "roles/dba.yaml", text: "role: dba\nallow:\n  - cmd: psql\n  - cmd: pg_dump\n")
        #expect(try installation.loadSessionPolicy(role: "dba", contract: nil, files: changed).whole)
        #expect(try !installation.loadSessionPolicy(role: "dba", contract: nil, files: changed).whole, "root rewrote the cache")

        var broken = changed
        broken[3] = PolicyFile(path: "roles/dba.yaml", text: "role: dba\nallow:\n  - cmd: psql\n  - nonsense: [\n")
        #expect(throws: PolicyError.self) { try installation.loadSessionPolicy(role: "operator", contract: nil, files: broken) }

        _ = try installation.loadSessionPolicy(role: nil, contract: nil, files: Self.files)
        chmod(cachePath, 0o664)
        #expect(PolicyCache.read(cachePath) == nil, "group-writable")
        chmod(cachePath, 0o644)
        #expect(PolicyCache.read(cachePath) != nil)
        chown(cachePath, 65534, 65534)
        #expect(PolicyCache.read(cachePath) == nil, "not root's")
        unlink(cachePath)
        symlink(dir + "/elsewhere", cachePath)
        #expect(PolicyCache.read(cachePath) == nil, "a link")
    }

    @Test(arguments: [
        "",
        "jitsh policy cache v0\ndigest \(String(repeating: "0", count: 64))\n",
        "jitsh policy cache v1\ndigest short\n",
        "jitsh policy cache v1\ndigest \(String(repeating: "0", count: 64))\nsomething else\n",
        "jitsh policy cache v1\ndigest \(String(repeating: "0", count: 64))",
    ])
    func whatIsNotACacheDoesNotParse(_ text: String) {
        #expect(PolicyCache.parse(text) == nil)
    }
}
