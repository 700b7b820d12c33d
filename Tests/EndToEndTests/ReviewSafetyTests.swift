import Foundation
import Store
import Testing

/// What a reviewer sees is what happened, over sshd: replay keeps the reviewer's terminal safe,
/// the alternate screen hides nothing, exec-mode input is recorded, and review commands write
/// and read files with the reviewer's own rights.
extension SessionTests {
    /// Runs the installed setgid jitsh as the unprivileged test account (an admin by policy).
    func asUser(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let pw = try #require(getpwnam(Harness.user))
        return try Harness.execute("/usr/bin/setpriv", ["--reuid=\(pw.pointee.pw_uid)", "--regid=\(pw.pointee.pw_gid)", "--init-groups",
                                                        h.binary] + arguments)
    }

    @Test func replayLeavesOutClipboardTitleAndTerminalRequests() throws {
        try h.grant(role: "readonly")
        let (client, c) = try shell()
        _ = client
        type(c, "printf '\\033]52;c;cm0gLXJmIH4=\\007\\033]0;owned\\007\\033[6n\\033[c\\033[31msafe-replay\\033[0m\\n'")
        c.write("exit\r")
        c.drain(timeout: 5)
        let id = try h.lastSession().session.id
        // The recording is exact: the sequences are in it.
        let shown = try h.lastSession().frames.filter { $0.kind == .output }.flatMap(\.data)
        #expect(String(decoding: shown, as: UTF8.self).contains("\u{1B}]52;c;"))
        let (status, replayed) = try Harness.execute(h.binary, ["sessions", "replay", id, "--speed", "1000", "--config", h.config])
        #expect(status == 0)
        for raw in ["\u{1B}]52", "\u{1B}]0;", "\u{1B}[6n", "\u{1B}[c"] { #expect(!replayed.contains(raw), "\(raw.debugDescription) replayed") }
        #expect(replayed.contains("\u{1B}[31msafe-replay\u{1B}[0m"))
        #expect(replayed.contains("jitsh: replay left out 4 terminal sequences that could act on your terminal: "), "\(replayed.debugDescription)")
        #expect(replayed.contains("clipboard write (OSC 52) ×1") && replayed.contains("window title (OSC 0) ×1")
                && replayed.contains("device status request (DSR, CPR) ×1") && replayed.contains("device attributes request (DA) ×1"))
    }

    @Test func theAlternateScreenIsInTheTextExportAndInSearch() throws {
        try h.grant(role: "readonly")
        let (client, c) = try shell()
        _ = client
        type(c, "printf '\\033[?1049h\\033[H\\033[2J'")
        type(c, "echo hiddenaltword")
        type(c, "printf '\\033[?1049l'")
        c.write("exit\r")
        c.drain(timeout: 5)
        let id = try h.lastSession().session.id
        let text = try jitsh(["sessions", "export", id, "--format", "text"])
        #expect(text.contains("── full screen ──"), "\(text)")
        #expect(text.contains("$ echo hiddenaltword\nhiddenaltword\n"), "\(text)")
        let hits = try jitsh(["audit", "search", "--text", "hiddenaltword"])
        #expect(hits.contains("\(id.prefix(8)) at "), "\(hits)")
    }

    @Test func execModeStandardInputIsRecordedByteForByte() throws {
        try h.grant(role: "e2e-escapes")
        var g = SystemRandomNumberGenerator()
        let upload = (0..<14 * 1024).map { _ in UInt8.random(in: 0...255, using: &g) }
        let target = "/tmp/jitsh-e2e-upload-\(getpid())"
        defer { unlink(target) }
        let c = try h.connect().exec("cat > \(target)", bytes: upload)
        #expect(c.exitStatus == 0, "\(c.errorText)")
        #expect(FileManager.default.contents(atPath: target).map(Array.init) == upload)
        let recorded = try h.lastSession()
        #expect(recorded.frames.filter { $0.kind == .stdin }.flatMap(\.data) == upload)
        #expect(try jitsh(["sessions", "verify", recorded.session.id]).hasPrefix("\(recorded.session.id) ok: "))
        let show = try jitsh(["sessions", "show", recorded.session.id])
        #expect(show.contains("standard input: 14336 bytes"), "\(show)")

        // Piped text reaches search; a line that does not read its input is not held up by it.
        let sql = "SELECT * FROM users WHERE name = 'pipedsqlword';\n"
        let cat = try h.connect().exec("cat", bytes: Array(sql.utf8))
        #expect(cat.text == sql)
        #expect(try jitsh(["audit", "search", "--text", "pipedsqlword"]).contains("1 hit"))
        // `ssh host 'echo done' < 1MiB` with OpenSSH's own client, as people run it. (libssh, the
        // other tests' client, could not read output that arrived while its blocking write of the
        // input was still going once the channel had closed: 1 run in 6 saw exit 0 and nothing.)
        let big = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-e2e-big-\(getpid())").path
        try Data(repeating: 0x41, count: 1 << 20).write(to: URL(fileURLWithPath: big))
        defer { unlink(big) }
        let ssh = Process()
        ssh.executableURL = URL(fileURLWithPath: "/usr/bin/ssh")
        ssh.arguments = ["-i", h.clientKey, "-p", String(h.port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                         "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "\(Harness.user)@127.0.0.1", "echo done"]
        ssh.standardInput = FileHandle(forReadingAtPath: big)
        let out = Pipe(), err = Pipe()
        ssh.standardOutput = out
        ssh.standardError = err
        try ssh.run()
        let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let said = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ssh.waitUntilExit()
        #expect(ssh.terminationStatus == 0 && printed == "done\n", "status \(ssh.terminationStatus), out \(printed.prefix(200).debugDescription), err \(said.prefix(300).debugDescription)")
        // And the recording has the line's output whatever the input did.
        #expect(try h.lastSession().frames.filter { $0.kind == .output }.flatMap(\.data) == Array("done\n".utf8))
    }

    @Test func aReviewerCannotExportOntoTheStoreOrReadWithJitshsGroup() throws {
        let id = try recordedSession("exportme")
        var before = stat()
        #expect(stat(h.storePath, &before) == 0)
        for target in [h.storePath, h.root.appendingPathComponent("store/other.cast").path, h.config] {
            let (status, output) = try asUser(["sessions", "export", id, "-o", target, "--config", h.config])
            #expect(status == 3, "\(target): \(output)")
            #expect(output.hasPrefix("jitsh: refusing to write \(target): it is "), "\(output)")
            #expect(output.split(separator: "\n").count == 1)
        }
        // Untouched: the same file, still a store, the recording still verifies.
        var after = stat()
        #expect(stat(h.storePath, &after) == 0 && after.st_ino == before.st_ino)
        #expect(FileManager.default.contents(atPath: h.storePath)?.prefix(15) == Data("SQLite format 3".utf8))
        #expect(try jitsh(["sessions", "verify", id]).hasPrefix("\(id) ok: "))
        #expect(!FileManager.default.fileExists(atPath: h.root.appendingPathComponent("store/other.cast").path))

        // A file of the reviewer's own is written with their group, not jitsh's.
        let mine = "/tmp/jitsh-e2e-export-\(getpid()).cast"
        defer { unlink(mine) }
        let (status, output) = try asUser(["sessions", "export", id, "-o", mine, "--config", h.config])
        #expect(status == 0, "\(output)")
        var st = stat()
        #expect(stat(mine, &st) == 0 && st.st_gid == getpwnam(Harness.user).pointee.pw_gid && st.st_mode & 0o777 == 0o600)

        // A policy directory only jitsh's group may read cannot be read through jitsh.
        let secret = h.root.appendingPathComponent("secret-policies").path
        try FileManager.default.createDirectory(atPath: secret, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: secret + "/roles", withIntermediateDirectories: true)
        try "role: secret\nallow:\n  - cmd: ls\n".write(toFile: secret + "/roles/secret.yaml", atomically: true, encoding: .utf8)
        chown(secret, 0, getgrnam("jitsh").pointee.gr_gid)
        chmod(secret, 0o750)
        #expect(try Harness.execute(h.binary, ["policy", "lint", secret]).output.contains("ok: 1 roles"))
        let lint = try asUser(["policy", "lint", secret])
        #expect(lint.status == 3 && lint.output == "jitsh: cannot read the policy directory \(secret): permission denied\n", "\(lint.output)")

        // Nor can a root-owned configuration root did not list for jitsh.
        let unlisted = h.root.appendingPathComponent("unlisted.yaml").path
        try FileManager.default.copyItem(atPath: h.config, toPath: unlisted)
        chmod(unlisted, 0o644)
        let refused = try asUser(["sessions", "list", "--config", unlisted])
        #expect(refused.status == 3 && refused.output.contains("configuration \(unlisted) is not one root listed for jitsh"), "\(refused.output)")
    }
}
