import Foundation
@testable import Session
import ShellSyntax
import Testing

/// The dry run's pathname expansion against bash's own, on a tree with every awkward name.
@Suite struct GlobberTests {
    /// One word a line would carry, as typed (quotes and backslashes included).
    static let patterns: [String] = [
        "*", ".*", "*.txt", "?", "[ab]", "[!a]*", "[^a]*", "*/", "*/*", "dir*/f*", "*/.h*", ".h*/*",
        "'star*'*", "star\\*name", "\"q?\"*", "q\\?mark", "\\[br]*", "[[]br]acket", "*\\ *", "'with '*",
        "*/sub/*.txt", "*/nonexist", "dir1/*", "link-to-dir1/*", "dang*", "nomatch*", "[[:upper:]]*",
        "[[:alpha:]]-*", "?-umlaut", "*-", "dir?/", "{a,b}*", "*[", "[a", "a]*", "**", "**/*.txt",
        "./*", "../*", "*/../*.txt", "dir1/sub/*", "sp*/*", "\"sp ace dir\"/*", "*e*w*", "[a-c]*",
        "[!.]*", "*.", ".[!.]*", "x*", "*back", "Z*", "*/f[12]*", "dir[12]/*.txt", "*/*/*",
    ]

    static func makeTree() throws -> URL {
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("jitsh-glob-\(getpid())-\(UUID().uuidString.prefix(8))")
        let tree = root.appendingPathComponent("tree")
        let fm = FileManager.default
        for dir in ["dir1/sub", "dir2", ".hdir", "sp ace dir", "Zeta"] {
            try fm.createDirectory(at: tree.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        for file in ["a", "b", "c.txt", ".hidden", ".hid.txt", "with space", "new\nline", "star*name", "q?mark",
                     "[br]acket", "dash-", "ä-umlaut", "x\\back", "dir1/f1", "dir1/.h1", "dir1/sub/deep.txt",
                     "dir2/f2.txt", ".hdir/in", "sp ace dir/z", "dot."] {
            try Data("x".utf8).write(to: tree.appendingPathComponent(file))
        }
        try fm.createSymbolicLink(atPath: tree.appendingPathComponent("link-to-dir1").path, withDestinationPath: "dir1")
        try fm.createSymbolicLink(atPath: tree.appendingPathComponent("dangling").path, withDestinationPath: "nowhere")
        return tree
    }

    static func bash(_ word: String, cwd: URL) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["--noprofile", "--norc", "-c", "printf '%s\\0' " + word]
        p.currentDirectoryURL = cwd
        p.environment = ["LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }

    static func jitsh(_ word: String, cwd: URL) throws -> [String] {
        let e = try ShellSyntax.extract("printf '%s\\0' " + word)
        let fields = try #require(e.commands.first).argv.dropFirst(2)
        let globber = Globber(cwd: cwd.path)
        return try fields.flatMap { try globber.expand($0) }.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test(arguments: patterns)
    func expandsAsBashDoes(_ word: String) throws {
        let tree = try GlobberTests.makeTree()
        defer { try? FileManager.default.removeItem(at: tree.deletingLastPathComponent()) }
        #expect(try GlobberTests.jitsh(word, cwd: tree) == GlobberTests.bash(word, cwd: tree), "\(word)")
    }

    @Test func absolutePatternsStartAtTheRoot() throws {
        let tree = try GlobberTests.makeTree()
        defer { try? FileManager.default.removeItem(at: tree.deletingLastPathComponent()) }
        let word = tree.path + "/dir*/*"
        #expect(try GlobberTests.jitsh(word, cwd: URL(fileURLWithPath: "/")) == GlobberTests.bash(word, cwd: tree))
    }

    @Test func extendedGlobsAndDynamicWordsAreNotGuessed() throws {
        let globber = Globber(cwd: "/")
        for line in ["rm +(a|b)", "rm $(ls)", "rm \"$x\""] {
            let field = try #require(try ShellSyntax.extract(line).commands.first).argv[1]
            #expect(throws: Globber.Unsupported.self, "\(line)") { try globber.expand(field) }
        }
    }

    /// Random words from glob pieces, each expanded by jitsh and by bash on the same tree.
    @Test func randomPatternsExpandAsBashDoes() throws {
        let tree = try GlobberTests.makeTree()
        defer { try? FileManager.default.removeItem(at: tree.deletingLastPathComponent()) }
        let pieces = ["*", "?", "[a-c]", "[!.]", "[^d]", ".", "a", "d", "i", "r", "1", "/", "\\*", "'*'", "{a,b}", "[", "]", "t", "x", "-",
                      "[[:digit:]]", "h"]
        var state: UInt64 = 2026
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        var compared = 0
        for _ in 0..<150 {
            let word = (0..<(1 + next(5))).map { _ in pieces[next(pieces.count)] }.joined()
            guard let ours = try? GlobberTests.jitsh(word, cwd: tree) else { continue }
            let theirs = try GlobberTests.bash(word, cwd: tree)
            // bash reports a syntax error for some of these (an unmatched quote): nothing to compare.
            if theirs.isEmpty { continue }
            #expect(ours == theirs, "\(word)")
            compared += 1
        }
        #expect(compared > 100)
    }
}
