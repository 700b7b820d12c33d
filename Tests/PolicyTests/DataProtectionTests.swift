import Testing
@testable import Policy
import ShellSyntax

/// The shipped roles on destructive lines: the verdict, and what the dry run will be shown.
struct DataProtectionTests {
    static let policy = try! PolicyLoader.load(Fixtures.directory("policies").filter { !$0.path.hasPrefix("tests/") })

    static func decide(_ line: String, role: String = "operator", files: [String], decider: Decider = Decider(policy)) -> Decision {
        let context = DecisionContext(host: HostInfo(name: "prod-1"), epochSeconds: PolicyTesting.defaultInstant, cwd: "/home/alice",
                                      home: "/home/alice", protectedPaths: ["/var/lib/jitsh"], files: KnownFiles(files))
        return decider.decide(line: line, environment: Fixtures.environment, role: role, context: context)
    }

    /// The dry-run plan: each destroyed target as `kind target`, commands first, then redirections.
    static func plan(_ d: Decision) -> String {
        (d.commands.flatMap(\.destroys) + d.destructions).map { "\($0.kind.rawValue) \($0.target.glob ?? $0.target.text)" }
            .joined(separator: "; ")
    }

    @Test(arguments: [
        (": > /var/log/app/a.log", "/var/log/app/a.log", Verdict.confirm, "truncates /var/log/app/a.log"),
        ("echo x > /var/log/app/a.log 2> /var/log/app/b.log", "/var/log/app/a.log /var/log/app/b.log", .confirm,
         "truncates /var/log/app/a.log; truncates /var/log/app/b.log"),
        ("cp /dev/null f", "/home/alice/f", .confirm, "overwrites f"),
        ("cp /dev/null f", "", .allow, ""),
        ("cp a b /tmp/d", "/tmp/d/ /tmp/d/b", .confirm, "overwrites /tmp/d/b"),
        ("cp /etc/*.conf /tmp/d", "/tmp/d/", .confirm, "overwrites /tmp/d/*.conf"),
        ("cp a /tmp/d", "/tmp/d", .confirm, "overwrites /tmp/d"),
        ("tee f </dev/null", "/home/alice/f", .confirm, "truncates f"),
        ("gzip /var/log/app/a.log", "/var/log/app/a.log", .confirm, "removes /var/log/app/a.log"),
        ("tar -cf /tmp/x.tar --remove-files /var/log/app/a.log", "/var/log/app/a.log", .confirm, "removes /var/log/app/a.log"),
        ("tar -cf /tmp/x.tar --remove-files /var/log/app/a.log", "/var/log/app/a.log /tmp/x.tar", .confirm,
         "overwrites /tmp/x.tar; removes /var/log/app/a.log"),
        ("mv /tmp/a /tmp/b", "/tmp/a /tmp/b", .confirm, "overwrites /tmp/b"),
        ("GLOBIGNORE=/x; rm /var/log/app/*", "/var/log/app/", .deny, "removes /var/log/app/*"),
        ("cd /var/log/app && rm -r a.log sub", "", .deny, "removes a.log; removes sub"),
    ])
    func destructiveLines(_ line: String, _ files: String, _ verdict: Verdict, _ plan: String) {
        let d = Self.decide(line, files: files.split(separator: " ").map(String.init))
        #expect(d.verdict == verdict, "\(line): \(d.reason)")
        #expect(Self.plan(d) == plan, "\(line)")
    }

    /// A tool's own dry run is decided as a dry run: allowed by the role's allow rules, never
    /// refused as the confirmable command it previews; what it would really do stays denied.
    @Test(arguments: [
        ("kubectl delete pod x --dry-run=server -o name", Verdict.allow), ("kubectl -n p delete pod x --dry-run=server -o name", .allow),
        ("git clean -fd --dry-run", .allow), ("git -C /srv/app clean -fdx --dry-run", .allow), ("rsync -a --delete a/ b/ --dry-run", .allow),
        ("kubectl delete pod x", .deny), ("git clean -fd", .deny), ("git clean -fd -- --dry-run", .deny),
        ("kubectl delete pod x --dry-run=server -o name --kubeconfig=/tmp/k", .deny),
    ])
    func toolDryRuns(_ line: String, _ verdict: Verdict) {
        let d = Self.decide(line, files: [], decider: Decider(Self.policy).forDryRuns())
        #expect(d.verdict == verdict, "\(line): \(d.reason)")
    }

    @Test func helpNamesUnseenSQLOnlyWhenARoleAllowsIt() throws {
        let p = try Fixtures.policy(["roles/q.yaml": "role: q\nallow:\n  - cmd: psql\n    statements: [select, unseen]\n"])
        let d = Decider(p).decide(line: "psql", environment: Fixtures.environment, role: "q", context: Fixtures.context)
        #expect(d.verdict == .allow, "\(d.reason)")
        let dba = Self.decide("psql", role: "dba", files: [])
        #expect(dba.verdict == .deny && dba.reason.contains("cannot see before it runs"), "\(dba.reason)")
    }
}
