import Testing
@testable import Policy
import ShellSyntax

/// Decisions under a small fixture policy: the rules of precedence, dynamic arguments, built-in
/// protections, conditions.
struct DecisionTests {
    static let policy: Policy = try! Fixtures.policy([
        "policy.yaml": "env_deny: [SECRET_*]\n",
        "roles/r.yaml": """
            role: r
            allow:
              - cmd: [ls, cat, echo, sudo, bash, xargs, rm, kubectl]
              - cmd: systemctl
                args: ["status *"]
              - cmd: /opt/app/bin/tool
              - cmd: night
                when: {only: ["daily 22:00-06:00 UTC"]}
              - cmd: prodonly
                hosts: {env: production}
              - cmd: zoned
                when: {only: ["daily 00:00-24:00 Mars/Olympus"]}
            deny:
              - cmd: ls
                option: [-R]
                reason: no recursion
              - cmd: zoneddeny
                when: {only: ["daily 00:00-24:00 Mars/Olympus"]}
            confirm:
              - cmd: rm
                dry_run: builtin
              - cmd: kubectl
                args: ["delete ..."]
                dry_run: none
                without_dry_run: confirm
            writes: [/tmp/**, ~/out/**]
            """,
        "roles/weekday.yaml": "role: weekday\nwhen: {not: [\"Sat,Sun 00:00-24:00 UTC\"]}\nallow:\n  - cmd: ls\n",
    ])

    @Test(arguments: [
        ("ls -l", Verdict.allow, "roles/r.yaml:3"),
        ("ls -lR /", .deny, "roles/r.yaml:14"),
        ("ls $1", .deny, "roles/r.yaml:14"),
        ("cat x | ls -l", .allow, "roles/r.yaml:3"),
        ("systemctl status nginx", .allow, "roles/r.yaml:4"),
        ("systemctl status \"$1\"", .allow, "roles/r.yaml:4"),
        ("systemctl status $1", .deny, ""),
        ("systemctl restart nginx", .deny, ""),
        ("rm /tmp/x", .confirm, "roles/r.yaml:20"),
        ("rm $(cat list)", .deny, "roles/r.yaml:20"),
        ("kubectl delete pod x", .confirm, "roles/r.yaml:22"),
        ("kubectl delete pod $1", .confirm, "roles/r.yaml:22"),
        ("kubectl get pods", .allow, "roles/r.yaml:3"),
        ("/opt/app/bin/tool --check", .allow, "roles/r.yaml:6"),
        ("/usr/bin/ls", .allow, "roles/r.yaml:3"),
        ("/tmp/ls", .deny, ""),
        ("sudo rm -rf /", .deny, ""),
        ("sudo ls", .allow, "roles/r.yaml:3"),
        ("bash -c 'ls -R'", .deny, "roles/r.yaml:14"),
        ("xargs rm", .deny, "roles/r.yaml:20"),
        ("prodonly", .allow, "roles/r.yaml:9"),
        ("night", .deny, ""),
        ("zoned", .deny, ""),
        ("zoneddeny", .deny, "roles/r.yaml:17"),
        ("echo > /tmp/x", .allow, "roles/r.yaml:3"),
        ("echo > ~/out/x", .allow, "roles/r.yaml:3"),
        ("echo > /etc/x", .deny, ""),
        ("echo > x", .deny, ""),
        ("echo > /dev/null 2>&1", .allow, "roles/r.yaml:3"),
        ("echo > /var/lib/jitsh/jitsh.db", .deny, ""),
        ("SECRET_TOKEN=1 ls", .deny, "policy.yaml:1"),
        ("LD_PRELOAD=x ls", .deny, "policy.yaml:1"),
        ("x=1; echo $x", .allow, "roles/r.yaml:3"),
        ("rm -rf /", .deny, ""),
        ("rm -r /boot", .deny, ""),
        ("rm -rf /usr/*", .deny, ""),
        ("rm -rf /var/lib/jitsh", .deny, ""),
        ("rm -rf ../../..", .deny, ""),
        ("echo 'unterminated", .deny, ""),
        ("f() { ls; }", .deny, ""),
        ("", .allow, ""),
    ])
    func decisions(line: String, verdict: Verdict, rule: String) {
        let d = Fixtures.decide(Self.policy, "r", line)
        #expect(d.verdict == verdict, "\(line): \(d.verdict) — \(d.reason)")
        #expect((d.rule?.description ?? "") == rule, "\(line): decided by \(d.rule?.description ?? "built-in") — \(d.reason)")
    }

    @Test func theNightRuleHoldsAtNight() {
        var context = Fixtures.context
        context.epochSeconds = Timestamp.seconds("2026-01-05T23:00:00Z")!
        #expect(Fixtures.decide(Self.policy, "r", "night", context: context).verdict == .allow)
    }

    @Test func hostConditionsUseTheHostsTags() {
        var context = Fixtures.context
        context.host = HostInfo(name: "staging-1", tags: ["env": "staging"])
        #expect(Fixtures.decide(Self.policy, "r", "prodonly", context: context).verdict == .deny)
    }

    @Test func aRoleOutsideItsWindowDeniesEverything() {
        var context = Fixtures.context
        context.epochSeconds = Timestamp.seconds("2026-01-10T12:00:00Z")!
        let d = Fixtures.decide(Self.policy, "weekday", "ls", context: context)
        #expect(d.verdict == .deny)
        #expect(d.reason.hasPrefix("role `weekday` is not usable now"))
    }

    @Test func unknownRolesAreDenied() {
        #expect(Fixtures.decide(Self.policy, "nope", "ls").reason == "role `nope` is not defined in the policy")
    }

    @Test func theDefaultDenyNamesTheRoleAndCommand() {
        #expect(Fixtures.decide(Self.policy, "r", "whoami").reason == "no rule of role r allows whoami")
        #expect(Fixtures.decide(Self.policy, "r", "/tmp/ls").reason == "no rule of role r allows /tmp/ls (a path outside trusted_paths needs a rule naming it)")
    }

    @Test func confirmationsCarryTheirSpec() throws {
        let d = Fixtures.decide(Self.policy, "r", "rm /tmp/a; kubectl delete pod x")
        #expect(d.confirmations.map { $0.confirm?.dryRun } == [.builtin, ConfirmSpec.DryRun.none])
    }

    @Test func eachPartOfALineIsJudged() {
        let d = Fixtures.decide(Self.policy, "r", "ls | cat > /etc/x; SECRET_A=1 echo ${!x}")
        #expect(d.commands.map(\.judgement.verdict) == [.allow, .allow, .allow])
        #expect(d.redirects.map(\.judgement.verdict) == [.deny])
        #expect(d.assignments.map(\.judgement.verdict) == [.deny])
        #expect(d.risks.map(\.judgement.verdict) == [.deny])
        #expect(d.verdict == .deny)
    }

    @Test func execDecisionsUseThePathTheKernelSees() {
        let d = Decider(Self.policy)
        #expect(d.decideExec(argv: ["/usr/bin/ls", "-l"], role: "r", context: Fixtures.context).judgement.verdict == .allow)
        #expect(d.decideExec(argv: ["/usr/bin/ls", "-R"], role: "r", context: Fixtures.context).judgement.verdict == .deny)
        #expect(d.decideExec(argv: ["/tmp/sh"], role: "r", context: Fixtures.context).judgement.verdict == .deny)
    }
}
