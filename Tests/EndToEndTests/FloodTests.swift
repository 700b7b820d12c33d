import CLibssh
import Foundation
import Store
import Testing

/// Sessions under floods and faults: type-ahead nobody reads, jobs that ignore SIGHUP, clients
/// that vanish, pastes of thousands of lines. Bounded in size and time.
extension SessionTests {
    /// python3 that ignores SIGHUP, says its pid, and sleeps.
    static func stubborn(_ pidFile: String) -> String {
        "python3 -c 'import os, signal, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); open(\"\(pidFile)\", \"w\").write(str(os.getpid())); time.sleep(300)'"
    }

    @Test func tenMegabytesTypedAtAJobThatReadsNothingWedgeNothing() throws {
        let grant = try #require(try h.grant(role: "e2e-escapes", seconds: 25))
        _ = grant
        let (client, c) = try shell()
        _ = client
        let from = c.output.count
        c.write("sleep 100\r")
        usleep(300_000)
        let chunk = [UInt8](repeating: UInt8(ascii: "k"), count: 64 << 10)
        let start = Date()
        for _ in 0..<160 {
            c.write(chunk)
            c.pump(0)
        }
        let typing = Date().timeIntervalSince(start)
        #expect(typing < 20, "typing 10 MB took \(typing) s: jitsh stopped reading")
        // Still responsive: Ctrl-C reaches the job, and the prompt comes back.
        c.write("\u{03}")
        #expect(c.wait(for: "[130] ", from: from, timeout: 10), "\(c.text.suffix(300))")
        // Expiry still ends the session.
        #expect(c.wait(for: "the session ends", from: from, timeout: 30), "\(c.text.suffix(300))")
        c.drain(timeout: 5)
        let s = try h.lastSession()
        #expect(s.end?.exitReason == "grant-expired")
        let typed = s.frames.filter { $0.kind == .input }.reduce(0) { $0 + $1.data.count }
        #expect(typed >= 160 * (64 << 10), "the recording holds \(typed) bytes of input")
    }

    /// 340 KB of output, then `exit` at the next prompt: the line is echoed and the session ends
    /// at once, its end and every line of the output recorded.
    @Test func exitRightAfterAFloodOfOutputEndsTheSession() throws {
        _ = try #require(try h.grant(role: "e2e-escapes", seconds: 120))
        let (client, c) = try shell()
        _ = client
        let out = type(c, "seq 1 60000", expect: "] ~$ ", timeout: 30)
        #expect(out.contains("59999\r\n60000"), "\(out.suffix(200))")
        let from = c.output.count
        c.write("exit\r")
        c.drain(timeout: 10)
        #expect(c.isClosed, "after exit: \(String(decoding: c.output.dropFirst(from), as: UTF8.self).debugDescription)")
        #expect(String(decoding: c.output.dropFirst(from), as: UTF8.self).hasPrefix("exit\r\n"))
        let s = try h.lastSession()
        #expect(s.end?.exitReason == "exit")
        let shown = String(decoding: s.frames.filter { $0.kind == .output }.flatMap(\.data), as: UTF8.self)
        #expect(shown.contains("59999\r\n60000\r\n"))
    }

    @Test func execModeEndsAJobIgnoringSIGHUPAtRevocationAfterWarning() throws {
        let id = try #require(try h.grant(role: "e2e-escapes", seconds: 61))
        let dir = try fixture([])
        // The revocation comes from another process while the exec runs (as an admin's would).
        let revoke = Process()
        revoke.executableURL = URL(fileURLWithPath: "/bin/sh")
        revoke.arguments = ["-c", "sleep 8; date +%s.%N > \(dir)/revoked; '\(h.binary)' grant revoke --config '\(h.config)' \(id) --reason 'revoked by the test' >/dev/null"]
        try revoke.run()
        let c = try h.connect().exec(SessionTests.stubborn(dir + "/pid"), timeout: 30)
        let endedAt = Date().timeIntervalSince1970
        revoke.waitUntilExit()
        let revokedAt = try #require(Double((try? String(contentsOfFile: dir + "/revoked", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        #expect(endedAt - revokedAt < 3 + 2 + 1.5, "ended \(endedAt - revokedAt) s after the revocation")
        let pid = try #require(daemonPID(dir + "/pid"))
        #expect(gone(pid, within: 1), "the job \(pid) ignoring SIGHUP outlived the revocation")
        #expect(c.errorText.contains("ends in"), "no warning before the end: \(c.errorText)")
        #expect(c.errorText.contains("revoked"), "\(c.errorText)")
        #expect(try h.lastSession().end?.exitReason == "grant-revoked")
    }

    @Test func execModeEndsAJobIgnoringSIGHUPAtExpiry() throws {
        try h.grant(role: "e2e-escapes", seconds: 5)
        let dir = try fixture([])
        let started = Date()
        let c = try h.connect().exec(SessionTests.stubborn(dir + "/pid"), timeout: 30)
        let pid = try #require(daemonPID(dir + "/pid"))
        #expect(Date().timeIntervalSince(started) < 5 + 3 + 3, "ended \(Date().timeIntervalSince(started)) s after start")
        #expect(gone(pid, within: 1))
        #expect(c.errorText.contains("expired") || c.errorText.contains("ends"), "\(c.errorText)")
        #expect(try h.lastSession().end?.exitReason == "grant-expired")
    }

    @Test func execModeEndsTheJobWhenTheClientIsKilled() throws {
        try h.grant(role: "e2e-escapes")
        let dir = try fixture([])
        let (ssh, _) = try sshProcess(SessionTests.stubborn(dir + "/pid"))
        defer { if ssh.isRunning { kill(ssh.processIdentifier, SIGKILL) } }
        let pid = try #require(daemonPID(dir + "/pid"))
        kill(ssh.processIdentifier, SIGKILL)
        ssh.waitUntilExit()
        #expect(gone(pid, within: 2 + 3), "the job \(pid) outlived its client")
        usleep(500_000)
        #expect(try h.lastSession().end?.exitReason == "hangup")
    }

    @Test func aBracketedPasteOfTenThousandLinesRunsExactlyThoseLines() throws {
        try h.grant(role: "e2e-escapes")
        let (client, c) = try shell()
        _ = client
        let body = (1...10_000).map { "echo P\($0)\r" }.joined()
        let pasted = Array(("\u{1B}[200~" + body + "\u{1B}[201~").utf8)
        let from = c.output.count
        for k in stride(from: 0, to: pasted.count, by: 16 << 10) {
            c.write(Array(pasted[k..<min(pasted.count, k + (16 << 10))]))
            c.pump(0)
        }
        c.write("\r")
        #expect(c.wait(for: "P10000\r\n", from: from, timeout: 30), "\(c.text.suffix(400))")
        #expect(c.wait(for: "$ ", from: c.output.count - 10, timeout: 10))
        let out = String(decoding: c.output.dropFirst(from), as: UTF8.self)
        let echoed = out.replacingOccurrences(of: "\u{1B}[?2004l", with: "").components(separatedBy: "\r\n").filter { $0.hasPrefix("P") }
        #expect(echoed == (1...10_000).map { "P\($0)" }, "\(echoed.count) lines, first \(echoed.prefix(3)), last \(echoed.suffix(3))")
        c.write("exit\r")
        c.drain(timeout: 5)
        let s = try h.lastSession()
        let input = s.frames.filter { $0.kind == .input }.flatMap(\.data)
        #expect(String(decoding: input, as: UTF8.self).contains(String(decoding: pasted, as: UTF8.self)))
        let decided = try h.store().auditEvents(session: s.session.id).filter { $0.kind == "line" && $0.decision != "builtin" }
        #expect(decided.count == 1 && decided.first?.line.split(separator: "\n").count == 10_000, "\(decided.count) decisions")
    }
}

/// A store that stops answering (a lock held elsewhere): the job's output stops reaching the
/// user within a few chunks, and goes on, all recorded, once the store answers again.
extension SessionTests {
    @Test func aLockedStoreStopsWhatTheUserIsShownWithinAFewChunks() throws {
        try h.grant(role: "e2e-escapes")
        let dir = try fixture([])
        let client = try h.connect()
        let c = try client.channel()
        // About 3 MB/s: enough to fill every buffer on the way in well under the lock's 4 s.
        let flood = "python3 -c 'import sys, time\nwhile True:\n    sys.stdout.write((\"x\" * 1023 + \"\\n\") * 16); sys.stdout.flush(); time.sleep(0.005)'"
        #expect(ssh_channel_request_exec(c.channel, flood) == SSH_OK)
        ssh_channel_send_eof(c.channel)
        // Another process holds the store's write lock for 4 s, after a second of streaming.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        holder.arguments = ["-c", """
            import sqlite3, time
            time.sleep(1)
            db = sqlite3.connect("\(h.storePath)", isolation_level=None, timeout=5)
            db.execute("BEGIN IMMEDIATE")
            open("\(dir)/locked", "w").write(repr(time.time()))
            time.sleep(4)
            open("\(dir)/released", "w").write(repr(time.time()))
            db.execute("COMMIT")
            """]
        try holder.run()
        var samples: [(at: Double, bytes: Int)] = []
        let end = Date().addingTimeInterval(7)
        while Date() < end {
            c.pump(20)
            samples.append((Date().timeIntervalSince1970, c.output.count))
        }
        holder.waitUntilExit()
        func read(_ name: String) -> Double? {
            (try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)).flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        }
        let locked = try #require(read("locked")), released = try #require(read("released"))
        // What reached the client while the lock was held, from just after it was taken.
        let atLock = samples.last { $0.at <= locked + 0.3 }?.bytes ?? 0
        let atRelease = samples.last { $0.at <= released }?.bytes ?? 0
        let before = samples.last { $0.at <= locked }?.bytes ?? 0
        #expect(before > 1 << 20, "the job streamed only \(before) bytes before the lock")
        #expect(atRelease - atLock <= 128 << 10, "\(atRelease - atLock) bytes reached the user while the store was locked")
        #expect(samples.last!.bytes > atRelease + (1 << 20), "the stream did not go on after the lock was released")
        ssh_channel_close(c.channel)
        usleep(2_000_000)
        let s = try h.lastSession()
        let recorded = s.frames.filter { $0.kind == .output }.reduce(0) { $0 + $1.data.count }
        #expect(recorded >= samples.last!.bytes, "recorded \(recorded) of \(samples.last!.bytes) bytes shown")
    }
}

/// The policy as it is when a line is decided, not as it was at login.
extension SessionTests {
    @Test func aPolicyChangedMidSessionAppliesAtTheNextLine() throws {
        try h.grant(role: "e2e-mutable")
        defer { try? Harness.mutableRole.write(toFile: h.mutableRolePath, atomically: true, encoding: .utf8) }
        let (client, c) = try shell()
        _ = client
        #expect(type(c, "echo one").contains("one\r\n"))
        try "role: e2e-mutable\ndescription: cat only now\nallow:\n  - cmd: [cat]\n".write(toFile: h.mutableRolePath, atomically: true, encoding: .utf8)
        #expect(type(c, "echo two").contains("denied"), "the changed role did not apply")
        try "role: e2e-mutable\nallow: [broken\n".write(toFile: h.mutableRolePath, atomically: true, encoding: .utf8)
        #expect(type(c, "cat /etc/hostname").contains("no longer loads"), "a broken policy did not fail closed")
        try Harness.mutableRole.write(toFile: h.mutableRolePath, atomically: true, encoding: .utf8)
        #expect(type(c, "echo three").contains("three\r\n"))
        c.write("exit\r")
        c.drain(timeout: 5)
        #expect(try events("policy-failed").count == 1)
    }
}

/// Shell state of any size: nothing hangs, nothing later fails with "Argument list too long".
extension SessionTests {
    @Test func aLargeVariableNeitherHangsExecModeNorBreaksLaterLines() throws {
        try h.grant(role: "e2e-escapes")
        let started = Date()
        let exec = try h.connect().exec("x=$(seq 1 200000); echo done", timeout: 20)
        #expect(exec.text == "done\n" && exec.exitStatus == 0, "\(exec.errorText)")
        #expect(Date().timeIntervalSince(started) < 10, "exec mode took \(Date().timeIntervalSince(started)) s")
        let (client, c) = try shell(cols: 200)
        _ = client
        type(c, "x=$(seq 1 200000)")
        #expect(type(c, "echo ${#x}").contains("1288894"), "the 1.3 MB variable was not carried")
        let exported = type(c, "export y=$(seq 1 200000)")
        #expect(exported.contains("not carried to the next line") && exported.contains("y"), "\(exported)")
        #expect(type(c, "echo still fine").contains("still fine\r\n"))
        c.write("exit\r")
        c.drain(timeout: 5)
    }
}
