import Testing
@testable import Policy

/// `snapshot:` in a role: what loads, what is refused with file:line, what lint says, and the
/// pure decisions (where to walk, what a failed check leads to).
struct SnapshotPolicyTests {
    static let role = "roles/r.yaml"
    static let head = "role: r\nwrites: [\"/etc/**\"]\n"

    @Test(arguments: [
        ("snapshot: /etc/nginx\n", "roles/r.yaml:3:11: error: `snapshot` must be a list of entries"),
        ("snapshot:\n  - check: [nginx, -t]\n", "roles/r.yaml:4:5: error: a snapshot entry needs `paths:`"),
        ("snapshot:\n  - paths: [etc/nginx/**]\n", "roles/r.yaml:4:13: error: `etc/nginx/**` in snapshot paths must be an absolute path"),
        ("snapshot:\n  - paths: [\"/etc/../root/**\"]\n", "roles/r.yaml:4:13: error: `/etc/../root/**` in snapshot paths must not contain `..`"),
        ("snapshot:\n  - paths: [\"/etc/[x\"]\n", "roles/r.yaml:4:13: error: `/etc/[x` in snapshot paths: `[` without a closing `]`"),
        ("snapshot:\n  - paths: [/etc/x]\n    on_failure: revert\n", "roles/r.yaml:5:17: error: on_failure is restore, ask or keep"),
        ("snapshot:\n  - paths: [/etc/x]\n    check: []\n", "roles/r.yaml:5:12: error: check is a program and its arguments"),
        ("snapshot:\n  - paths: [/etc/x]\n    chek: [true]\n", "roles/r.yaml:5:5: error: unknown key `chek` in a snapshot entry (did you mean `check`?)"),
        ("snapshot:\n  - paths: [/etc/x]\nsnapshot_limit: lots\n", "roles/r.yaml:5:17: error: snapshot_limit is a size like 64MiB"),
        ("snapshot_limit: 1MiB\n", "roles/r.yaml:1:1: error: role `r` sets snapshot_limit but watches nothing"),
    ])
    func errors(text: String, expected: String) {
        let errors = Fixtures.loadErrors([Self.role: Self.head + text])
        #expect(errors.contains { $0.hasPrefix(expected) }, "\(errors)")
    }

    @Test func aRoleLoadsItsEntriesAndItsLimitAndAChildInheritsThem() throws {
        let p = try Fixtures.policy([
            "roles/web.yaml": """
                role: web
                writes: ["/etc/nginx/**", "/etc/cron.d/**"]
                snapshot:
                  - paths: ["/etc/nginx/**"]
                    check: ["/usr/sbin/nginx", "-t"]
                    on_failure: ask
                    line_failure: true
                  - paths: ["/etc/cron.d/**"]
                snapshot_limit: 8MiB
                """,
            "roles/child.yaml": "role: child\nextends: [web]\n",
            "roles/other.yaml": "role: other\n",
        ])
        let web = try #require(p.role("web")?.snapshot)
        #expect(web.limit == 8 << 20)
        #expect(web.rules.map(\.paths) == [["/etc/nginx/**"], ["/etc/cron.d/**"]])
        #expect(web.rules[0].check == ["/usr/sbin/nginx", "-t"] && web.rules[0].onFailure == .ask && web.rules[0].lineFailure)
        // Nothing can fail without a check or line_failure: the entry keeps images only.
        #expect(web.rules[1].check == nil && web.rules[1].onFailure == .keep)
        #expect(p.role("child")?.snapshot == web)
        #expect(p.role("other")?.snapshot == nil)
        #expect(p.warnings.isEmpty, "\(p.warnings)")
    }

    @Test func aContractsSnapshotTakesThePlaceOfItsRoles() throws {
        let contract = """
            contract: web-change
            role: web
            requesters: {groups: [oncall]}
            approval: {auto: true}
            reason: {required: false}
            snapshot:
              - paths: ["/etc/nginx/sites-enabled/**"]
                check: ["/usr/sbin/nginx", "-t"]
            snapshot_limit: 1MiB
            """
        let p = try Fixtures.policy(["roles/web.yaml": "role: web\nwrites: [\"/etc/**\"]\nsnapshot:\n  - paths: [\"/etc/nginx/**\"]\n",
                                     "contracts/web-change.yaml": contract])
        let own = try #require(p.snapshot(role: "web", contract: "web-change"))
        #expect(own.rules.map(\.paths) == [["/etc/nginx/sites-enabled/**"]] && own.limit == 1 << 20 && own.rules[0].onFailure == .restore)
        #expect(p.snapshot(role: "web", contract: "other")?.rules.map(\.paths) == [["/etc/nginx/**"]])
        #expect(p.snapshot(role: "other", contract: "web-change") == nil)
        let errors = Fixtures.loadErrors(["roles/web.yaml": "role: web\n",
                                          "contracts/c.yaml": "contract: c\nrole: web\nrequesters: {groups: [g]}\napproval: {auto: true}\nsnapshot_limit: 1MiB\n"])
        #expect(errors.contains { $0.hasPrefix("contracts/c.yaml:1:1: error: contract `c` sets snapshot_limit but watches nothing") }, "\(errors)")
    }

    @Test func lintWarnsAboutEntriesThatCannotDoWhatTheySay() throws {
        let p = try Fixtures.policy([Self.role: """
            role: r
            writes: ["/tmp/**"]
            snapshot:
              - paths: ["/etc/nginx/**"]
                check: [nginx, -t]
              - paths: ["/tmp/app/**"]
                on_failure: restore
            """])
        let warnings = p.warnings.map(\.description)
        #expect(warnings.contains { $0.hasPrefix("roles/r.yaml:4:5: warning: check `nginx` is looked up in the trusted paths") }, "\(warnings)")
        #expect(warnings.contains { $0.hasPrefix("roles/r.yaml:4:5: warning: snapshot path `/etc/nginx/**` is not in the role's writes") }, "\(warnings)")
        #expect(warnings.contains { $0.hasPrefix("roles/r.yaml:6:5: warning: on_failure: restore never applies") }, "\(warnings)")
        #expect(warnings.count == 3, "\(warnings)")
    }

    @Test(arguments: [
        ("/etc/nginx/**", "/etc/nginx"),
        ("/etc/cron.d/*.conf", "/etc/cron.d"),
        ("/etc/hosts", "/etc/hosts"),
        ("/etc//nginx/", "/etc/nginx"),
        ("/*.conf", "/"),
        ("~/app/**", "/home/alice/app"),
        ("~", "/home/alice"),
        ("/srv/a[bc]/x", "/srv"),
    ])
    func walkRoots(pattern: String, root: String) {
        #expect(SnapshotRule.walkRoot(pattern, home: "/home/alice") == root)
    }

    @Test func rootsInsideOthersAreWalkedOnce() {
        let s = SnapshotSettings(rules: [SnapshotRule(ref: SourceRef(file: "r", line: 1, column: 1), paths: ["/etc/nginx/**", "/etc/**"]),
                                         SnapshotRule(ref: SourceRef(file: "r", line: 2, column: 1), paths: ["/srv/app/*.yaml", "/srv/app2/**"])])
        #expect(s.walkRoots(home: "/root") == ["/etc", "/srv/app", "/srv/app2"])
        #expect(s.rule(for: "/etc/nginx/nginx.conf", home: "/root") == 0)
        #expect(s.rule(for: "/srv/app/a.yaml", home: "/root") == 1)
        #expect(s.rule(for: "/srv/app/a.json", home: "/root") == nil)
    }

    static let check = SnapshotRule(ref: SourceRef(file: "r", line: 1, column: 1), paths: ["/x"], check: ["nginx", "-t"], onFailure: .restore)
    static let strict = SnapshotRule(ref: SourceRef(file: "r", line: 1, column: 1), paths: ["/x"], onFailure: .ask, lineFailure: true)

    @Test(arguments: [
        (check, Int32(0), Int32??.some(0), SnapshotRule.Outcome.kept),
        (check, Int32(1), Int32??.some(0), .kept),
        (check, Int32(0), Int32??.some(1), .failed(why: "the check `nginx -t` exited with status 1", action: .restore)),
        (check, Int32(0), Int32??.some(nil), .failed(why: "the check `nginx -t` did not finish in time", action: .restore)),
        (strict, Int32(0), Int32??.none, .kept),
        (strict, Int32(2), Int32??.none, .failed(why: "the line exited with status 2", action: .ask)),
    ])
    func outcomes(rule: SnapshotRule, line: Int32, check: Int32??, expected: SnapshotRule.Outcome) {
        #expect(rule.outcome(lineStatus: line, checkStatus: check) == expected)
    }

    @Test(arguments: [("64MiB", 64 << 20), ("512KiB", 512 << 10), ("1GiB", 1 << 30), ("4096", 4096), ("2 M", 2 << 20), ("x", -1), ("-1", -1)])
    func byteSizes(text: String, bytes: Int) {
        #expect(ByteSize.parse(text) == (bytes < 0 ? nil : bytes))
    }
}
