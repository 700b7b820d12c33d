import Foundation
import Store
import Testing

/// The forced command over a real sshd, driven by a real SSH client, as a person would use it.
@Suite(.serialized)
struct SessionTests {
    let h: Harness

    init() throws { h = try Harness.instance }

    /// `ssh user@host COMMAND` with OpenSSH's own client, in the background; its stderr on a pipe.
    func sshProcess(_ command: String) throws -> (Process, Pipe) {
        let ssh = Process()
        ssh.executableURL = URL(fileURLWithPath: "/usr/bin/ssh")
        ssh.arguments = ["-i", h.clientKey, "-p", String(h.port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                         "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "\(Harness.user)@127.0.0.1", command]
        let err = Pipe()
        ssh.standardInput = FileHandle.nullDevice
        ssh.standardOutput = FileHandle.nullDevice
        ssh.standardError = err
        try ssh.run()
        return (ssh, err)
    }

    /// Opens an interactive session and waits for the first prompt.
    func shell(rows: Int = 24, cols: Int = 80) throws -> (SSHClient, Channel) {
        let client = try h.connect()
        let c = try client.shell(rows: rows, cols: cols)
        #expect(c.wait(for: "] ~$ "), "no prompt: \(c.text)")
        return (client, c)
    }

    /// Types a line and waits for the next prompt after it; returns what came after the line.
    @discardableResult
    func type(_ c: Channel, _ line: String, expect: String = "$ ", timeout: Double = 10) -> String {
        let from = c.output.count
        c.write(line + "\r")
        // The editor echoes the line as it is typed; what follows the Enter is the answer.
        let entered = line + "\r\n"
        c.wait(for: entered, from: from, timeout: 3)
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            let after = String(decoding: c.output.dropFirst(from), as: UTF8.self)
            if let r = after.range(of: entered), after[r.upperBound...].contains(expect) { return String(after[r.upperBound...]) }
            c.pump(50)
        }
        Issue.record("after `\(line)`: \(String(decoding: c.output.dropFirst(from), as: UTF8.self).debugDescription)")
        return ""
    }

    @Test func withoutAGrantNothingRunsAndTheRefusalSaysHowToAsk() throws {
        try h.grant(role: nil)
        let c = try h.connect().exec("ls /")
        #expect(c.exitStatus == 1)
        #expect(c.errorText.contains("jitsh: jitsh-e2e has no live grant for e2e-host, so nothing can run."), "\(c.errorText)")
        #expect(c.errorText.contains("  readonly (contract e2e, up to 2h, approved at once)"), "\(c.errorText)")
        #expect(c.errorText.contains("ssh e2e-host grant request --role "), "\(c.errorText)")
        #expect(c.text.isEmpty)
    }

    @Test func grantsAreRequestedThroughTheForcedCommand() throws {
        try h.grant(role: nil)
        let request = try h.connect().exec("grant request --role readonly --reason 'INC-1 e2e'")
        #expect(request.exitStatus == 0, "\(request.text) \(request.errorText)")
        #expect(request.text.contains("readonly on e2e-host for 30m — active"), "\(request.text)")
        let ls = try h.connect().exec("echo granted")
        #expect(ls.exitStatus == 0 && ls.text == "granted\n", "\(ls.text) \(ls.errorText)")
    }

    @Test func execModeAllowsDeniesAndPassesExitStatuses() throws {
        try h.grant(role: "readonly")
        let ok = try h.connect().exec("echo hello; echo oops >&2")
        #expect(ok.exitStatus == 0)
        #expect(ok.text == "hello\n")
        #expect(ok.errorText == "oops\n")
        let recorded = try h.lastSession()
        #expect(recorded.session.mode == "exec")
        #expect(recorded.frames.filter { $0.kind == .output }.flatMap(\.data) == Array("hello\n".utf8))
        #expect(recorded.frames.filter { $0.kind == .stderr }.flatMap(\.data) == Array("oops\n".utf8))
        #expect(recorded.end?.exitStatus == 0 && recorded.end?.signature != nil)

        let failing = try h.connect().exec("ls /nonexistent")
        #expect(failing.exitStatus == 2)
        #expect(failing.errorText.contains("No such file or directory"))

        let denied = try h.connect().exec("rm -rf /tmp/x")
        #expect(denied.exitStatus == 126)
        #expect(denied.errorText == "denied: rm -rf /tmp/x — roles/readonly.yaml:8: changes to files need the operator role\n", "\(denied.errorText)")

        #expect(try h.connect().exec("exit 7").exitStatus == 7)
        let confirm = try h.connect().exec("systemctl restart nginx")
        #expect(confirm.exitStatus == 126)
    }

    @Test func aSharedAccountSpeaksForThePersonNamedByItsKey() throws {
        try h.grant(role: nil)
        try h.grant(role: "readonly", identity: "alice")
        let c = try h.connect(key: h.sharedKey).exec("echo $JITSH_IDENTITY")
        #expect(c.text == "alice\n", "\(c.text) \(c.errorText)")
    }

    @Test func anInteractiveSessionFeelsLikeBash() throws {
        try h.grant(role: "readonly")
        let (client, c) = try shell()
        _ = client
        #expect(c.text.contains("This session is recorded for review"))
        #expect(type(c, "echo hi there").contains("hi there"))
        let denied = type(c, "rm -rf /var/log")
        #expect(denied.contains("denied: rm -rf /var/log — roles/readonly.yaml:8: changes to files need the operator role"), "\(denied)")
        #expect(type(c, "ls /nonexistent").contains("[2] jitsh-e2e@e2e-host"))
        type(c, "cd /etc")
        #expect(type(c, "pwd").contains("/etc\r\n"))
        type(c, "export FOO=bar; x=1")
        #expect(type(c, "printenv FOO; echo x=$x").contains("bar\r\nx=1"))
        c.write("exit\r")
        c.drain(timeout: 5)
        #expect(c.isClosed)
    }

    @Test func ctrlCStopsTheJobAndTheLineTypedDuringItNeverRuns() throws {
        try h.grant(role: "readonly")
        let marker = "/tmp/jitsh-typeahead-\(getpid())"
        try? FileManager.default.removeItem(atPath: marker)
        let (client, c) = try shell()
        _ = client
        c.write("sleep 100\r")
        usleep(500_000)
        c.write("echo ran > \(marker)\r")
        usleep(300_000)
        let before = c.output.count
        let start = Date()
        c.write("\u{03}")
        #expect(c.wait(for: "[130] ", from: before, timeout: 5))
        #expect(Date().timeIntervalSince(start) < 2)
        #expect(type(c, "echo still here").contains("still here"))
        #expect(!FileManager.default.fileExists(atPath: marker))
        let lines = try h.store().auditEvents(session: try h.lastSession().session.id).filter { $0.kind == "line" }.map(\.line)
        #expect(!lines.contains { $0.contains("echo ran") }, "\(lines)")
        c.write("exit\r")
        c.drain(timeout: 5)
    }

    @Test func theTerminalSizeFollowsTheClient() throws {
        try h.grant(role: "readonly")
        let (client, c) = try shell(rows: 24, cols: 80)
        _ = client
        #expect(type(c, "stty size").contains("24 80"))
        c.resize(rows: 40, cols: 100)
        usleep(300_000)
        #expect(type(c, "stty size").contains("40 100"))
        c.write("exit\r")
        c.drain(timeout: 5)
        #expect(try h.lastSession().frames.contains { $0.size.map { $0.rows == 40 && $0.cols == 100 } ?? false })
    }

    @Test func aPasswordTypedWithoutEchoIsRedactedFromTheRecording() throws {
        try h.grant(role: "readonly")
        let (client, c) = try shell()
        _ = client
        let from = c.output.count
        c.write("read -s -p 'Password: ' pw; echo; echo length=${#pw}\r")
        #expect(c.wait(for: "Password: ", from: from))
        usleep(300_000)
        c.write("hunter2\r")
        #expect(c.wait(for: "length=7", from: from))
        #expect(!c.text.contains("hunter2"))
        c.write("exit\r")
        c.drain(timeout: 5)
        let frames = try h.lastSession().frames
        let typed = String(decoding: frames.filter { $0.kind == .input }.flatMap(\.data), as: UTF8.self)
        #expect(!typed.contains("hunter2"), "\(typed)")
        #expect(frames.contains { $0.kind == .redacted })
    }

    @Test func theSessionEndsWhenTheGrantExpires() throws {
        let id = try #require(try h.grant(role: "readonly", seconds: 4))
        let g = try #require(try h.store().grant(id))
        let (client, c) = try shell()
        _ = client
        c.write("sleep 30\r")
        #expect(c.wait(for: "has ended; the session ends", timeout: 12), "\(c.text)")
        c.drain(timeout: 5)
        let closedAt = Date().timeIntervalSince1970
        #expect(c.isClosed)
        #expect(closedAt - Double(g.endsAt) < 2.5, "closed \(closedAt - Double(g.endsAt)) s after the grant ended")
        #expect(try h.lastSession().end?.exitReason == "grant-expired")
    }

    @Test func aRevokedGrantEndsTheSessionWithinSeconds() throws {
        let id = try #require(try h.grant(role: "readonly"))
        let (client, c) = try shell()
        _ = client
        try h.revoke(id)
        #expect(c.wait(for: "was revoked by root: revoked by the test; the session ends", timeout: 8), "\(c.text)")
        c.drain(timeout: 5)
        #expect(try h.lastSession().end?.exitReason == "grant-revoked")
    }

    /// What the client received is exactly what the recording holds, byte for byte.
    @Test func theRecordingReplaysToTheBytesTheClientReceived() throws {
        try h.grant(role: "readonly")
        let (client, c) = try shell()
        _ = client
        type(c, "printf 'tab\\there\\nutf8: é ✓\\n'")
        type(c, "seq 1 2000 | tail -n 3")
        type(c, "nosuchcommand")
        c.write("exit\r")
        c.drain(timeout: 5)
        let recorded = try h.lastSession()
        let shown = recorded.frames.filter { $0.kind == .output }.flatMap(\.data)
        #expect(shown == c.output, "recorded \(shown.count) bytes, received \(c.output.count)")
        let typed = recorded.frames.filter { $0.kind == .input }.flatMap(\.data)
        #expect(String(decoding: typed, as: UTF8.self).contains("seq 1 2000 | tail -n 3\r"))
        #expect(recorded.end?.exitReason == "exit")
    }

    /// kill -9 of jitsh: what was committed stays, chained and intact; its job dies with it.
    @Test func killingJitshLeavesTheRecordingIntactUpToTheLastChunk() throws {
        try h.grant(role: "readonly")
        let (client, c) = try shell()
        _ = client
        c.write("while true; do echo line; sleep 0.01; done\r")
        #expect(c.wait(for: "line\r\nline\r\n"))
        usleep(800_000)
        let jitsh = try Harness.run("/usr/bin/pgrep", ["-u", Harness.user, "-x", "jitsh"]).split(separator: "\n").compactMap { Int32($0) }
        #expect(!jitsh.isEmpty)
        for pid in jitsh { kill(pid, SIGKILL) }
        c.drain(timeout: 5)
        usleep(300_000)
        let left = (try? Harness.run("/usr/bin/pgrep", ["-u", Harness.user, "-f", "while true"])) ?? ""
        #expect(left.isEmpty, "the job outlived jitsh: \(left)")
        let store = try h.store()
        let session = try h.lastSession()
        #expect(session.end == nil)
        let chunks = try store.chunks(session: session.session.id)
        #expect(chunks.count >= 2)
        var head = Chunk.genesis(session.session.id)
        for chunk in chunks {
            #expect(chunk.previousHash == head)
            let recomputed = Chunk.hash(sessionID: chunk.sessionID, seq: chunk.seq, startedAt: chunk.startedAt, frames: chunk.frames,
                                        rawBytes: chunk.rawBytes, data: chunk.data, previousHash: chunk.previousHash)
            #expect(recomputed == chunk.hash)
            #expect(chunk.decodedFrames() != nil)
            head = chunk.hash
        }
        let shown = String(decoding: session.frames.filter { $0.kind == .output }.flatMap(\.data), as: UTF8.self)
        #expect(shown.contains("line\r\nline\r\n"))
    }
}
