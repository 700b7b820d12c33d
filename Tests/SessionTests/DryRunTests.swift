import Crypto
import Foundation
@testable import Session
import ShellSyntax
import Store
import Testing

@Suite struct DryRunTests {
    /// One command's arguments → what the tool does and to which operands.
    static let plans: [(String, String, String)] = [
        ("rm", "-rf a b", "remove(recursive: true, emptyDirectories: false) a b"),
        ("rm", "-f -- -r x", "remove(recursive: false, emptyDirectories: false) -r x"),
        ("rm", "--recursive --verbose a", "remove(recursive: true, emptyDirectories: false) a"),
        ("rm", "-d a", "remove(recursive: false, emptyDirectories: true) a"),
        ("rm", "-R -i -", "remove(recursive: true, emptyDirectories: false) -"),
        ("unlink", "a", "remove(recursive: false, emptyDirectories: false) a"),
        ("rmdir", "-p a/b", "removeDirectory a/b"),
        ("shred", "-n 3 -u a", "shred(remove: true) a"),
        ("shred", "-zn3 a", "shred(remove: false) a"),
        ("shred", "--iterations=2 --remove a", "shred(remove: true) a"),
        ("truncate", "-s 0 a.log b.log", "truncate a.log b.log"),
        ("truncate", "--size 0 a.log", "truncate a.log"),
        ("mv", "a b dir", "move a b dir"),
    ]

    @Test(arguments: plans)
    func optionsAndOperands(_ name: String, _ args: String, _ expected: String) throws {
        let (action, operands) = try #require(DeletionPlan.parse(name, args.split(separator: " ").map { Array($0.utf8) }))
        #expect((["\(action)"] + operands.map { String(decoding: $0, as: UTF8.self) }).joined(separator: " ") == expected)
    }

    @Test func aTargetDirectoryMoveIsNotGuessed() {
        #expect(DeletionPlan.parse("mv", [Array("-t".utf8), Array("d".utf8), Array("a".utf8)]) == nil)
    }

    static let templates: [([String], String, String?)] = [
        (["{argv}", "--dry-run=server", "-o", "name"], "kubectl delete pod x", "kubectl delete pod x --dry-run=server -o name"),
        (["systemctl", "list-dependencies", "--reverse", "{arg2...}"], "systemctl restart nginx redis", "systemctl list-dependencies --reverse nginx redis"),
        (["git", "clean", "-n", "-d"], "git clean -fd", "git clean -n -d"),
        (["echo", "{arg1}"], "rm a", "echo a"),
        (["echo", "{arg5}"], "rm a", nil),
        (["echo", "{argx}"], "rm a", nil),
    ]

    @Test(arguments: templates)
    func templatesAreFilledFromTheArguments(_ template: [String], _ line: String, _ expected: String?) {
        let words = line.split(separator: " ").map(String.init)
        #expect(Session.fill(template, with: words)?.joined(separator: " ") == expected)
    }

    @Test func renderedWordsSplitBackIntoTheSameArguments() {
        #expect(Quote.line(["rm", "-r", "a b", "it's", "$x", "*", "plain/path.txt"])
                == "rm -r 'a b' 'it'\\''s' '$x' '*' plain/path.txt")
    }

    static func tree() throws -> URL {
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("jitsh-walk-\(UUID().uuidString.prefix(8))")
        let fm = FileManager.default
        for dir in ["big/inner", "small", "empty"] { try fm.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true) }
        try Data(count: 3000).write(to: root.appendingPathComponent("big/inner/a"))
        try Data(count: 1000).write(to: root.appendingPathComponent("big/b"))
        try Data(count: 10).write(to: root.appendingPathComponent("small/c"))
        try Data(count: 5).write(to: root.appendingPathComponent("top"))
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("link").path, withDestinationPath: "big")
        return root
    }

    @Test func aRecursiveWalkCountsFilesDirectoriesAndBytes() throws {
        let root = try DryRunTests.tree()
        defer { try? FileManager.default.removeItem(at: root) }
        var walk = DeletionWalk()
        let report = walk.run(.remove(recursive: true, emptyDirectories: false), targets: [Array(root.path.utf8)], shown: "rm -r x")
        // root, big, big/inner, small, empty = 5 directories; a, b, c, top, link = 5 files (the link is not followed).
        #expect(report.count == 10)
        #expect(report.lines.contains("  would delete 5 files and 5 directories, 3.9 KiB"), "\(report.lines)")
        #expect(report.lines.contains { $0.hasSuffix("\(root.path)/big/") && $0.contains("3.9 KiB") }, "\(report.lines)")
        #expect(report.complete)
    }

    @Test func withoutRecursionDirectoriesAreLeftAndSaidSo() throws {
        let root = try DryRunTests.tree()
        defer { try? FileManager.default.removeItem(at: root) }
        var walk = DeletionWalk()
        let targets = ["top", "big", "missing"].map { Array((root.path + "/" + $0).utf8) }
        let report = walk.run(.remove(recursive: false, emptyDirectories: false), targets: targets, shown: "rm top big missing")
        #expect(report.count == 1)
        #expect(report.lines.contains("  skipped: \(root.path)/big: is a directory (rm leaves it without -r)"))
        #expect(report.lines.contains("  skipped: \(root.path)/missing: no such file or directory"))
    }

    @Test func theWalkStopsAtItsBoundsAndSaysSo() throws {
        let root = try DryRunTests.tree()
        defer { try? FileManager.default.removeItem(at: root) }
        var walk = DeletionWalk()
        walk.bounds.entries = 3
        let report = walk.run(.remove(recursive: true, emptyDirectories: false), targets: [Array(root.path.utf8)], shown: "rm -r x")
        #expect(!report.complete)
        #expect(report.count == 3)
        #expect(report.lines.last?.contains("the walk stopped after 3 entries") == true, "\(report.lines)")
    }

    @Test func openFilesAndPathsOutsideTheRoleAreFlagged() throws {
        let root = try DryRunTests.tree()
        defer { try? FileManager.default.removeItem(at: root) }
        let handle = try FileHandle(forReadingFrom: root.appendingPathComponent("small/c"))
        defer { try? handle.close() }
        var walk = DeletionWalk()
        walk.openFiles = DeletionWalk.openFilesOfVisibleProcesses()
        walk.writable = ["/var/log/**"]
        walk.isWritable = { $0.hasPrefix("/var/log/") }
        let report = walk.run(.remove(recursive: true, emptyDirectories: false), targets: [Array((root.path + "/small").utf8)], shown: "rm -r small")
        #expect(report.lines.contains { $0.hasPrefix("  ! \(root.path)/small/c is open by process \(getpid()) ") }, "\(report.lines)")
        #expect(report.lines.contains("  ! \(root.path)/small is outside the paths this role may write (/var/log/**)"))
    }

    @Test func theFingerprintChangesWhenAFileAppears() throws {
        let root = try DryRunTests.tree()
        defer { try? FileManager.default.removeItem(at: root) }
        func fingerprint() -> [UInt8] {
            var walk = DeletionWalk()
            return walk.run(.remove(recursive: true, emptyDirectories: false), targets: [Array(root.path.utf8)], shown: "").fingerprint
        }
        let before = fingerprint()
        #expect(fingerprint() == before)
        try Data().write(to: root.appendingPathComponent("small/new"))
        #expect(fingerprint() != before)
    }

    @Test func aConfirmTokenIsBoundToItsLineIdentityResultAndTime() throws {
        let key = SigningKey(privateKey: .init())
        let tokens = ConfirmToken(signingKey: key)
        let token = tokens.make(identity: "alice", host: "h", line: "rm a", fingerprints: [[1, 2]], expires: 1000)
        #expect(tokens.check(token, identity: "alice", host: "h", line: "rm a", fingerprints: [[1, 2]], now: 999) == .valid(expires: 1000))
        #expect(tokens.check(token, identity: "alice", host: "h", line: "rm a", fingerprints: [[1, 2]], now: 1001) == .expired)
        #expect(tokens.check(token, identity: "bob", host: "h", line: "rm a", fingerprints: [[1, 2]], now: 999) == .mismatch)
        #expect(tokens.check(token, identity: "alice", host: "h", line: "rm b", fingerprints: [[1, 2]], now: 999) == .mismatch)
        #expect(tokens.check(token, identity: "alice", host: "h", line: "rm a", fingerprints: [[1, 3]], now: 999) == .mismatch)
        #expect(tokens.check("2000-" + token.dropFirst(5), identity: "alice", host: "h", line: "rm a", fingerprints: [[1, 2]], now: 999) == .mismatch)
        #expect(tokens.check("nonsense", identity: "alice", host: "h", line: "rm a", fingerprints: [[1, 2]], now: 999) == .malformed)
        let other = ConfirmToken(signingKey: SigningKey(privateKey: .init()))
        #expect(other.check(token, identity: "alice", host: "h", line: "rm a", fingerprints: [[1, 2]], now: 999) == .mismatch)
    }
}
