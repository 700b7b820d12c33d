import Foundation
import Store
import Testing

/// Review of sessions recorded over sshd: list, show, verify, export to the real asciinema,
/// replay, search, tail, alerts.
extension SessionTests {
    func jitsh(_ arguments: [String]) throws -> String {
        try Harness.run(h.binary, arguments + ["--config", h.config])
    }

    /// A short interactive session with a word only it printed.
    func recordedSession(_ word: String) throws -> String {
        try h.grant(role: "readonly")
        let (client, c) = try shell()
        _ = client
        type(c, "printf '%s\\n' \(word) 'é ✓'")
        type(c, "ls /nonexistent-\(word)")
        c.write("exit\r")
        c.drain(timeout: 5)
        return try h.lastSession().session.id
    }

    /// `ssh host review login`: a reserved verb answered by jitsh itself over sshd, with no grant
    /// needed and no session recorded; the link's token is stored hashed, never in clear.
    @Test func reviewLoginOverSSHPrintsAOneTimeLink() throws {
        try h.grant(role: nil)
        let before = try h.store().allSessionIDs().count
        let c = try h.connect().exec("review login")
        #expect(c.exitStatus == 0, "\(c.errorText)")
        let token = try #require(c.text.firstMatch(of: /\/login\?token=([A-Za-z0-9_-]{40,})/)?.1, "\(c.text)")
        #expect(c.text.contains("sign in as \(Harness.user)"))
        #expect(try h.store().allSessionIDs().count == before)
        // The database, its WAL and shared memory: nowhere in clear.
        let raw = try Harness.execute("/bin/sh", ["-c", "cat \"$0\"* | grep -ac -e \"$1\"", h.storePath, String(token)])
        #expect(raw.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    @Test func aRecordedSessionIsListedShownAndVerified() throws {
        let id = try recordedSession("listme")
        let list = try jitsh(["sessions", "list", "--user", Harness.user, "--json"])
        #expect(list.contains("\"id\":\"\(id)\""), "\(list)")
        let show = try jitsh(["sessions", "show", String(id.prefix(8))])
        #expect(show.contains("#1 allow   printf '%s\\n' listme 'é ✓'"), "\(show)")
        #expect(show.contains("→ exit 0") && show.contains("→ exit 2"), "\(show)")
        #expect(show.contains("via contract break-glass (BREAK-GLASS), reason: e2e") && show.contains(" by root"), "\(show)")
        #expect(try jitsh(["sessions", "verify", id]).hasPrefix("\(id) ok: "))
        #expect(try jitsh(["sessions", "verify", "--all"]).contains("sessions verified"))
    }

    @Test func anExportedAsciicastPlaysInTheRealAsciinema() throws {
        let id = try recordedSession("castme")
        let file = "/tmp/jitsh-e2e-\(id).cast"
        defer { try? FileManager.default.removeItem(atPath: file) }
        _ = try jitsh(["sessions", "export", id, "--format", "asciicast", "-o", file])
        // asciinema cat insists on a terminal: script gives it one.
        let played = try Harness.run("/usr/bin/script", ["-qec", "asciinema cat \(file)", "/dev/null"])
        #expect(played.contains("castme\r\né ✓"), "\(played)")
        let text = try jitsh(["sessions", "export", id, "--format", "text"])
        #expect(text.contains("~$ printf '%s\\n' castme 'é ✓'\ncastme\né ✓\n"), "\(text)")
    }

    @Test func aReplayShowsExactlyWhatTheUserSaw() throws {
        let id = try recordedSession("replayme")
        let replayed = try jitsh(["sessions", "replay", id, "--speed", "1000"])
        let shown = try h.lastSession().frames.filter { $0.kind == .output }.flatMap(\.data)
        #expect(replayed == String(decoding: shown, as: UTF8.self))
    }

    @Test func searchFindsLinesAndWhatWasShown() throws {
        let id = try recordedSession("findme")
        let lines = try jitsh(["audit", "search", "command", "printf", "and", "user", Harness.user])
        #expect(lines.contains("printf '%s\\n' findme"), "\(lines)")
        let text = try jitsh(["audit", "search", "--text", "findme"])
        #expect(text.contains("\(id.prefix(8)) at "), "\(text)")
        #expect(text.contains("jitsh sessions replay \(id.prefix(8)) --from"))
        let tail = try jitsh(["audit", "tail", "--json", "-n", "3"]).split(separator: "\n")
        #expect(tail.count == 3)
        for line in tail {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(o["kind"] is String && o["identity"] is String && o["time"] is String && o["data"] is [String: Any])
        }
    }

    @Test func aDeniedLineUnderAnAlertingRoleQueuesAnAlert() throws {
        try h.grant(role: "operator")
        let denied = try h.connect().exec("killall nginx")
        #expect(denied.exitStatus == 126)
        let alerts = try h.store().dueNotifications(now: Int64(Date().timeIntervalSince1970 * 1_000_000) + 5_000_000, limit: 1000).filter { $0.event == "alert" }
        #expect(alerts.contains { $0.payload.contains("killall nginx") }, "\(alerts)")
    }

    @Test func aLiveSessionCanBeFollowedAsItIsRecorded() throws {
        try h.grant(role: "readonly")
        let (client, c) = try shell()
        _ = client
        type(c, "echo before-follow")
        let id = try h.lastSession().session.id
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: h.binary)
        follower.arguments = ["sessions", "replay", id, "--follow", "--speed", "1000", "--config", h.config]
        let out = Pipe()
        follower.standardOutput = out
        follower.standardInput = FileHandle.nullDevice
        try follower.run()
        usleep(500_000)
        type(c, "echo during-follow")
        c.write("exit\r")
        c.drain(timeout: 5)
        // The follower ends by itself once the session's end is recorded.
        let deadline = Date().addingTimeInterval(10)
        while follower.isRunning && Date() < deadline { usleep(100_000) }
        #expect(!follower.isRunning)
        if follower.isRunning { kill(follower.processIdentifier, SIGKILL) }
        let seen = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(seen.contains("before-follow") && seen.contains("during-follow"), "\(seen)")
    }

    @Test func replayKeysPauseAndQuitOnATerminal() throws {
        let id = try recordedSession("keysme")
        // script gives the replay a terminal; at speed 0.001 the session would take hours to play.
        let player = Process()
        player.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        player.arguments = ["-qec", "\(h.binary) sessions replay \(id) --speed 0.001 --config \(h.config)", "/dev/null"]
        let input = Pipe(), out = Pipe()
        player.standardInput = input
        player.standardOutput = out
        try player.run()
        usleep(700_000)
        input.fileHandleForWriting.write(Data(" ".utf8))   // pause
        usleep(300_000)
        input.fileHandleForWriting.write(Data("q".utf8))   // quit
        let deadline = Date().addingTimeInterval(5)
        while player.isRunning && Date() < deadline { usleep(100_000) }
        #expect(!player.isRunning, "q did not end the replay")
        if player.isRunning { kill(player.processIdentifier, SIGKILL) }
        #expect(player.terminationStatus == 0)
    }
}
