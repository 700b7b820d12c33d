import Foundation
import Store
import Testing

/// The store as a file other people's sessions share: bursts of logins, companions (-wal,
/// -shm) left with the wrong mode, a store that goes away before the session's end is written.
extension SessionTests {
    @Test func burstsOfFortyLoginsAreAllAdmitted() throws {
        try h.grant(role: "e2e-escapes")
        var refused: [String] = []
        for round in 0..<2 {
            let runs = try (0..<40).map { _ in try sshProcess("echo ok") }
            for (ssh, err) in runs {
                let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                ssh.waitUntilExit()
                if ssh.terminationStatus != 0 { refused.append("round \(round): \(ssh.terminationStatus) \(text)") }
            }
        }
        #expect(refused.isEmpty, "\(refused.count) of 80 refused: \(refused.prefix(3))")
    }

    @Test func aWALFileLeftWithAnotherModeIsMendedOrNamed() throws {
        try h.grant(role: "e2e-escapes")
        // The test's own connection keeps -wal and -shm in place while they are tampered with.
        let held = try h.store()
        _ = try held.allSessionIDs()
        let wal = h.storePath + "-wal"
        var db = stat(), st = stat()
        #expect(stat(h.storePath, &db) == 0 && stat(wal, &st) == 0)
        let user = getpwnam(Harness.user).pointee
        // The user's own file, left 0440 with their primary group: their next session mends it.
        #expect(chown(wal, user.pw_uid, user.pw_gid) == 0 && chmod(wal, 0o440) == 0)
        let mended = try h.connect().exec("echo mended")
        #expect(mended.text.contains("mended"), "\(mended.errorText)")
        #expect(stat(wal, &st) == 0 && st.st_mode & 0o777 == db.st_mode & 0o777 && st.st_gid == db.st_gid,
                "-wal is \(String(st.st_mode & 0o777, radix: 8)) group \(st.st_gid)")
        // Root's file: the session cannot mend it and says what would.
        #expect(chown(wal, 0, 0) == 0 && chmod(wal, 0o440) == 0)
        defer { chown(wal, user.pw_uid, db.st_gid); chmod(wal, db.st_mode & 0o777) }
        let refused = try h.connect().exec("echo refused")
        #expect(!refused.text.contains("refused"))
        #expect(refused.errorText.contains("jitsh.db-wal has mode 440") && refused.errorText.contains("chmod 660"), "\(refused.errorText)")
        _ = held
    }

    @Test func aStoreRemovedUnderASessionLeavesASignedEndNoteThatVerifyNames() throws {
        try h.grant(role: "e2e-escapes")
        let kept = h.storePath + ".kept"
        #expect(link(h.storePath, kept) == 0)
        let before = Set(try h.store().allSessionIDs())
        // The store goes away after the first chunks; the exec session goes on printing.
        let run = try sshProcess("for i in $(seq 1 30); do echo line $i; sleep 0.1; done")
        usleep(1_200_000)
        #expect(unlink(h.storePath) == 0)
        let deadline = Date().addingTimeInterval(15)
        while run.0.isRunning && Date() < deadline { usleep(50_000) }
        if run.0.isRunning { kill(run.0.processIdentifier, SIGKILL) }
        let stderr = String(decoding: run.1.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(rename(kept, h.storePath) == 0)
        #expect(stderr.contains("removed"), "\(stderr)")
        let id = try #require(Set(try h.store().allSessionIDs()).subtracting(before).first)
        #expect(try h.store().sessionEnd(id) == nil)
        let note = try #require(EndNote.read(id, store: h.storePath))
        #expect(note.end.exitReason == "recording-failed" && note.cause.contains("removed"), "\(note)")
        var st = stat()
        #expect(stat(EndNote.directory(forStore: h.storePath) + "/\(id).end", &st) == 0 && st.st_mode & 0o777 == 0o640)
        let verify = try Harness.execute(h.binary, ["sessions", "verify", id, "--config", h.config])
        #expect(verify.status != 0)
        #expect(verify.output.contains("the session ended (recording-failed) but the store could not take its end")
                && verify.output.contains("was removed while in use") && verify.output.contains("is signed and matches"), "\(verify.output)")
    }
}

extension SessionTests {
    /// A copy of the store in which one recording's overflow pages are zeroed: `verify --all`
    /// names that session and goes on to check every other one.
    @Test func verifyAllReportsACorruptRecordingAndChecksTheRest() throws {
        try h.grant(role: "e2e-escapes")
        let big = try h.connect().exec("python3 -c 'import os, base64; print(base64.b64encode(os.urandom(150000)).decode())'")
        #expect(big.exitStatus == 0)
        let bigID = try h.lastSession().session.id
        _ = try h.connect().exec("echo fine")
        let copied = try StoreCopy(of: h, "copy")
        defer { copied.remove() }
        let (copy, config) = (copied.path, copied.config)
        // Zero one page in the middle of the big recording's first chunk, as a bad sector would.
        let chunk = try #require(try SQLiteStore(path: copy).chunks(session: bigID).first)
        var file = try Data(contentsOf: URL(fileURLWithPath: copy))
        let probe = Data(chunk.data[8192..<8192 + 64])
        let at = try #require(file.range(of: probe)?.lowerBound)
        let page = at / 4096 * 4096
        file.replaceSubrange(page..<page + 4096, with: Data(count: 4096))
        try file.write(to: URL(fileURLWithPath: copy))
        let ids = try SQLiteStore(path: copy).allSessionIDs()
        let verify = try Harness.execute(h.binary, ["sessions", "verify", "--all", "--config", config])
        #expect(verify.status == 1)
        #expect(verify.output.contains("\(bigID) FAILED"), "\(verify.output.suffix(600))")
        #expect(verify.output.contains("of \(ids.count) sessions verified"), "\(verify.output.suffix(600))")
        // Every other session is still checked, and none of them is unreadable.
        for id in ids where id != bigID {
            #expect(verify.output.contains("\(id) ok") || verify.output.contains("\(id) FAILED: unsigned"), "\(id)")
        }
        #expect(verify.output.components(separatedBy: "cannot be read").count == 2, "\(verify.output.suffix(600))")
    }
}

extension SessionTests {
    /// The store's disk fills while a job streams: the job is stopped, what reached the user and
    /// was not recorded stays within 128 KiB, and the cause is said. jitsh runs as sshd runs it
    /// (the installed setgid binary as the user, SSH_ORIGINAL_COMMAND), on a copy of the store
    /// placed on a small file system of its own.
    @Test func aStoreWhoseDiskFillsStopsTheJobWithin128KiB() throws {
        try h.grant(role: "e2e-escapes")
        let mount = h.root.appendingPathComponent("full-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        let copy = mount + "/jitsh.db"
        try Harness.run("/usr/bin/python3", ["-c", "import sqlite3; s = sqlite3.connect('\(h.storePath)'); d = sqlite3.connect('\(h.root.path)/full.db'); s.backup(d); d.close()"])
        var st = stat()
        #expect(stat(h.root.path + "/full.db", &st) == 0)
        // Room for the store and about 3 MB of recording.
        let size = (Int(st.st_size) + (3 << 20) + 4095) / 4096 * 4096
        try Harness.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size),mode=0770", "tmpfs", mount])
        defer { _ = try? Harness.run("/bin/umount", ["-l", mount]) }
        try Harness.run("/bin/cp", [h.root.path + "/full.db", copy])
        let group = getgrnam("jitsh").pointee.gr_gid
        for path in [mount, copy] { chown(path, 0, group) }
        chmod(copy, 0o660)
        let config = "/etc/jitsh/e2e-\(getpid())-full.yaml"
        try (try String(contentsOfFile: h.config, encoding: .utf8)).replacingOccurrences(of: "store: \(h.storePath)", with: "store: \(copy)")
            .write(toFile: config, atomically: true, encoding: .utf8)
        defer { unlink(config) }
        // 40 MB that do not compress, far past the room left.
        let shownPath = mount + ".shown"
        defer { unlink(shownPath) }
        let (job, err) = try forcedCommand("python3 -c 'import os, sys\nfor _ in range(640): sys.stdout.buffer.write(os.urandom(65536)); sys.stdout.flush()'",
                                           config: config, shown: shownPath)
        let deadline = Date().addingTimeInterval(30)
        while job.isRunning && Date() < deadline { usleep(50_000) }
        if job.isRunning { kill(job.processIdentifier, SIGKILL) }
        job.waitUntilExit()
        usleep(200_000)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let shown = Int((try FileManager.default.attributesOfItem(atPath: shownPath)[.size] as? NSNumber)?.intValue ?? 0)
        #expect(job.terminationStatus != 0)
        #expect(stderr.contains("is full"), "\(stderr)")
        let store = try SQLiteStore(path: copy)
        let id = try #require(try store.latestSessionID())
        let recorded = try store.chunks(session: id).flatMap { $0.decodedFrames() ?? [] }.filter { $0.kind == .output }
            .reduce(0) { $0 + $1.data.count }
        #expect(shown < 40 << 20, "the job ran to its end: \(shown) bytes shown")
        #expect(recorded > 1 << 20, "only \(recorded) bytes recorded before the disk filled")
        print("disk full: \(shown) bytes shown, \(recorded) recorded, \(shown - recorded) unrecorded")
        // The relays read only while what is gathered, queued and committing stays within the
        // recorder's bound (128 KiB, one flush interval's worth), so no more can be shown.
        #expect(shown - recorded <= 128 << 10, "\(shown - recorded) bytes reached the user unrecorded (\(shown) shown, \(recorded) recorded)")
    }
}

/// A copy of the test bed's store in a directory of its own (root:jitsh 0770, the store 0660,
/// as installed) and a configuration naming it: for tests that fill or break a store.
struct StoreCopy {
    let dir: String, path: String, config: String

    /// `prepare` changes the copy as root before it gets the installed owner and modes.
    init(of h: Harness, _ name: String, prepare: (String) throws -> Void = { _ in }) throws {
        dir = h.root.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))").path
        path = dir + "/jitsh.db"
        config = "/etc/jitsh/e2e-\(getpid())-\(name).yaml"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Harness.run("/usr/bin/python3", ["-c", "import sqlite3; s = sqlite3.connect('\(h.storePath)'); d = sqlite3.connect('\(path)'); s.backup(d); d.close()"])
        try prepare(path)
        let group = getgrnam("jitsh").pointee.gr_gid
        chown(dir, 0, group)
        chmod(dir, 0o770)
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            chown(file, 0, group)
            chmod(file, 0o660)
        }
        try (try String(contentsOfFile: h.config, encoding: .utf8)).replacingOccurrences(of: "store: \(h.storePath)", with: "store: \(path)")
            .write(toFile: config, atomically: true, encoding: .utf8)
    }

    func remove() {
        unlink(config)
        try? FileManager.default.removeItem(atPath: dir)
    }
}

extension SessionTests {
    /// jitsh run as sshd runs it (the installed setgid binary as the user, SSH_ORIGINAL_COMMAND),
    /// everything it shows going to `shown` (a file never pushes back).
    func forcedCommand(_ command: String, config: String, shown: String) throws -> (Process, Pipe) {
        _ = FileManager.default.createFile(atPath: shown, contents: nil)
        let job = Process()
        job.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        job.arguments = ["-u", Harness.user, "--", "/usr/bin/env", "SSH_ORIGINAL_COMMAND=\(command)",
                         "SSH_CONNECTION=127.0.0.1 40000 127.0.0.1 22", h.binary, "--config", config]
        let err = Pipe()
        job.standardOutput = FileHandle(forWritingAtPath: shown)
        job.standardError = err
        job.standardInput = FileHandle.nullDevice
        try job.run()
        return (job, err)
    }

    /// Pages of the recordings' tables go bad while a job streams (a bad sector, a stray write):
    /// the next chunk cannot be committed, the job is stopped within a second, no more than
    /// 128 KiB reached the user unrecorded, and the session's end names the cause.
    @Test func chunkPagesCorruptedMidStreamStopTheJobWithin128KiB() throws {
        try h.grant(role: "e2e-escapes")
        let copied = try StoreCopy(of: h, "corrupt")
        defer { copied.remove() }
        let (dir, copy, config) = (copied.dir, copied.path, copied.config)
        // About 6 MB/s that do not compress, for up to 15 s.
        let (job, err) = try forcedCommand("python3 -c 'import os, sys, time\nfor _ in range(1500): sys.stdout.buffer.write(os.urandom(65536)); sys.stdout.flush(); time.sleep(0.01)'",
                                           config: config, shown: dir + "/shown")
        func shown() -> Int { (try? FileManager.default.attributesOfItem(atPath: dir + "/shown")[.size] as? NSNumber)?.intValue ?? 0 }
        let streaming = Date().addingTimeInterval(20)
        while shown() < 2 << 20 && job.isRunning && Date() < streaming { usleep(10_000) }
        // Once 2 MB streamed: the write lock is held so no chunk is half committed, every
        // page goes back into the file, the recording as committed is kept aside, the chunks'
        // pages are overwritten with noise, and a schema change makes every connection read
        // pages afresh. The time the lock is let go is when the store went bad.
        let corrupt = """
            import os, shutil, sqlite3, time
            path = "\(copy)"
            lock = sqlite3.connect(path, isolation_level=None, timeout=10)
            lock.execute("BEGIN IMMEDIATE")
            other = sqlite3.connect(path, isolation_level=None, timeout=10)
            busy, frames, copied = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert busy == 0 and frames == copied, (busy, frames, copied)
            pages = [p for (p,) in other.execute("SELECT pageno FROM dbstat WHERE name IN ('chunks', 'chunks_session_seq')")]
            other.close()
            shutil.copyfile(path, path + ".committed")
            with open(path, "r+b") as f:
                for p in pages:
                    f.seek((p - 1) * 4096)
                    f.write(os.urandom(4096))
            lock.execute("CREATE TABLE corrupted_here (x)")
            lock.execute("COMMIT")
            print(repr(time.time()))
            """
        let corrupter = Process()
        corrupter.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        corrupter.arguments = ["-c", corrupt]
        let when = Pipe(), why = Pipe()
        corrupter.standardOutput = when
        corrupter.standardError = why
        try corrupter.run()
        let deadline = Date().addingTimeInterval(20)
        while job.isRunning && Date() < deadline { usleep(10_000) }
        let ended = Date().timeIntervalSince1970
        if job.isRunning { kill(job.processIdentifier, SIGKILL) }
        job.waitUntilExit()
        corrupter.waitUntilExit()
        let corruptedAt = Double(String(decoding: when.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines))
        let corruptedAtText = String(decoding: why.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let at = try #require(corruptedAt, "the pages were not corrupted: \(corruptedAtText)")
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(job.terminationStatus != 0)
        #expect(stderr.contains("is corrupt"), "\(stderr)")
        #expect(ended - at < 1.5, "the job went on \(ended - at) s after the store went bad")
        let seen = shown()
        let committed = try SQLiteStore(path: copy + ".committed")
        let id = try #require(try committed.latestSessionID())
        let recorded = try committed.chunks(session: id).flatMap { $0.decodedFrames() ?? [] }.filter { $0.kind == .output }
            .reduce(0) { $0 + $1.data.count }
        print("corrupt pages: \(seen) bytes shown, \(recorded) recorded, \(seen - recorded) unrecorded, stopped \(ended - at) s after")
        #expect(recorded > 1 << 20, "only \(recorded) bytes recorded before the pages went bad")
        #expect(seen - recorded <= 128 << 10, "\(seen - recorded) bytes reached the user unrecorded (\(seen) shown, \(recorded) recorded)")
        // The end is in the store's own tables, which are not the ones that went bad.
        let store = try SQLiteStore(path: copy)
        #expect(try store.sessionEnd(id)?.exitReason == "recording-failed")
        let end = try store.auditEvents(session: id).last { $0.kind == "session-end" }
        #expect(end?.data.contains("is corrupt") == true, "\(String(describing: end))")
    }
}
