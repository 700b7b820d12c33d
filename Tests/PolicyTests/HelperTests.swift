import Foundation
@testable import Policy
import ShellSyntax
import Testing

/// Helpers: what an allowed program runs for its own work, decided with its callers (issue 18).
@Suite struct HelperTests {
    static let shipped = try! PolicyLoader.load(Fixtures.directory("policies").filter { !$0.path.hasPrefix("tests/") })

    /// argv run, its callers (nearest first, `|` between them), expected verdict, under readonly.
    static let cases: [(String, String, Verdict)] = [
        ("/usr/bin/tbl", "/usr/bin/man ls", .allow),
        ("/usr/bin/groff -mtty-char -Tutf8 -mandoc", "/usr/bin/nroff -mandoc -Tutf8 | /usr/bin/man ls", .allow),
        ("/usr/bin/tbl", "", .deny),
        ("/usr/bin/tbl", "/usr/bin/cat x", .deny),
        ("/usr/bin/gzip -c7", "/usr/bin/man ls", .allow),
        ("/usr/bin/gzip -d", "/usr/bin/man ls", .deny),
        ("/usr/bin/gzip -d", "/usr/bin/tar tzf x.tgz", .allow),
        ("/usr/bin/gzip -d", "/usr/bin/tar --create -zf x.tgz y", .deny),
        ("/usr/bin/gzip", "/usr/bin/tar tzf x.tgz", .deny),
        ("/usr/bin/gzip -cd x.gz", "", .allow),
        ("/usr/bin/gzip x", "", .deny),
        ("/bin/sh -c uptime", "/usr/bin/watch -n1 uptime", .allow),
        ("/bin/sh -c 'uptime | head -1'", "/usr/bin/watch -n1 uptime", .allow),
        ("/bin/sh -c 'rm -rf /tmp/x'", "/usr/bin/watch -n1 x", .deny),
        ("/bin/sh -c 'echo x > /etc/passwd'", "/usr/bin/watch -n1 x", .deny),
        ("/bin/sh -c 'bash -i'", "/usr/bin/watch -n1 x", .deny),
        ("/bin/sh -c uptime", "", .deny),
        ("/bin/sh -i", "/usr/bin/watch -n1 x", .deny),
        // LESSSECURE (base role) keeps less from running anything: it has no helpers.
        ("/bin/sh -c 'gzip -cdfq -- /tmp/x.gz'", "/usr/bin/less /tmp/x.gz", .deny),
        ("/usr/bin/pager", "/usr/bin/git log", .allow),
        ("/usr/bin/less", "/usr/bin/systemctl status nginx", .allow),
        ("/usr/bin/pager", "/usr/bin/journalctl -u nginx", .allow),
        // A helper of a program allowed only with some arguments: the caller must be allowed as it runs.
        ("/usr/bin/pager", "/usr/bin/git -p log", .deny),
        ("/usr/bin/pager", "/usr/bin/git commit", .deny),
        // Explicit denies and protections hold for helpers too.
        ("/usr/bin/less -k keys", "/usr/bin/git log", .deny),
        ("/usr/bin/tbl", "/tmp/man ls", .deny),
    ]

    @Test(arguments: cases)
    func helpersAreAllowedBelowTheirCaller(_ argv: String, _ callers: String, _ expected: Verdict) throws {
        var ctx = Fixtures.context
        ctx.callers = try callers.split(separator: "|").map { try ArgumentPattern.split(String($0)) }
        let words = try ArgumentPattern.split(argv)
        let d = Decider(HelperTests.shipped).decideExec(argv: words, role: "readonly", context: ctx)
        #expect(d.judgement.verdict == expected, "\(argv) below \(callers): \(d.judgement.reason)")
    }

    @Test func theReasonNamesTheCaller() {
        var ctx = Fixtures.context
        ctx.callers = [["/usr/bin/man", "ls"]]
        let d = Decider(HelperTests.shipped).decideExec(argv: ["/usr/bin/tbl"], role: "readonly", context: ctx)
        #expect(d.judgement.reason == "a helper of man")
        #expect(d.judgement.rule?.file == "roles/observe.yaml")
    }

    @Test(arguments: [
        ("allow:\n  - cmd: man\n    helpers: [\"\"]\n", "roles/r.yaml:4"),
        ("allow:\n  - cmd: man\n    helpers: [bin/tbl]\n", "helpers `bin/tbl`: start with a command name"),
        ("allow:\n  - cmd: man\n    helpers: [\"sh -c '*\"]\n", "unterminated quote"),
        ("allow:\n  - cmd: man\n    helpers: [\"tbl [x\"]\n", "helpers `tbl [x`"),
        ("deny:\n  - cmd: man\n    helpers: [tbl]\n", "roles/r.yaml:4:5: error: unknown key `helpers` in a deny rule"),
    ])
    func badHelpersAreErrorsWithTheirPlace(_ body: String, _ message: String) {
        let errors = Fixtures.loadErrors(["roles/r.yaml": "role: r\n" + body])
        #expect(errors.contains { $0.contains(message) }, "\(errors)")
    }

    @Test func helpersLoadAndDoNotAllowOnTheirOwn() throws {
        let p = try Fixtures.policy(["roles/r.yaml": "role: r\nallow:\n  - cmd: man\n    helpers: [tbl, \"sh -c *\"]\n"])
        #expect(p.role("r")?.rules.first?.helpers?.map(\.description) == ["tbl", "sh -c *"])
        #expect(Fixtures.decide(p, "r", "tbl").verdict == .deny)
        #expect(Fixtures.decide(p, "r", "man ls").verdict == .allow)
    }
}
