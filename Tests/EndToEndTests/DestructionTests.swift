import Foundation
import Store
import Testing

/// Destroying data over sshd: each way is confirmed with a dry run of what exists, and a line
/// whose earlier part moves the target is refused before anything runs.
extension SessionTests {
    func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test func aTruncatingRedirectionShowsTheFileAndRunsOnlyWhenConfirmed() throws {
        try h.grant(role: "operator")
        let dir = try fixture(["a.log"])
        let (client, c) = try shell()
        _ = client
        let shown = type(c, ": > \(dir)/a.log", expect: SessionTests.phrasePrompt)
        #expect(shown.contains("would destroy 1 file"), "\(shown)")
        #expect(shown.contains("\(dir)/a.log (14 B): > \(dir)/a.log truncates it"), "\(shown)")
        #expect(answer(c, "no").contains("nothing ran"))
        #expect(contents(dir + "/a.log") == "data of a.log\n")
        _ = type(c, ": > \(dir)/a.log", expect: SessionTests.phrasePrompt)
        answer(c, "yes")
        #expect(contents(dir + "/a.log") == "")
        // A new file destroys nothing: no question.
        #expect(!type(c, ": > \(dir)/new.log").contains("Type yes"))
        #expect(exists(dir + "/new.log"))
        c.write("exit\r")
        c.drain(timeout: 5)
    }

    @Test func copiesAndTeeOverExistingFilesAreConfirmed() throws {
        try h.grant(role: "operator")
        let dir = try fixture(["f", "g"])
        let (client, c) = try shell()
        _ = client
        let cp = type(c, "cp /dev/null \(dir)/f", expect: SessionTests.phrasePrompt)
        #expect(cp.contains("\(dir)/f (10 B): cp overwrites it"), "\(cp)")
        #expect(answer(c, "no").contains("nothing ran"))
        let tee = type(c, "tee \(dir)/g </dev/null", expect: SessionTests.phrasePrompt)
        #expect(tee.contains("\(dir)/g (10 B): tee truncates it"), "\(tee)")
        #expect(answer(c, "no").contains("nothing ran"))
        #expect(contents(dir + "/f") == "data of f\n" && contents(dir + "/g") == "data of g\n")
        c.write("exit\r")
        c.drain(timeout: 5)
    }

    /// The three sequences whose dry run would have looked elsewhere: refused, and nothing runs.
    @Test func aLineThatMovesItsTargetFirstIsRefused() throws {
        try h.grant(role: "operator")
        let dir = try fixture(["app/a.log", "app/sub/b", "app/.hidden", "victim/keep"])
        // An archive whose `x` is a symlink to the victim directory.
        try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/src/x", withDestinationPath: dir + "/victim")
        try Harness.run("/bin/tar", ["-cf", dir + "/p.tar", "-C", dir + "/src", "x"])
        try FileManager.default.createDirectory(atPath: dir + "/t", withIntermediateDirectories: true)
        try Harness.run("/bin/chown", ["-R", Harness.user, dir])
        let (client, c) = try shell()
        _ = client
        let cd = type(c, "cd \(dir)/app && rm -r a.log sub")
        #expect(cd.contains("changes what `rm -r a.log sub` acts on") && cd.contains("run `cd \(dir)/app` on its own first"), "\(cd)")
        let glob = type(c, "GLOBIGNORE=/x; rm \(dir)/app/*")
        #expect(glob.contains("run `GLOBIGNORE=…` on its own first"), "\(glob)")
        let tar = type(c, "tar -xf \(dir)/p.tar -C \(dir)/t && rm -r \(dir)/t/x/")
        #expect(tar.contains("run `tar -xf \(dir)/p.tar -C` on its own first"), "\(tar)")
        #expect(exists(dir + "/app/a.log") && exists(dir + "/app/sub/b") && exists(dir + "/app/.hidden") && exists(dir + "/victim/keep"))
        #expect(!exists(dir + "/t/x"), "the tar must not have run")
        // Run on their own, each dry run shows exactly what the rm would meet.
        _ = type(c, "tar -xf \(dir)/p.tar -C \(dir)/t")
        let shown = type(c, "rm -r \(dir)/t/x/", expect: SessionTests.phrasePrompt)
        #expect(shown.contains("\(dir)/t/x//keep"), "\(shown)")
        #expect(answer(c, "no").contains("nothing ran"))
        #expect(exists(dir + "/victim/keep"))
        c.write("exit\r")
        c.drain(timeout: 5)
    }

    @Test func aSignalSpelledTwiceIsTheOneSent() throws {
        try h.grant(role: "operator")
        let denied = try h.connect().exec("kill -HUP -s KILL \(getpid())")
        #expect(denied.exitStatus == 126, "\(denied.errorText)")
        #expect(denied.errorText.contains("denied: kill -HUP -s KILL"), "\(denied.errorText)")
    }
}
