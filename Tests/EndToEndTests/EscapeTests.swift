import Foundation
import Store
import Testing

/// Nothing runs outside jitsh's sight: the ways out of the exec guard and the login path, tried
/// over sshd as an attacker holding an allowed interpreter would.
extension SessionTests {
    /// python3 calling clone(2) itself with CLONE_UNTRACED, then a shell in the child.
    static func untracedClone(_ marker: String) -> String {
        """
        python3 -c 'import ctypes, os, platform
        libc = ctypes.CDLL(None, use_errno=True)
        nr = 56 if platform.machine() == "x86_64" else 220
        pid = libc.syscall(nr, 0x00800000 | 17, 0, 0, 0, 0)
        if pid == 0:
            os.execv("/bin/sh", ["sh", "-c", "echo pwned > \(marker)"])
        print("clone returned", pid, ctypes.get_errno())'
        """
    }

    @Test func aCloneThatAsksNotToBeTracedIsStoppedAndAudited() throws {
        try h.grant(role: "e2e-escapes")
        let dir = try fixture([])
        let c = try h.connect().exec(SessionTests.untracedClone(dir + "/M"))
        usleep(300_000)
        #expect(!exists(dir + "/M"), "the untraced child ran a shell")
        #expect(c.errorText.contains("CLONE_UNTRACED"), "\(c.errorText)")
        #expect(!c.text.contains("clone returned"), "\(c.text)")
        #expect(try events("guard").contains { $0.reason.contains("CLONE_UNTRACED") })
    }

    /// A shared object whose constructor clones untraced and runs a shell, loaded by an allowed
    /// interpreter and offered through LD_PRELOAD and OPENSSL_CONF.
    @Test func codeLoadedFromAUserFileIsRefusedOrContained() throws {
        let dir = try fixture([])
        let source = dir + "/evil.c"
        try """
            #define _GNU_SOURCE
            #include <sched.h>
            #include <signal.h>
            #include <sys/syscall.h>
            #include <unistd.h>
            __attribute__((constructor)) static void escape(void) {
                long pid = syscall(SYS_clone, 0x00800000 | SIGCHLD, 0, 0, 0, 0);
                if (pid == 0) { execl("/bin/sh", "sh", "-c", "echo pwned > \(dir)/M", (char *)0); _exit(1); }
            }
            """.write(toFile: source, atomically: true, encoding: .utf8)
        try Harness.run("/usr/bin/cc", ["-shared", "-fPIC", "-o", dir + "/evil.so", source])
        chmod(dir + "/evil.so", 0o755)
        try h.grant(role: "e2e-escapes")
        let loaded = try h.connect().exec("python3 -c 'import ctypes; ctypes.CDLL(\"\(dir)/evil.so\")'")
        usleep(300_000)
        #expect(!exists(dir + "/M"), "the library's untraced child ran a shell")
        #expect(loaded.errorText.contains("CLONE_UNTRACED"), "\(loaded.errorText)")
        let preload = try h.connect().exec("LD_PRELOAD=\(dir)/evil.so cat /etc/hostname")
        #expect(preload.exitStatus == 126 && preload.errorText.contains("LD_PRELOAD"), "\(preload.errorText)")
        try h.grant(role: "readonly")
        for line in ["OPENSSL_CONF=\(dir)/x.cnf curl -s http://127.0.0.1:1/", "openssl list -provider-path \(dir) -provider evil",
                     "openssl engine dynamic -pre SO_PATH:\(dir)/evil.so"] {
            let c = try h.connect().exec(line)
            #expect(c.exitStatus == 126, "\(line): \(c.errorText)")
        }
        #expect(!exists(dir + "/M"))
    }

    /// A daemon (double fork, setsid) started by an allowed program; its parent then sleeps.
    static func daemon(_ pidFile: String, parentSleeps: Double = 0.5) -> String {
        "python3 -c \"import os, time; os.fork() == 0 and (os.setsid(), os.fork() == 0 and (open('\(pidFile)', 'w')"
            + ".write(str(os.getpid())), time.sleep(300)), os._exit(0)); time.sleep(\(parentSleeps))\""
    }

    func daemonPID(_ file: String) -> pid_t? {
        for _ in 0..<50 {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), let pid = pid_t(text) { return pid }
            usleep(100_000)
        }
        return nil
    }

    func gone(_ pid: pid_t, within seconds: Double = 3) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            if stat.isEmpty || stat.contains(") Z ") { return true }
            usleep(50_000)
        }
        return false
    }

    @Test(arguments: ["e2e-escapes", "e2e-unguarded"])
    func aDaemonStartedByALineIsGoneWhenTheLineEnds(role: String) throws {
        try h.grant(role: role)
        let dir = try fixture([])
        let c = try h.connect().exec(SessionTests.daemon(dir + "/pid"))
        #expect(c.exitStatus == 0, "\(c.errorText)")
        let pid = try #require(daemonPID(dir + "/pid"))
        #expect(gone(pid), "the daemon \(pid) outlived its line (\(role))")
    }

    @Test func aDaemonIsGoneAtRevocationAndAtTheEndOfAnInteractiveLine() throws {
        let id = try #require(try h.grant(role: "e2e-escapes"))
        let dir = try fixture([])
        let (client, c) = try shell(cols: 300)
        _ = client
        type(c, SessionTests.daemon(dir + "/first"))
        let first = try #require(daemonPID(dir + "/first"))
        #expect(gone(first), "the daemon of a finished line is still there")
        // A line still running when the grant is revoked: its daemon goes with it.
        c.write(SessionTests.daemon(dir + "/second", parentSleeps: 300) + "\r")
        let second = try #require(daemonPID(dir + "/second"))
        try h.revoke(id)
        #expect(c.wait(for: "was revoked", timeout: 8), "\(c.text)")
        c.drain(timeout: 5)
        #expect(gone(second, within: 5), "the daemon \(second) outlived the revocation")
    }

    /// `sh -c STRING` where STRING reads as a path to an allowed script through a directory
    /// named with a payload: an exec of the shell, never of the script.
    @Test func aShellCommandShapedLikeAnAllowedScriptIsBlocked() throws {
        try h.grant(role: "e2e-escapes")
        try Data("#!/bin/sh\necho script ok\n".utf8).write(to: URL(fileURLWithPath: "/tmp/jitsh-e2e-script.sh"))
        chmod("/tmp/jitsh-e2e-script.sh", 0o755)
        let dir = try fixture([])
        let payload = "x;echo pwned > M;exit;"
        try FileManager.default.createDirectory(atPath: dir + "/" + payload, withIntermediateDirectories: true)
        let c = try h.connect().exec("cd \(dir) && awk 'BEGIN {system(\"\(payload)/../../../../tmp/jitsh-e2e-script.sh\")}'")
        #expect(!exists(dir + "/M"), "the payload ran")
        #expect(c.errorText.contains("blocked /usr/bin/dash launched by awk"), "\(c.errorText)")
        let real = try h.connect().exec("/tmp/jitsh-e2e-script.sh")
        #expect(real.text == "script ok\n", "\(real.errorText)")
    }

    @Test func aConfirmedLineAllowsOnlyTheConfirmedArguments() throws {
        try h.grant(role: "e2e-confirm-escape")
        let dir = try fixture(["a", "b"])
        let (client, c) = try shell()
        _ = client
        let shown = type(c, "rm \(dir)/a; perl -e 'exec \"rm\", \"\(dir)/b\"'", expect: SessionTests.phrasePrompt)
        #expect(shown.contains("Type 1"), "\(shown)")
        let after = answer(c, "1")
        // perl exec'd rm in its own process: the parent the guard names is the line's bash.
        #expect(after.contains("blocked /usr/bin/rm launched by bash: rm needs confirmation"), "\(after)")
        #expect(!exists(dir + "/a"), "the confirmed rm did not run")
        #expect(exists(dir + "/b"), "an rm that was not confirmed ran")
        c.write("exit\r")
        c.drain(timeout: 5)
    }

    /// The login path: sshd runs the forced command through the login shell, and bash reads
    /// ~/.bashrc first. With jitsh as the login shell nothing does; doctor says which is which.
    @Test func aStartUpFileHookNeverRunsWithJitshAsTheLoginShell() throws {
        try h.grant(role: "readonly")
        let home = String(cString: getpwnam(Harness.user).pointee.pw_dir)
        let hook = "/tmp/jitsh-e2e-hook-\(getpid())"
        try "touch \(hook)\n".write(toFile: home + "/.bashrc", atomically: true, encoding: .utf8)
        try Harness.run("/bin/chown", [Harness.user, home + "/.bashrc"])
        defer {
            try? FileManager.default.removeItem(atPath: home + "/.bashrc")
            try? FileManager.default.removeItem(atPath: hook)
            _ = try? Harness.run("/usr/sbin/usermod", ["-s", "/bin/bash", Harness.user])
        }
        _ = try Harness.run("/usr/sbin/usermod", ["-s", "/bin/bash", Harness.user])
        _ = try h.connect().exec("true")
        #expect(exists(hook), "bash as the login shell: the hook ran (what doctor fails)")
        let doctorBash = try Harness.execute(h.binary, ["doctor", "--config", h.config, "--user", Harness.user, "--sshd-config", h.sshdConfig])
        #expect(doctorBash.output.contains("FAIL  login shell \(Harness.user): /usr/bin/bash reads start-up files before jitsh runs"),
                "\(doctorBash.output)")
        try FileManager.default.removeItem(atPath: hook)

        _ = try Harness.run("/usr/sbin/usermod", ["-s", h.binary, Harness.user])
        let c = try h.connect().exec("echo through the login shell")
        #expect(c.text == "through the login shell\n", "\(c.errorText)")
        #expect(!exists(hook), "jitsh as the login shell: the hook still ran")
        let shared = try h.connect(key: h.sharedKey).exec("echo as alice")
        #expect(shared.errorText.contains("alice has no live grant") || shared.text == "as alice\n", "\(shared.errorText)")
        let (client, t) = try shell()
        _ = client
        type(t, "echo interactive")
        t.write("exit\r")
        t.drain(timeout: 5)
        let doctorJitsh = try Harness.execute(h.binary, ["doctor", "--config", h.config, "--user", Harness.user, "--sshd-config", h.sshdConfig])
        #expect(doctorJitsh.output.contains("ok    login shell \(Harness.user):"), "\(doctorJitsh.output)")
    }

    @Test func noLineOrUploadWritesALoginFile() throws {
        try h.grant(role: "e2e-confirm-escape")
        let home = String(cString: getpwnam(Harness.user).pointee.pw_dir)
        let keys = home + "/.ssh/authorized_keys"
        let before = (try? Data(contentsOf: URL(fileURLWithPath: keys)))
        defer {
            try? FileManager.default.removeItem(atPath: home + "/.bashrc")
            try? FileManager.default.removeItem(atPath: home + "/link")
            try? FileManager.default.removeItem(atPath: home + "/notes.txt")
        }
        try? FileManager.default.removeItem(atPath: home + "/.bashrc")
        for line in ["echo 'sh -i' >> ~/.bashrc", "echo key >> ~/.ssh/authorized_keys", "cat /etc/hostname > \(home)/.profile"] {
            let c = try h.connect().exec(line)
            #expect(c.exitStatus == 126 && c.errorText.contains("runs at login outside jitsh"), "\(line): \(c.errorText)")
        }
        // Through a symlink the user made: decided on where it leads.
        _ = try Harness.run("/bin/ln", ["-sfn", ".bashrc", home + "/link"])
        _ = try Harness.run("/bin/chown", ["-h", Harness.user, home + "/link"])
        let link = try h.connect().exec("echo hook > ~/link")
        #expect(link.exitStatus == 126 && link.errorText.contains("leads to \(home)/.bashrc"), "\(link.errorText)")
        #expect(!exists(home + "/.bashrc"), "a write through a link reached .bashrc")

        let dir = try fixture(["payload"])
        let batch = dir + "/batch"
        try "-put \(dir)/payload .bashrc\n-put \(dir)/payload .ssh/authorized_keys\n-put \(dir)/payload notes.txt\n"
            .write(toFile: batch, atomically: true, encoding: .utf8)
        let sftp = try Harness.execute("/usr/bin/sftp", ["-b", batch, "-i", h.clientKey, "-P", String(h.port), "-o", "StrictHostKeyChecking=no",
                                                         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                                                         "\(Harness.user)@127.0.0.1"])
        #expect(sftp.output.contains("Permission denied"), "\(sftp.output)")
        #expect(exists(home + "/notes.txt"), "an upload of an ordinary file was refused: \(sftp.output)")
        #expect(!exists(home + "/.bashrc"))
        #expect((try? Data(contentsOf: URL(fileURLWithPath: keys))) == before)
        #expect(try events("transfer-refused").contains { $0.line.contains(".bashrc") })
        let scp = try scp(["-O", dir + "/payload", "\(Harness.user)@127.0.0.1:"])
        #expect(scp.status != 0 && !exists(home + "/payload"), "\(scp.output)")
    }

    @Test func aLandlockWritablePathOverLoginFilesIsRefused() throws {
        try h.grant(role: "e2e-landlock-home")
        let c = try h.connect().exec("touch ~/x")
        #expect(c.exitStatus != 0, "\(c.errorText)")
        #expect(c.errorText.contains("writable path") && c.errorText.contains("runs at login outside jitsh"), "\(c.errorText)")
    }

    @Test func aDaemonIsGoneAtExpiry() throws {
        try h.grant(role: "e2e-escapes", seconds: 6)
        let dir = try fixture([])
        let (client, c) = try shell(cols: 300)
        _ = client
        c.write(SessionTests.daemon(dir + "/pid", parentSleeps: 300) + "\r")
        let pid = try #require(daemonPID(dir + "/pid"))
        #expect(c.wait(for: "the session ends", timeout: 15), "\(c.text.suffix(300))")
        c.drain(timeout: 5)
        #expect(gone(pid, within: 5), "the daemon \(pid) outlived the grant")
        #expect(try h.lastSession().end?.exitReason == "grant-expired")
    }
}
