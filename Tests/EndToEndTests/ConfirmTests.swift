import Foundation
import Store
import Testing

/// Destructive lines over sshd: dry run, typed phrase, re-confirmation, limits, tokens.
extension SessionTests {
    static let phrasePrompt = "cancels (60 s): "

    /// A directory under /tmp owned by the test user, with these files (and their directories).
    func fixture(_ files: [String]) throws -> String {
        let dir = "/tmp/jitsh-confirm-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in files {
            let path = dir + "/" + f
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data("data of \(f)\n".utf8).write(to: URL(fileURLWithPath: path))
        }
        try Harness.run("/bin/chown", ["-R", Harness.user, dir])
        return dir
    }

    /// Types an answer at the phrase prompt; returns what came after it, up to `expect`.
    @discardableResult
    func answer(_ c: Channel, _ phrase: String, expect: String = "$ ") -> String {
        let from = c.output.count
        c.write(phrase + "\r")
        guard c.wait(for: phrase + "\r\n", from: from, timeout: 5) else {
            Issue.record("the phrase was not echoed: \(String(decoding: c.output.dropFirst(from), as: UTF8.self).debugDescription)")
            return ""
        }
        let after = { String(decoding: c.output.dropFirst(from), as: UTF8.self) }
        guard let echoed = after().range(of: phrase + "\r\n") else { return "" }
        let start = after().distance(from: after().startIndex, to: echoed.upperBound)
        c.wait(for: expect, from: from + after().utf8.prefix(start).count, timeout: 10)
        return String(after().dropFirst(start))
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    func events(_ kind: String) throws -> [AuditEvent] {
        try h.store().auditEvents(session: try h.lastSession().session.id).filter { $0.kind == kind }
    }

    @Test func aWrongPhraseCancelsAndNothingIsDeleted() throws {
        try h.grant(role: "operator")
        let dir = try fixture(["a", "b", "sub/c"])
        let (client, c) = try shell()
        _ = client
        let shown = type(c, "rm -r \(dir)/*", expect: SessionTests.phrasePrompt)
        #expect(shown.contains("would delete 3 files and 1 directory"), "\(shown)")
        #expect(shown.contains("\(dir)/sub/c"))
        #expect(shown.contains("Type 4 (the number of objects above)"), "\(shown)")
        #expect(answer(c, "3").contains("cancelled: \"3\" is not \"4\"; nothing ran"))
        #expect(exists(dir + "/a") && exists(dir + "/sub/c"))
        c.write("exit\r")
        c.drain(timeout: 5)
        #expect(try events("confirm-cancelled").first?.reason == "wrong phrase")
        #expect(try h.lastSession().frames.contains { $0.kind == .marker && String(decoding: $0.data, as: UTF8.self).contains("confirm-shown") })
    }

    @Test func theRightPhraseDeletesExactlyTheListedFiles() throws {
        try h.grant(role: "operator")
        let dir = try fixture(["a", "b", "keep"])
        let (client, c) = try shell()
        _ = client
        let shown = type(c, "rm \(dir)/[ab]", expect: SessionTests.phrasePrompt)
        #expect(shown.contains("would delete 2 files"), "\(shown)")
        answer(c, "2")
        #expect(!exists(dir + "/a") && !exists(dir + "/b") && exists(dir + "/keep"))
        c.write("exit\r")
        c.drain(timeout: 5)
        #expect(try events("confirmed").count == 1)
    }

    @Test func aFileCreatedAfterTheDryRunAsksAgain() throws {
        try h.grant(role: "operator")
        let dir = try fixture(["sub/x"])
        let (client, c) = try shell()
        _ = client
        #expect(type(c, "rm -r \(dir)/sub", expect: SessionTests.phrasePrompt).contains("Type 2 "))
        try Data("late".utf8).write(to: URL(fileURLWithPath: dir + "/sub/late"))
        try Harness.run("/bin/chown", [Harness.user, dir + "/sub/late"])
        let again = answer(c, "2", expect: SessionTests.phrasePrompt)
        #expect(again.contains("the dry run changed since it was shown (2 → 3 objects)"), "\(again)")
        #expect(again.contains("\(dir)/sub/late"))
        #expect(exists(dir + "/sub/x"))
        answer(c, "3")
        #expect(!exists(dir + "/sub"))
        c.write("exit\r")
        c.drain(timeout: 5)
        #expect(try events("confirm-changed").count == 1)
    }

    @Test func aToolsOwnDryRunIsDecidedRunAndShown() throws {
        try h.grant(role: "e2e-limited", identity: "alice")
        let client = try h.connect(key: h.sharedKey)
        let c = try client.shell()
        #expect(c.wait(for: "] ~$ "))
        let shown = type(c, "kill -TERM \(getpid())", expect: SessionTests.phrasePrompt)
        #expect(shown.contains("dry run: ps -o pid=,comm= -p \(getpid())"), "\(shown)")
        #expect(shown.contains("EndToEndTests") || shown.contains("jitshPackageTe") || shown.contains("swiftpm-testing"), "\(shown)")
        #expect(shown.contains("Type yes"))
        #expect(answer(c, "no").contains("nothing ran"))
        c.write("exit\r")
        c.drain(timeout: 5)
        let lines = try events("line").map(\.line)
        #expect(lines.contains("ps -o pid=,comm= -p \(getpid())"), "\(lines)")
    }

    @Test func theConfirmLimitThrottlesChanges() throws {
        try h.grant(role: "e2e-limited", identity: "alice")
        let dir = try fixture(["1", "2", "3"])
        let client = try h.connect(key: h.sharedKey)
        let c = try client.shell()
        #expect(c.wait(for: "] ~$ "))
        for name in ["1", "2"] {
            #expect(type(c, "rm \(dir)/\(name)", expect: SessionTests.phrasePrompt).contains("Type 1 "))
            answer(c, "1")
        }
        let third = type(c, "rm \(dir)/3")
        #expect(third.contains("role e2e-limited allows 2 confirmed changes per 10m"), "\(third)")
        #expect(!exists(dir + "/1") && !exists(dir + "/2") && exists(dir + "/3"))
        c.write("exit\r")
        c.drain(timeout: 5)
    }

    @Test func aSymlinkIntoASystemDirectoryIsNeverDeleted() throws {
        try h.grant(role: "operator")
        let dir = try fixture(["a"])
        try FileManager.default.createSymbolicLink(atPath: dir + "/etc-link", withDestinationPath: "/etc")
        let (client, c) = try shell()
        _ = client
        let answer = type(c, "rm -r \(dir)/etc-link/")
        #expect(answer.contains("is never allowed: /etc is a system directory"), "\(answer)")
        #expect(exists("/etc/passwd"))
        c.write("exit\r")
        c.drain(timeout: 5)
    }

    @Test func withoutATerminalConfirmationNeedsATerminalOrAToken() throws {
        try h.grant(role: "operator")
        let dir = try fixture(["a", "b"])
        let refused = try h.connect().exec("rm \(dir)/a")
        #expect(refused.exitStatus == 126)
        #expect(refused.errorText.contains("it needs a terminal to confirm: ssh -t e2e-host"), "\(refused.errorText)")
        #expect(exists(dir + "/a"))

        // Under a contract that allows tokens, the dry run prints one.
        try h.grant(role: nil)
        let request = try h.connect().exec("grant request --role operator")
        #expect(request.exitStatus == 0, "\(request.errorText)")
        let dry = try h.connect().exec("rm \(dir)/a")
        #expect(dry.exitStatus == 126)
        #expect(dry.errorText.contains("would delete 1 file"), "\(dry.errorText)")
        let token = try #require(dry.errorText.split(separator: "\n").first { $0.contains("ssh e2e-host confirm ") }?
            .split(separator: " ").dropFirst(3).first.map(String.init), "\(dry.errorText)")
        #expect(exists(dir + "/a"))

        let otherLine = try h.connect().exec("confirm \(token) rm \(dir)/b")
        #expect(otherLine.exitStatus == 126 && otherLine.errorText.contains("made for another line"), "\(otherLine.errorText)")
        let run = try h.connect().exec("confirm \(token) rm \(dir)/a")
        #expect(run.exitStatus == 0, "\(run.errorText)")
        #expect(!exists(dir + "/a") && exists(dir + "/b"))
        try Data().write(to: URL(fileURLWithPath: dir + "/a"))
        try Harness.run("/bin/chown", [Harness.user, dir + "/a"])
        let again = try h.connect().exec("confirm \(token) rm \(dir)/a")
        #expect(again.exitStatus == 126 && again.errorText.contains("it was used already"), "\(again.errorText)")
        #expect(exists(dir + "/a"))
    }
}
