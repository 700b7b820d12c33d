import Foundation
import Testing

/// Everyday work that must not be refused (issue 18): grant help, and read-only lines whose
/// programs run helpers of their own (man → tbl, tar → gzip, watch → sh -c, git → pager).
extension SessionTests {
    @Test func grantHelpIsPrintedThroughTheForcedCommand() throws {
        try h.grant(role: nil)
        for line in ["grant --help", "grant", "grant -h", "grant help"] {
            let c = try h.connect().exec(line, timeout: 10)
            #expect(c.exitStatus == 0, "\(line): \(c.errorText)")
            #expect(c.text.contains("Request, approve and inspect just-in-time grants."), "\(line): \(c.text)")
            #expect(c.text.contains("request"), "\(line): \(c.text)")
            #expect(!c.errorText.contains("Unknown option"), "\(line): \(c.errorText)")
        }
        let verb = try h.connect().exec("grant request --help", timeout: 10)
        #expect(verb.exitStatus == 0, "\(verb.errorText)")
        #expect(verb.text.contains("Ask for a role on this host"), "\(verb.text)")
    }

    /// The options verbs share before the verb, as `git -C` takes them: the same answer.
    @Test func optionsVerbsShareMayComeBeforeTheVerb() throws {
        try h.grant(role: "e2e-escapes")
        let after = try Harness.execute(h.binary, ["grant", "list", "--active", "--config", h.config, "--json"])
        let before = try Harness.execute(h.binary, ["--config", h.config, "--json", "grant", "list", "--active"])
        let equals = try Harness.execute(h.binary, ["--config=\(h.config)", "grant", "list", "--json", "--active"])
        #expect(after.status == 0 && before.status == 0 && equals.status == 0, "\(before.output) \(equals.output)")
        #expect(after.output.contains("e2e-escapes"), "\(after.output)")
        #expect(before.output == after.output && equals.output == after.output, "\(before.output)")
        // A `--` and what follows it are left alone.
        let check = try Harness.execute(h.binary, ["--json", "parse", "--", "--config"])
        #expect(check.status == 0 && check.output.contains("--config"), "\(check.output)")
    }

    /// Line, the program it needs (skipped when this host has none), what its output holds, on a terminal.
    static let everyday: [(String, String, String, Bool)] = [
        ("man ls | head -3", "/usr/bin/man", "LS(1)", false),
        ("zcat DIR/f.gz", "/usr/bin/zcat", "everyday-needle", false),
        ("zgrep everyday DIR/f.gz", "/usr/bin/zgrep", "everyday-needle", false),
        ("tar tzf DIR/x.tgz", "/usr/bin/tar", "inner.txt", false),
        ("tar tvzf DIR/x.tgz", "/usr/bin/tar", "inner.txt", false),
        ("git -C DIR/repo log", "/usr/bin/git", "everyday-commit", true),
        ("git -C DIR/repo log --oneline | cat", "/usr/bin/git", "everyday-commit", false),
        ("journalctl --no-pager -n 1", "/usr/bin/journalctl", "No entries", false),
        ("journalctl -n 1", "/usr/bin/journalctl", "No entries", true),
        ("zcat DIR/f.gz | less", "/usr/bin/less", "everyday-needle", false),
        // Until the output changes (the second round): watch's command is decided as a line.
        ("watch -n1 -g -t 'echo everyday-needle; date +%N'", "/usr/bin/watch", "everyday-needle", true),
    ]

    @Test func everydayReadOnlyLinesWork() throws {
        let dir = "/tmp/jitsh-e2e-everyday-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Harness.run("/usr/bin/timeout", ["20", "/bin/sh", "-c", """
            set -e; rm -rf \(dir); mkdir -p \(dir); cd \(dir); printf 'everyday-needle\\n' | gzip > f.gz
            printf x > inner.txt; tar czf x.tgz inner.txt
            if [ -x /usr/bin/git ]; then git init -q repo; git -C repo -c user.name=e -c user.email=e@example.com \
              commit -q --allow-empty -m everyday-commit; fi
            chown -R \(Harness.user) \(dir); chmod -R a+rX \(dir)
            """])
        try h.grant(role: "readonly")
        for (template, tool, expected, terminal) in SessionTests.everyday {
            guard FileManager.default.isExecutableFile(atPath: tool) else {
                print("skipped (\(tool) is not installed here): \(template)")
                continue
            }
            let line = template.replacingOccurrences(of: "DIR", with: dir)
            let c = try h.connect().exec(line, terminal: terminal, timeout: 20)
            let all = c.text + c.errorText
            #expect(c.exitStatus == 0, "\(line): status \(c.exitStatus): \(all)")
            #expect(all.contains(expected), "\(line): \(all)")
            #expect(!all.contains("blocked"), "\(line): \(all)")
            #expect(!all.contains("denied"), "\(line): \(all)")
        }
    }

    /// A helper is allowed only below its parent.
    @Test func helpersDoNotWidenTheRole() throws {
        try h.grant(role: "readonly")
        let helper = try h.connect().exec("tbl /dev/null", timeout: 10)
        #expect(helper.exitStatus == 126, "a helper alone is not allowed: \(helper.errorText)")
        // zless would show compressed bytes in less's secure mode: refused with what works.
        let zless = try h.connect().exec("zless /etc/hostname.gz", timeout: 10)
        #expect(zless.errorText.contains("use: zcat FILE | less"), "\(zless.errorText)")
    }
}
