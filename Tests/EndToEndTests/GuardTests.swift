import Foundation
import Store
import Testing

/// The exec guard and Landlock over sshd: what allowed programs launch is decided too.
extension SessionTests {
    /// GTFOBins shell escapes of programs the role allows; each would create `M` through a shell.
    static let escapes: [(line: String, blocked: String)] = [
        ("awk 'BEGIN {system(\"echo pwned > M\")}'", "blocked /usr/bin/dash launched by awk"),
        ("perl -e 'system(\"echo pwned > M\")'", "blocked /usr/bin/dash launched by perl"),
        ("perl -e 'exec \"/bin/bash\", \"-c\", \"echo pwned > M\"'", "blocked /usr/bin/bash launched by"),
        ("python3 -c 'import os; os.system(\"echo pwned > M\")'", "blocked /usr/bin/dash launched by python3"),
        ("sed -n '1e echo pwned > M' /etc/hostname", "blocked /usr/bin/dash launched by sed"),
        ("tar -cf /dev/null /etc/hostname --checkpoint=1 --checkpoint-action=exec='echo pwned > M'", "blocked /usr/bin/dash launched by tar"),
        ("vim -es -c '!echo pwned > M' -c 'qa!'", "blocked /usr/bin/bash launched by vim"),
        ("perl -e 'exec \"\(SessionTests.loader)\", \"/usr/bin/id\"'", "it is the dynamic loader run directly"),
        ("python3 -c 'import os; fd = os.memfd_create(\"x\"); os.write(fd, open(\"/usr/bin/id\", \"rb\").read()); os.execv(\"/proc/self/fd/%d\" % fd, [\"id\"])'",
         "it runs from memory (memfd), not from a file"),
    ]

    /// The dynamic loader of this machine's architecture.
    static var loader: String {
        for dir in ["/lib64", "/lib"] {
            if let name = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.first(where: { $0.hasPrefix("ld-linux") }) {
                return dir + "/" + name
            }
        }
        return "/lib64/ld-linux-x86-64.so.2"
    }

    @Test(arguments: escapes)
    func aShellEscapeNeverReachesAShell(_ escape: (line: String, blocked: String)) throws {
        try h.grant(role: "e2e-escapes")
        let dir = try fixture([])
        let marker = dir + "/M"
        let c = try h.connect().exec("cd \(dir) && " + escape.line)
        #expect(!exists(marker), "\(escape.line) created its marker")
        #expect(c.errorText.contains(escape.blocked), "\(escape.line): \(c.errorText)")
        let guardEvents = try events("guard")
        #expect(guardEvents.contains { $0.decision == "deny" }, "\(escape.line)")
        #expect(try h.lastSession().frames.contains { $0.kind == .marker && String(decoding: $0.data, as: UTF8.self).contains("\"guard\"") })
    }

    static let allowedWork: [(line: String, output: String)] = [
        ("find /etc -maxdepth 1 -name hostname", "/etc/hostname\n"),
        ("seq 3 | sort -r | tail -n 2", "2\n1\n"),
        ("tar -cf - /etc/hostname 2>/dev/null | tar -tf -", "etc/hostname\n"),
        ("python3 -c 'import threading; t = [threading.Thread(target=print, args=(k,)) for k in range(3)]; [x.start() for x in t]; [x.join() for x in t]' | sort",
         "0\n1\n2\n"),
        ("awk 'BEGIN {print 6 * 7}'", "42\n"),
        ("for k in 1 2; do id -u >/dev/null && echo ok$k; done", "ok1\nok2\n"),
        // Forks and threads pass the job filter: only a clone that asks not to be traced stops.
        ("perl -e 'if (fork) { wait; print \"parent\\n\" } else { exec \"echo\", \"child\" }'", "child\nparent\n"),
        ("python3 -c 'import os, subprocess; pid = os.fork(); os._exit(0) if pid == 0 else os.waitpid(pid, 0); print(subprocess.run([\"id\", \"-u\"], capture_output=True).returncode)'",
         "0\n"),
    ]

    @Test(arguments: allowedWork)
    func allowedProgramsKeepWorkingUnderTheGuard(_ work: (line: String, output: String)) throws {
        try h.grant(role: "e2e-escapes")
        let c = try h.connect().exec(work.line)
        #expect(c.exitStatus == 0, "\(work.line): \(c.errorText)")
        #expect(c.text == work.output, "\(work.line)")
        #expect(!c.errorText.contains("blocked"), "\(c.errorText)")
    }

    @Test func aScriptARuleNamesRunsAndOneItDoesNotIsBlocked() throws {
        try h.grant(role: "e2e-escapes")
        for (path, text) in [("/tmp/jitsh-e2e-script.sh", "#!/bin/sh\nid -u > /dev/null && echo script ok \"$1\"\n"),
                             ("/tmp/jitsh-e2e-other.sh", "#!/bin/sh\necho other ran\n")] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o755)
        }
        let named = try h.connect().exec("/tmp/jitsh-e2e-script.sh arg")
        #expect(named.exitStatus == 0 && named.text == "script ok arg\n", "\(named.text) \(named.errorText)")
        let other = try h.connect().exec("perl -e 'exec \"/tmp/jitsh-e2e-other.sh\"'")
        #expect(!other.text.contains("other ran"))
        #expect(other.errorText.contains("blocked /tmp/jitsh-e2e-other.sh (a script run by /usr/bin/dash) launched by bash"), "\(other.errorText)")
    }

    @Test func aShellEscapeFromAPagerIsBlockedOnTheTerminal() throws {
        try h.grant(role: "e2e-escapes")
        let dir = try fixture(["text"])
        let (client, c) = try shell()
        _ = client
        let from = c.output.count
        c.write("less \(dir)/text\r")
        #expect(c.wait(for: "data of text", from: from))
        c.write("!echo pwned > \(dir)/M\r")
        #expect(c.wait(for: "blocked /usr/bin/dash launched by less", from: from), "\(c.text)")
        c.write("\r")
        usleep(200_000)
        c.write("q")
        #expect(c.wait(for: "] ~$ ", from: from + 10))
        #expect(!exists(dir + "/M"))
        c.write("exit\r")
        c.drain(timeout: 5)
    }

    @Test func ctrlZAndFgWorkUnderTheGuard() throws {
        try h.grant(role: "e2e-escapes")
        let (client, c) = try shell()
        _ = client
        var from = c.output.count
        c.write("sleep 100\r")
        usleep(500_000)
        c.write("\u{1A}")
        #expect(c.wait(for: "Stopped", from: from, timeout: 5), "\(c.text)")
        #expect(c.wait(for: "$ ", from: from + 20))
        from = c.output.count
        c.write("fg\r")
        #expect(c.wait(for: "sleep 100", from: from))
        usleep(300_000)
        c.write("\u{03}")
        #expect(c.wait(for: "[130] ", from: from, timeout: 5), "\(c.text)")
        c.write("exit\r")
        c.drain(timeout: 5)
    }

    /// A process of the line stopped and continued by another (as `timeout` continues the command
    /// it signals): traced, it would stay stopped until its tracer let it go; it goes on as in bash.
    @Test func aStoppedProcessContinuedByAnotherGoesOn() throws {
        try "role: e2e-mutable\nallow:\n  - cmd: [sleep, echo, wait, kill]\n"
            .write(toFile: h.mutableRolePath, atomically: true, encoding: .utf8)
        defer { try? Harness.mutableRole.write(toFile: h.mutableRolePath, atomically: true, encoding: .utf8) }
        try h.grant(role: "e2e-mutable")
        let line = "sleep 1 & p=$!; kill -STOP $p; sleep 0.3; kill -CONT $p; wait $p; echo woke-$?"
        let c = try h.connect().exec(line, timeout: 15)
        #expect(c.text.contains("woke-0"), "\(c.text) \(c.errorText)")
        let (client, t) = try shell()
        _ = client
        let from = t.output.count
        t.write(line + "\r")
        #expect(t.wait(for: "woke-0", from: from + line.count, timeout: 8), "\(t.text.suffix(300))")
        t.write("exit\r")
        t.drain(timeout: 5)
    }

    /// The guard thread answers every stop and hands the line's end to the session: a line of
    /// hundreds of fork+execs ends with its own status (exit or signal), on a terminal too, and a
    /// block among allowed execs is said while the rest of the line goes on.
    @Test func aLineOfManyExecsEndsWithItsOwnStatusUnderTheGuard() throws {
        try h.grant(role: "e2e-escapes")
        let many = try h.connect().exec("for k in $(seq 300); do /bin/true; done; echo ran; perl -e 'exit 7'", timeout: 60)
        #expect(many.exitStatus == 7, "\(many.errorText)")
        #expect(many.text == "ran\n", "\(many.text)")
        let killed = try h.connect().exec("/bin/true; perl -e 'kill 9, $$'")
        #expect(killed.exitStatus == 137, "\(killed.errorText)")
        let mixed = try h.connect().exec("for k in 1 2 3; do /bin/true; done; perl -e 'system(\"id -u; true\")'; for k in 1 2 3; do /bin/true; done; echo after")
        #expect(mixed.errorText.contains("blocked /usr/bin/dash launched by perl"), "\(mixed.errorText)")
        #expect(mixed.text == "after\n", "\(mixed.text)")
        let (client, t) = try shell()
        _ = client
        let from = t.output.count
        t.write("for k in $(seq 100); do /bin/true; done; perl -e 'exit 3'\r")
        #expect(t.wait(for: "[3] ", from: from, timeout: 20), "\(t.text.suffix(300))")
        t.write("exit\r")
        t.drain(timeout: 5)
    }

    @Test func aSetuidProgramIsSaidToRunWithoutItsPrivilege() throws {
        try h.grant(role: "e2e-escapes")
        let c = try h.connect().exec("mount > /dev/null")
        #expect(c.errorText.contains("jitsh: mount is setuid: in a guarded session it runs without its privilege"), "\(c.errorText)")
    }

    @Test func aReadOnlyRoleCannotWriteOutsideItsPathsWithAnyProgram() throws {
        try h.grant(role: "e2e-landlock")
        try? FileManager.default.createDirectory(atPath: "/tmp/jitsh-landlock", withIntermediateDirectories: true)
        try Harness.run("/bin/chown", [Harness.user, "/tmp/jitsh-landlock"])
        let outside = "/var/tmp/jitsh-landlock-\(getpid())"
        let touch = try h.connect().exec("touch \(outside)")
        #expect(touch.exitStatus != 0 && touch.errorText.contains("Permission denied"), "\(touch.errorText)")
        let python = try h.connect().exec("python3 -c 'open(\"\(outside)\", \"w\")'")
        #expect(python.exitStatus != 0 && python.errorText.contains("PermissionError"), "\(python.errorText)")
        #expect(!exists(outside))
        let inside = try h.connect().exec("touch /tmp/jitsh-landlock/ok-\(getpid()) && cat /etc/hostname")
        #expect(inside.exitStatus == 0, "\(inside.errorText)")
        #expect(exists("/tmp/jitsh-landlock/ok-\(getpid())"))
    }
}

/// scp, sftp and rsync through the forced command: admitted by the role, recorded both ways.
extension SessionTests {
    func scp(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try Harness.execute("/usr/bin/scp", ["-q", "-i", h.clientKey, "-P", String(h.port), "-o", "StrictHostKeyChecking=no",
                                             "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"] + arguments)
    }

    @Test func aDownloadIsAllowedReadOnlyAndRecordedAnUploadIsRefused() throws {
        try h.grant(role: "readonly")
        let source = "/tmp/jitsh-e2e-download-\(getpid())"
        try Data("transfer payload \(getpid())\n".utf8).write(to: URL(fileURLWithPath: source))
        chmod(source, 0o644)
        let target = source + ".copy"
        defer { for f in [source, target] { try? FileManager.default.removeItem(atPath: f) } }
        let down = try scp(["\(Harness.user)@127.0.0.1:\(source)", target])
        #expect(down.status == 0, "\(down.output)")
        #expect((try? String(contentsOfFile: target, encoding: .utf8)) == "transfer payload \(getpid())\n")
        let recorded = try h.lastSession()
        #expect(recorded.session.mode == "transfer")
        let moved = String(decoding: recorded.frames.filter { $0.kind == .output }.flatMap(\.data), as: UTF8.self)
        #expect(moved.contains("transfer payload \(getpid())"))
        #expect(recorded.end?.exitReason == "exit")

        let up = try scp([source, "\(Harness.user)@127.0.0.1:/tmp/jitsh-e2e-upload-\(getpid())"])
        #expect(up.status != 0)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/jitsh-e2e-upload-\(getpid())"))
    }
}
