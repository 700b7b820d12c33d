import Testing
@testable import Policy

/// A broken policy never loads partly: every error is reported with file:line:column and a hint.
struct LoaderTests {
    static let role = "roles/r.yaml"

    @Test(arguments: [
        ("role: r\nalow:\n  - cmd: ls\n", "roles/r.yaml:2:1: error: unknown key `alow` in a role (did you mean `allow`?)"),
        ("role: r\nallow:\n  - cmd: ls\n    arg: [x]\n", "roles/r.yaml:4:5: error: unknown key `arg` in a allow rule (did you mean `args`?)"),
        ("role: r\nallow:\n  - args: [x]\n", "roles/r.yaml:3:5: error: a allow rule needs `cmd:`"),
        ("role: r\nallow:\n  - cmd: ls\n    args: [\"[abc\"]\n", "roles/r.yaml:4:12: error: args `[abc`: `[` without a closing `]`"),
        ("role: r\nallow:\n  - cmd: ./ls\n", "roles/r.yaml:3:10: error: cmd `./ls`: name a command"),
        ("role: r\nextends: [nope]\n", "roles/r.yaml:1:1: error: role `r` extends unknown role `nope`"),
        ("role: r\nallow: ls\n", "roles/r.yaml:2:8: error: `allow` must be a list of rules"),
        ("role: r\nallow:\n  - cmd: ls\n    when: {not: [\"Someday 9-5\"]}\n", "roles/r.yaml:4:18: error: time window `Someday 9-5`"),
        ("role: r\nallow:\n  - cmd: ls\n    option: [delete]\n", "roles/r.yaml:4:14: error: option: an option starts with `-`"),
        ("role: r\nconfirm:\n  - cmd: rm\n    phrase: please\n", "roles/r.yaml:4:13: error: phrase is hostname, count or yes"),
        ("role: r\nallow:\n  - cmd: ls\n    dry_run: builtin\n", "roles/r.yaml:4:5: error: unknown key `dry_run` in a allow rule"),
        ("role: r\nwrites: [tmp/**]\n", "roles/r.yaml:2:10: error: `tmp/**` in writes must be an absolute path"),
        ("role: r\nallow: [\n", "roles/r.yaml:3:1: error: not valid YAML"),
        ("role: bad name\n", "roles/r.yaml:1:7: error: role name `bad name`"),
        ("description: no name\n", "roles/r.yaml:1:1: error: a role file needs `role: NAME`"),
        ("role: r\nconfirm_limit: {count: 5}\n", "roles/r.yaml:2:16: error: confirm_limit needs `count` and `per`"),
    ])
    func roleErrors(text: String, expected: String) {
        let errors = Fixtures.loadErrors([Self.role: text])
        #expect(errors.contains { $0.hasPrefix(expected) }, "\(errors)")
    }

    @Test func cyclesAreErrors() {
        let errors = Fixtures.loadErrors(["roles/a.yaml": "role: a\nextends: [b]\n", "roles/b.yaml": "role: b\nextends: [a]\n"])
        #expect(errors.contains { $0.contains("extends itself: a → b → a") || $0.contains("extends itself: b → a → b") }, "\(errors)")
    }

    @Test func duplicateRolesAreErrors() {
        let errors = Fixtures.loadErrors(["roles/a.yaml": "role: x\n", "roles/b.yaml": "role: x\n"])
        #expect(errors.contains { $0.contains("role `x` is already defined in roles/a.yaml:1") }, "\(errors)")
    }

    @Test(arguments: [
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\n", "contracts/c.yaml:1:1: error: contract `c` needs `approval:`"),
        ("contract: c\nrole: nope\nrequesters: {groups: [g]}\napproval: {auto: true}\n", "contracts/c.yaml:1:1: error: contract `c` grants unknown role `nope`"),
        ("contract: c\nrole: r\napproval: {auto: true}\n", "contracts/c.yaml:1:1: error: contract `c` names no requesters"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {count: 1}\n", "contracts/c.yaml:4:11: error: approval names no approvers"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {auto: true}\nmax_duration: forever\n", "contracts/c.yaml:5:15: error: max_duration must be a duration"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {auto: true}\nreason: {pattern: \"(\"}\n", "contracts/c.yaml:5:19: error: pattern `(` is not a valid regular expression"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {auto: true}\ndefault_duration: 3h\nmax_duration: 1h\n", "contracts/c.yaml:1:1: error: contract `c`: default_duration is longer"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {all: []}\n", "contracts/c.yaml:4:17: error: approval `all:` needs a list of rules"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {all: [{count: 0, groups: [a]}]}\n", "contracts/c.yaml:4:18: error: approval count must be at least 1"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {all: [{groups: [a]}], count: 2}\n", "contracts/c.yaml:4:11: error: approval: `all:` and `any:` stand alone"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {any: [{count: 1, grups: [a]}]}\n", "contracts/c.yaml:4:29: error: unknown key `grups` in an approval rule (did you mean `groups`?)"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {auto: true, groups: [a]}\n", "contracts/c.yaml:4:11: error: approval: `auto: true` approves every request"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {groups: [a], auto_if: {timeout: 3s}}\n", "contracts/c.yaml:4:34: error: auto_if needs `command:"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {groups: [a], auto_if: {command: [oncall]}}\n", "contracts/c.yaml:4:34: error: auto_if: the command `oncall` must be an absolute path"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {groups: [a], auto_if: {command: [/bin/true], timeout: 5m}}\n", "contracts/c.yaml:4:34: error: auto_if timeout must be between 1s and 60s"),
        ("contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: {auto: true, auto_if: {command: [/bin/true]}}\n", "contracts/c.yaml:4:11: error: approval: `auto_if` asks a plug-in before people"),
    ])
    func contractErrors(text: String, expected: String) {
        let errors = Fixtures.loadErrors(["roles/r.yaml": "role: r\n", "contracts/c.yaml": text])
        #expect(errors.contains { $0.hasPrefix(expected) }, "\(errors)")
    }

    /// `approval:` as written, and what it asks of approvers as people read it.
    @Test(arguments: [
        ("{auto: true}", "approved at once"),
        ("{count: 2, groups: [leads], people: [bob]}", "needs approval by 2 of group leads or bob"),
        ("{all: [{count: 1, groups: [sre]}, {count: 1, groups: [security]}]}", "needs approval by 1 of group sre and 1 of group security"),
        ("{any: [{count: 2, groups: [sre]}, {people: [cto]}]}", "needs approval by 2 of group sre or 1 of cto"),
        ("{all: [{people: [a]}, {any: [{groups: [x]}, {groups: [y]}]}]}", "needs approval by 1 of a and (1 of group x or 1 of group y)"),
        ("{groups: [sre], auto_if: {command: [/usr/local/lib/jitsh/oncall, \"{identity}\"], timeout: 2s}}", "approved at once if on call, else needs approval by 1 of group sre"),
    ])
    func approvalRules(yaml: String, expected: String) throws {
        let p = try Fixtures.policy(["roles/r.yaml": "role: r\n", "contracts/c.yaml": "contract: c\nrole: r\nrequesters: {groups: [g]}\napproval: \(yaml)\n"])
        #expect(p.contracts.first?.approval.description == expected)
    }

    @Test func anOnCallCommandFillsItsPlaceholders() throws {
        let p = try Fixtures.policy(["roles/r.yaml": "role: r\n", "contracts/c.yaml": """
            contract: c
            role: r
            requesters: {groups: [g]}
            approval: {groups: [sre], auto_if: {command: [/usr/local/lib/jitsh/oncall, "{identity}", "--role={role}", "{hosts}", "{grant}", "{nope}"], timeout: 2s}}
            """])
        let check = try #require(p.contracts.first?.approval.onCall)
        #expect(check.timeout == 2000)
        #expect(check.argv(identity: "alice", role: "operator", hosts: "env=production", contract: "c", grant: 17)
                == ["/usr/local/lib/jitsh/oncall", "alice", "--role=operator", "env=production", "17", "{nope}"])
    }

    @Test func everyErrorIsReportedAtOnce() {
        let errors = Fixtures.loadErrors([Self.role: "role: r\nalow: []\ndeny:\n  - cmd: [\"a b\"]\nwrites: [x]\n"])
        #expect(errors.count == 3, "\(errors)")
    }

    @Test func inheritanceKeepsParentRulesFirst() throws {
        let p = try Fixtures.policy([
            "roles/base.yaml": "role: base\nallow:\n  - cmd: ls\nwrites: [/tmp/**]\nenvironment: {A: \"1\", B: \"1\"}\n",
            "roles/child.yaml": "role: child\nextends: [base]\ndeny:\n  - cmd: ls\n    args: [\"-R ...\"]\nenvironment: {B: \"2\"}\n",
        ])
        let child = try #require(p.role("child"))
        #expect(child.rules.map(\.ref.file) == ["roles/base.yaml", "roles/child.yaml"])
        #expect(child.writes == ["/tmp/**"])
        #expect(child.environment == ["A": "1", "B": "2"])
    }

    @Test func lintWarnsAboutRulesThatNeverApply() throws {
        let p = try Fixtures.policy([
            "roles/r.yaml": """
                role: r
                allow:
                  - cmd: ls
                  - cmd: ls
                    args: ["-l"]
                  - cmd: rm
                deny:
                  - cmd: rm
                """,
        ])
        let warnings = p.warnings.map(\.description)
        #expect(warnings.contains { $0.hasPrefix("roles/r.yaml:4:5: warning: this allow rule for ls repeats roles/r.yaml:3") }, "\(warnings)")
        #expect(warnings.contains { $0.hasPrefix("roles/r.yaml:6:5: warning: this allow rule for rm never applies: roles/r.yaml:8 denies it always") }, "\(warnings)")
    }

    @Test func shippedPoliciesLoadWithoutWarnings() throws {
        let p = try PolicyLoader.load(Fixtures.directory("policies").filter { !$0.path.hasPrefix("tests/") })
        #expect(p.warnings.isEmpty, "\(p.warnings)")
        #expect(Set(p.roles.keys) == ["base", "observe", "readonly", "operator", "dba"])
        #expect(p.contracts.count == 3)
    }

    /// The shipped expectations are part of the test suite: a policy change that breaks one fails CI.
    @Test func shippedPolicyExpectationsHold() throws {
        let files = Fixtures.directory("policies")
        let p = try PolicyLoader.load(files.filter { !$0.path.hasPrefix("tests/") })
        var cases: [PolicyTestCase] = []
        for f in files where f.path.hasPrefix("tests/") { cases += try PolicyTesting.parse(f) }
        #expect(cases.count >= 200)
        for r in PolicyTesting.run(cases, policy: p, zones: FixedOffsetZones()) where !r.passed {
            Issue.record("\(r.testCase.ref) [\(r.testCase.role)] \(r.testCase.line): \(r.failure ?? "")")
        }
    }
}
