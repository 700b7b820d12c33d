import Foundation
import Store
import Testing

/// Watched files over sshd (role e2e-snapshot): every change is kept as before- and
/// after-images, shown as a diff, undone when its check fails, and can be rolled back later.
extension SessionTests {
    static let snapRoot = "/tmp/jitsh-snap"
    static let appConf = "/tmp/jitsh-snap/conf/app.conf"
    static let original = "listen 80\nserver_name example\n"

    /// The watched tree as each test starts: owned by the test user, app.conf mode 0640.
    func snapshotFixture(extra: [String: String] = [:]) throws {
        try? FileManager.default.removeItem(atPath: SessionTests.snapRoot)
        for dir in ["conf", "ask", "plain", "outside"] {
            try FileManager.default.createDirectory(atPath: SessionTests.snapRoot + "/" + dir, withIntermediateDirectories: true)
        }
        var files = ["conf/app.conf": SessionTests.original, "ask/a.conf": "ok\n", "plain/old": "old notes\n", "outside/target": "not watched\n"]
        files.merge(extra) { $1 }
        for (name, text) in files { try Data(text.utf8).write(to: URL(fileURLWithPath: SessionTests.snapRoot + "/" + name)) }
        // The user's own group: a restore made with the user's rights can give every owner back.
        try Harness.run("/bin/chown", ["-R", Harness.user + ":", SessionTests.snapRoot])
        chmod(SessionTests.appConf, 0o640)
    }

    func mode(_ path: String) -> Int {
        var st = stat()
        return lstat(path, &st) == 0 ? Int(st.st_mode & 0o7777) : -1
    }

    func markers(_ frames: [Frame], _ event: String) -> [[String: Any]] {
        frames.filter { $0.kind == .marker }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.data)) as? [String: Any] }
            .filter { $0["event"] as? String == event }
    }

    func verify(_ id: String) throws -> String {
        let (status, text) = try Harness.execute(h.binary, ["sessions", "verify", "--config", h.config, id])
        #expect(status == 0, "\(text)")
        return text
    }

    @Test func aSedEditWhoseCheckFailsIsRestoredByteForByteAndModeForMode() throws {
        try h.grant(role: "e2e-snapshot")
        try snapshotFixture()
        let (client, c) = try shell()
        _ = client
        _ = type(c, "chmod 600 \(SessionTests.appConf)")
        #expect(mode(SessionTests.appConf) == 0o600)
        _ = type(c, "chmod 640 \(SessionTests.appConf)")
        _ = type(c, "sed -i s/80/BROKEN/ \(SessionTests.appConf)", expect: SessionTests.phrasePrompt)
        let after = answer(c, "yes")
        #expect(after.contains("jitsh: restored 1 watched file as before this line: the check `/bin/sh -c ! grep -rq BROKEN /tmp/jitsh-snap/conf` exited with status 1"), "\(after)")
        c.write("exit\r")
        c.drain(timeout: 5)
        #expect(contents(SessionTests.appConf) == SessionTests.original)
        #expect(mode(SessionTests.appConf) == 0o640)
        let recorded = try h.lastSession()
        let snapshots = markers(recorded.frames, "snapshot")
        let diff = snapshots.last?["diff"] as? String ?? ""
        #expect(diff.contains("--- a/tmp/jitsh-snap/conf/app.conf\n+++ b/tmp/jitsh-snap/conf/app.conf\n@@ -1,2 +1,2 @@\n-listen 80\n+listen BROKEN\n server_name example\n"), "\(diff)")
        #expect(markers(recorded.frames, "snapshot-restored").count == 1)
        let restores = try events("snapshot-restore")
        #expect(restores.count == 1 && restores.first?.decision == "restored", "\(restores)")
        #expect(try events("snapshot-check").map(\.decision) == ["pass", "pass", "fail"])
        // The chmod lines are images too: each one, and the sed, chained and covered by the signature.
        #expect(try verify(recorded.session.id).contains("3 snapshot images"))
        // The images are in the store, which only jitsh's group reaches: not the person.
        let direct = try Harness.execute("/usr/sbin/runuser", ["-u", Harness.user, "--", "/bin/cat", h.storePath])
        #expect(direct.status != 0 && direct.output.contains("Permission denied"), "\(direct.output)")
    }

    @Test func aGoodEditIsKeptAndItsDiffShownBySessionsShow() throws {
        try h.grant(role: "e2e-snapshot")
        try snapshotFixture()
        let run = try h.connect().exec("echo 'include extra;' >> \(SessionTests.appConf)")
        #expect(run.exitStatus == 0, "\(run.errorText)")
        #expect(contents(SessionTests.appConf) == SessionTests.original + "include extra;\n")
        let id = try h.lastSession().session.id
        let (status, shown) = try Harness.execute(h.binary, ["sessions", "show", "--config", h.config, id])
        #expect(status == 0)
        #expect(shown.contains("snapshot: modified /tmp/jitsh-snap/conf/app.conf (+1 −0 lines)"), "\(shown)")
        #expect(shown.contains("      @@ -1,2 +1,3 @@\n       listen 80\n       server_name example\n      +include extra;"), "\(shown)")
        #expect(try events("snapshot-check").map(\.decision) == ["pass"])
        #expect(try events("snapshot-restore").isEmpty)
        _ = try verify(id)
    }

    @Test func rollbackOfALineOfASessionRefusedAfterALaterChangeAndDryRun() throws {
        try h.grant(role: "e2e-snapshot")
        try snapshotFixture()
        let (client, c) = try shell()
        _ = client
        _ = type(c, "echo 'gzip on;' >> \(SessionTests.appConf)")
        _ = type(c, "rm \(SessionTests.snapRoot)/plain/old", expect: SessionTests.phrasePrompt)
        answer(c, "yes")
        #expect(!exists(SessionTests.snapRoot + "/plain/old"))
        c.write("exit\r")
        c.drain(timeout: 5)
        let id = String(try h.lastSession().session.id.prefix(8))
        // The dry run shows what would go back, and changes nothing.
        let dry = try h.connect().exec("rollback \(id) --line 1 --dry-run")
        #expect(dry.exitStatus == 0, "\(dry.errorText)")
        #expect(dry.text.contains("would restore /tmp/jitsh-snap/conf/app.conf"), "\(dry.text)")
        #expect(dry.text.contains("  -gzip on;"), "\(dry.text)")
        #expect(contents(SessionTests.appConf) == SessionTests.original + "gzip on;\n")
        // A line: the deleted file comes back, with its mode.
        let line = try h.connect().exec("rollback \(id) --line 2")
        #expect(line.exitStatus == 0, "\(line.errorText)")
        #expect(line.text.contains("restored /tmp/jitsh-snap/plain/old as before line 2 of session \(id)"), "\(line.text)")
        #expect(contents(SessionTests.snapRoot + "/plain/old") == "old notes\n")
        // Changed again since the session: refused, nothing written; --force restores it.
        try Data("edited by hand\n".utf8).write(to: URL(fileURLWithPath: SessionTests.appConf))
        let refused = try h.connect().exec("rollback \(id)")
        #expect(refused.exitStatus == 1)
        #expect(refused.errorText.contains("refused: /tmp/jitsh-snap/conf/app.conf changed again since session \(id) left it"), "\(refused.errorText)")
        #expect(contents(SessionTests.appConf) == "edited by hand\n")
        let forced = try h.connect().exec("rollback \(id) --force")
        #expect(forced.exitStatus == 0, "\(forced.errorText)")
        #expect(forced.text.contains("already as before session \(id): /tmp/jitsh-snap/plain/old"), "\(forced.text)")
        #expect(contents(SessionTests.appConf) == SessionTests.original)
        #expect(mode(SessionTests.appConf) == 0o640)
        let audit = try h.store().auditEvents(session: try h.store().sessionIDs(matching: id)[0]).map(\.kind)
        #expect(audit.filter { $0 == "rollback" }.count == 2 && audit.contains("rollback-refused"), "\(audit)")
        // Another identity may not roll it back.
        try h.grant(role: "e2e-snapshot", identity: "alice")
        let other = try h.connect(key: h.sharedKey).exec("rollback \(id) --line 1")
        #expect(other.exitStatus == 1)
        #expect(other.errorText.contains("alice may not roll back a session of jitsh-e2e"), "\(other.errorText)")
    }

    @Test func theSizeLimitIsRefusedCleanly() throws {
        try h.grant(role: "e2e-snapshot")
        try snapshotFixture()
        let big = SessionTests.snapRoot + "/plain/big"
        let run = try h.connect().exec("head -c 100000 /dev/zero > \(big)")
        #expect(run.errorText.contains("jitsh: the line's changes to 1 watched file were undone: the watched files after it cannot be kept"), "\(run.errorText)")
        #expect(!exists(big))
        #expect(try events("snapshot-limit").count == 1)
        // Each image fits, the session's total does not: the second line is undone.
        let (client, c) = try shell()
        _ = client
        _ = type(c, "head -c 30000 /dev/zero > \(big)")
        #expect(exists(big))
        let second = type(c, "head -c 30000 /dev/urandom >> \(big)")
        #expect(second.contains("were undone: keeping their images would pass this session's snapshot limit of 64 KiB"), "\(second)")
        #expect((try? Data(contentsOf: URL(fileURLWithPath: big)))?.count == 30000)
        c.write("exit\r")
        c.drain(timeout: 5)
        try? FileManager.default.removeItem(atPath: big)
        // Watched files beyond the limit: nothing runs, with one line saying why.
        try Data(count: 100_000).write(to: URL(fileURLWithPath: big))
        let refused = try h.connect().exec("echo never")
        #expect(refused.exitStatus == 126)
        #expect(refused.text.isEmpty)
        #expect(refused.errorText.contains("jitsh: nothing ran: the watched files cannot be kept"), "\(refused.errorText)")
    }

    @Test func askOffersTheRestoreWithATypedPhrase() throws {
        try h.grant(role: "e2e-snapshot")
        try snapshotFixture()
        let (client, c) = try shell()
        _ = client
        let asked = type(c, "echo BROKEN >> \(SessionTests.snapRoot)/ask/a.conf", expect: "keeps the change (60 s): ")
        #expect(asked.contains("jitsh: the check `/bin/sh -c ! grep -rq BROKEN /tmp/jitsh-snap/ask` exited with status 1."), "\(asked)")
        #expect(answer(c, "restore").contains("restored 1 watched file as before this line"))
        #expect(contents(SessionTests.snapRoot + "/ask/a.conf") == "ok\n")
        _ = type(c, "echo BROKEN >> \(SessionTests.snapRoot)/ask/a.conf", expect: "keeps the change (60 s): ")
        #expect(answer(c, "no").contains("the change is kept"))
        #expect(contents(SessionTests.snapRoot + "/ask/a.conf") == "ok\nBROKEN\n")
        c.write("exit\r")
        c.drain(timeout: 5)
        #expect(try events("snapshot-kept").count == 1 && events("snapshot-restore").count == 1)
    }

    /// A shared account (--as alice): the images are alice's, and so is the rollback of them.
    /// A line that puts a link where a watched file was is undone by replacing the link, never
    /// by writing through it to the file outside.
    @Test func aSharedAccountRollsBackItsOwnLineAndNoLinkIsFollowed() throws {
        try h.grant(role: nil)
        try h.grant(role: "e2e-snapshot", identity: "alice")
        try snapshotFixture()
        let outside = SessionTests.snapRoot + "/outside/target"
        let client = try h.connect(key: h.sharedKey)
        let c = try client.shell(rows: 24, cols: 80)
        #expect(c.wait(for: "] ~$ "), "no prompt: \(c.text)")
        _ = type(c, "rm \(SessionTests.appConf)", expect: SessionTests.phrasePrompt)
        answer(c, "yes")
        _ = type(c, "ln -s \(outside) \(SessionTests.appConf)")
        c.write("exit\r")
        c.drain(timeout: 5)
        let recorded = try h.lastSession()
        #expect(recorded.session.identity == "alice")
        let images = try h.store().images(session: recorded.session.id)
        #expect(images.map(\.path) == [SessionTests.appConf, SessionTests.appConf], "\(images)")
        #expect(images.first?.after == nil && images.last?.after?.kind == .symlink, "\(images)")
        let id = String(recorded.session.id.prefix(8))
        let back = try h.connect(key: h.sharedKey).exec("rollback \(id)")
        #expect(back.exitStatus == 0, "\(back.errorText)")
        #expect(contents(SessionTests.appConf) == SessionTests.original && mode(SessionTests.appConf) == 0o640)
        #expect(contents(outside) == "not watched\n")
        var st = stat()
        #expect(lstat(SessionTests.appConf, &st) == 0 && st.st_mode & S_IFMT == S_IFREG)
        try h.grant(role: nil, identity: "alice")
    }
}
