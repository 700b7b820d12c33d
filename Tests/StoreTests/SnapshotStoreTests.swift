import Foundation
import GRDB
@testable import Store
import Testing

/// Snapshot images: the diff (pure, checked against diff -u), the changes between two states,
/// the report a marker carries, the chain that verification covers, and rollback plans.
@Suite struct SnapshotStoreTests {
    // MARK: Diff

    @Test(arguments: [
        ("a\nb\nc\n", "a\nB\nc\n", "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"),
        ("", "new\n", "@@ -0,0 +1 @@\n+new\n"),
        ("gone\n", "", "@@ -1 +0,0 @@\n-gone\n"),
        ("a\n", "a", "@@ -1 +1 @@\n-a\n+a\n\\ No newline at end of file\n"),
        ("same\n", "same\n", ""),
        ("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\n2\n3\n4\n5\n6\n7\n8\n9\nten\n", "@@ -7,4 +7,4 @@\n 7\n 8\n 9\n-10\n+ten\n"),
    ])
    func diffs(old: String, new: String, hunks: String) throws {
        let d = try #require(UnifiedDiff.diff(Array(old.utf8), Array(new.utf8)))
        #expect(d.hunks == hunks)
    }

    /// The hunks are those GNU diff -u prints, for edits of the kinds people make to configuration.
    @Test(arguments: [
        ("server {\n  listen 80;\n  root /srv;\n}\n", "server {\n  listen 8080;\n  root /srv;\n  gzip on;\n}\n"),
        ((1...40).map { "line \($0)\n" }.joined(), (1...40).map { $0 == 5 || $0 == 30 ? "changed \($0)\n" : "line \($0)\n" }.joined()),
        ("x\n", "x\ny\nz\n"),
    ])
    func diffsAreThoseOfDiffU(old: String, new: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-diff-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try old.write(to: dir.appendingPathComponent("a"), atomically: true, encoding: .utf8)
        try new.write(to: dir.appendingPathComponent("b"), atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        p.arguments = ["-u", dir.appendingPathComponent("a").path, dir.appendingPathComponent("b").path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let expected = text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(2).joined(separator: "\n")
        #expect(UnifiedDiff.diff(Array(old.utf8), Array(new.utf8))?.hunks == expected)
    }

    @Test func aDiffBeyondItsBoundSaysSoAndBinaryIsNotText() {
        let old = Array((0..<3000).map { "a\($0)\n" }.joined().utf8), new = Array((0..<3000).map { "b\($0)\n" }.joined().utf8)
        #expect(UnifiedDiff.diff(old, new) == nil)
        #expect(UnifiedDiff.diff(old, new, maxCells: 10_000_000) != nil)
        #expect(!UnifiedDiff.isText([0x7F, 0x45, 0x4C, 0x46, 0, 1]) && !UnifiedDiff.isText([0xFF, 0xFE]) && UnifiedDiff.isText(Array("é\n".utf8)))
    }

    // MARK: Changes and reports

    static func file(_ text: String, mode: UInt32 = 0o644, uid: UInt32 = 0) -> FileImage {
        FileImage(kind: .file, mode: mode, uid: uid, gid: 0, size: text.utf8.count, digest: SnapshotImage.digest(Array(text.utf8)))
    }

    @Test func changesBetweenTwoStates() {
        let dir = FileImage(kind: .directory, mode: 0o755, uid: 0, gid: 0)
        let before = ["/e/a": Self.file("a\n"), "/e/b": Self.file("b\n"), "/e/c": Self.file("c\n"), "/e/d": dir]
        let after = ["/e/a": Self.file("A\n"), "/e/b": Self.file("b\n", mode: 0o600), "/e/d": dir, "/e/n": Self.file("n\n"),
                     "/e/l": FileImage(kind: .symlink, mode: 0o777, uid: 0, gid: 0, link: "/etc/shadow")]
        let changes = FileChange.between(before, after)
        #expect(changes.map(\.path) == ["/e/a", "/e/b", "/e/c", "/e/l", "/e/n"])
        #expect(changes.map(\.kind) == [.modified, .attributes, .deleted, .created, .created])
        let contents = Dictionary(uniqueKeysWithValues: ["a\n", "A\n", "b\n", "c\n", "n\n"].map { (SnapshotImage.digest(Array($0.utf8)), Array($0.utf8)) })
        let report = SnapshotReport.build(changes, contents: contents)
        #expect(report.summaries == ["modified /e/a (+1 −1 lines)", "mode/owner changed /e/b (mode 0644 → 0600)", "deleted /e/c (+0 −1 lines, file, 2 bytes)",
                                     "created /e/l (symlink)", "created /e/n (+1 −0 lines, file, 2 bytes)"])
        #expect(report.diff == "--- a/e/a\n+++ b/e/a\n@@ -1 +1 @@\n-a\n+A\n--- a/e/c\n+++ /dev/null\n@@ -1 +0,0 @@\n-c\n--- /dev/null\n+++ b/e/n\n@@ -0,0 +1 @@\n+n\n")
        // Binary content: a summary line only.
        let bin = FileChange(path: "/e/bin", before: Self.file("\u{0}1"), after: Self.file("\u{0}22"))
        let b = SnapshotReport.build([bin], contents: [Self.file("\u{0}1").digest: [0, 0x31], Self.file("\u{0}22").digest: [0, 0x32, 0x32]])
        #expect(b.summaries == ["modified /e/bin (binary, 2 → 3 bytes)"] && b.diff.isEmpty)
        // A name with control characters is shown, not sent to the terminal.
        #expect(!FileChange(path: "/e/\u{1B}[2J", before: nil, after: Self.file("")).summary().contains("\u{1B}"))
    }

    // MARK: The chain

    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-snap-\(UUID().uuidString.prefix(8))")
    let key = SigningKey(privateKey: .init())
    let start: Int64 = 1_790_000_000_000_000

    /// A signed session whose one line changed /e/a; its marker names the image chain's head.
    func recorded(_ store: SQLiteStore, marker: Bool = true) throws -> String {
        let id = "snap1"
        try store.startSession(SessionRecord(id: id, identity: "alice", login: "alice", role: "web", grantID: nil, host: "prod-1",
                                             client: "10.0.0.1", mode: "exec", command: "", startedAt: start),
                               event: AuditEvent(at: start, sessionID: id, identity: "alice", host: "prod-1", kind: .sessionStart))
        let change = FileChange(path: "/e/a", before: Self.file("a\n"), after: Self.file("A\n"))
        let (head, count) = try store.appendImages(session: id, line: 1, at: start + 5, changes: [change],
                                                   contents: [Self.file("a\n").digest: Array("a\n".utf8), Self.file("A\n").digest: Array("A\n".utf8)])
        var raw: [UInt8] = []
        if marker {
            let m = JSONText.object(["event": .string("snapshot"), "images": .string(SnapshotImage.hex(head)), "count": .int(Int(count))]).text
            FrameCodec.encode(Frame(.marker, offset: 10, data: Array(m.utf8)), into: &raw)
        }
        FrameCodec.encode(Frame(.output, offset: 11, data: Array("ok\n".utf8)), into: &raw)
        let c = Chunk(sessionID: id, seq: 0, startedAt: start, frames: marker ? 2 : 1, rawBytes: raw.count, data: Deflate.compress(raw),
                      previousHash: Chunk.genesis(id))
        try store.appendChunk(c)
        var e = SessionEnd(sessionID: id, endedAt: start + 1_000_000, exitReason: "exit", exitStatus: 0, chunks: 1, chainHead: c.hash)
        e.signature = Array(try key.sign(e.signedMessage))
        e.keyID = key.id
        try store.endSession(e, event: AuditEvent(at: e.endedAt, sessionID: id, identity: "alice", host: "prod-1", kind: .sessionEnd))
        return id
    }

    func store() throws -> SQLiteStore {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return try SQLiteStore(path: dir.appendingPathComponent("jitsh.db").path, create: true)
    }

    func tamper(_ sql: String) throws {
        let q = try DatabaseQueue(path: dir.appendingPathComponent("jitsh.db").path)
        try q.write { db in
            for t in ["snapshot_images_append_only_update", "snapshot_contents_append_only_update"] { try db.execute(sql: "DROP TRIGGER IF EXISTS \(t)") }
            try db.execute(sql: sql)
        }
    }

    @Test(arguments: [
        ("", ""),
        ("UPDATE snapshot_images SET path = '/e/other'", "altered snapshot image 0"),
        ("UPDATE snapshot_contents SET data = x'00'", "the content of snapshot image 0 (/e/a) is missing or altered"),
        ("DELETE FROM snapshot_images", "the snapshot images (0) are not the ones the recording names (1)"),
        ("INSERT INTO snapshot_images SELECT session_id, 1, line, at, path, before, after, hash, hash FROM snapshot_images",
         "the snapshot images (2) are not the ones the recording names (1)"),
    ])
    func verificationCoversTheImages(sql: String, problem: String) throws {
        let s = try store()
        defer { try? FileManager.default.removeItem(at: dir) }
        let id = try recorded(s)
        if !sql.isEmpty { try tamper(sql) }
        let v = try s.verify(id, key: key.publicKey)
        if problem.isEmpty {
            #expect(v.ok && v.summary.hasPrefix("1 chunks, 1 snapshot images, hash chain"), "\(v)")
            #expect(try s.imageContent(session: id, digest: Self.file("a\n").digest) == Array("a\n".utf8))
        } else {
            #expect(v.problems.contains { $0.hasPrefix(problem) }, "\(v.problems)")
        }
    }

    @Test func imagesTheRecordingDoesNotNameFailVerification() throws {
        let s = try store()
        defer { try? FileManager.default.removeItem(at: dir) }
        let id = try recorded(s, marker: false)
        #expect(try s.verify(id, key: key.publicKey).problems == ["the snapshot images (1) are not the ones the recording names (0)"])
    }

    // MARK: Rollback plans

    @Test func aPlanRestoresWhatTheRangeLeftAndRefusesWhatChangedSince() {
        func image(_ seq: Int64, _ line: Int, _ path: String, _ b: FileImage?, _ a: FileImage?) -> SnapshotImage {
            SnapshotImage(sessionID: "s", seq: seq, line: line, at: 0, path: path, before: b, after: a, previousHash: [])
        }
        let images = [image(0, 1, "/e/a", Self.file("1\n"), Self.file("2\n")), image(1, 2, "/e/b", nil, Self.file("new\n")),
                      image(2, 3, "/e/a", Self.file("2\n"), Self.file("3\n")), image(3, 3, "/e/c", Self.file("c\n"), nil)]
        let now: [String: FileImage] = ["/e/a": Self.file("3\n"), "/e/b": Self.file("edited\n")]
        let plan = RollbackPlan(images: images) { now[$0] }
        #expect(plan.items.map(\.path) == ["/e/a", "/e/b", "/e/c"])
        #expect(plan.items.map(\.state) == [.ready, .changedSince, .ready])
        #expect(plan.items[0].before == Self.file("1\n") && plan.items[0].line == 1)
        let line3 = RollbackPlan(images: images.filter { $0.line == 3 }) { now[$0] }
        #expect(line3.items.map(\.state) == [.ready, .ready])
        let undone = RollbackPlan(images: images.filter { $0.line == 3 }) { ["/e/a": Self.file("2\n"), "/e/c": Self.file("c\n")][$0] }
        #expect(undone.items.map(\.state) == [.alreadyBefore, .alreadyBefore] && undone.refused.isEmpty)
    }
}
