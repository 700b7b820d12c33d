import Foundation
@testable import Store
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The end-note rooms sessions take at their start: a live session's stays, a killed one's goes.
@Suite struct EndNoteTests {
    let root: String
    var store: String { root + "/store.db" }
    var ends: String { EndNote.directory(forStore: store) }

    init() throws {
        root = NSTemporaryDirectory() + "jitsh-endnote-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    func names() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: ends)) ?? []).sorted() }

    func file(_ name: String, _ bytes: [UInt8], age: Int = 0) {
        let path = ends + "/" + name
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        if age > 0 {
            var times = [timespec(tv_sec: time(nil) - age, tv_nsec: 0), timespec(tv_sec: time(nil) - age, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        }
    }

    @Test func aLiveSessionsRoomStaysAndAKilledOnesGoes() throws {
        let live = try #require(EndNote.reserve("aaaa-1", store: store))
        let killed = try #require(EndNote.reserve("bbbb-2", store: store))
        #expect(names() == ["aaaa-1.end", "bbbb-2.end"], "a room is seen only under its own name, already locked")
        #expect(EndNote.sweep(store: store).isEmpty)
        // What the kernel does when the session dies: its descriptor, and so its lock, goes.
        close(killed.fd)
        #expect(EndNote.sweep(store: store) == ["bbbb-2"])
        #expect(names() == ["aaaa-1.end"])
        live.release()
        #expect(names().isEmpty)
    }

    @Test func aNoteIsNeverSweptNorARoomWrittenTo() throws {
        try FileManager.default.createDirectory(atPath: ends, withIntermediateDirectories: true)
        let end = SessionEnd(sessionID: "cccc-3", endedAt: 1, exitReason: "recording-failed", exitStatus: nil, chunks: 2,
                             chainHead: [1, 2, 3], signature: nil, keyID: "k")
        try EndNote(end: end, cause: "disk full").write(store: store)
        // A room of another size or not all zeros is a note (or part of one) left to verify.
        file("dddd-4.end", [UInt8](repeating: 0, count: 4095) + [1])
        file("eeee-5.end", [UInt8](repeating: 0, count: 100))
        let room = try #require(EndNote.reserve("ffff-6", store: store))
        try EndNote(end: SessionEnd(sessionID: "ffff-6", endedAt: 2, exitReason: "exit", exitStatus: 0, chunks: 1, chainHead: [9],
                                    signature: nil, keyID: "k"), cause: "locked").write(store: store, reservation: room)
        #expect(EndNote.sweep(store: store).isEmpty)
        #expect(names() == ["cccc-3.end", "dddd-4.end", "eeee-5.end", "ffff-6.end"])
        #expect(EndNote.read("ffff-6", store: store)?.cause == "locked")
    }

    @Test func aHalfMadeRoomGoesOnlyOnceItIsAMinuteOld() throws {
        try FileManager.default.createDirectory(atPath: ends, withIntermediateDirectories: true)
        file(".gggg-7.making", [])
        file(".hhhh-8.making", [], age: 61)
        file("iiii-9.end", [UInt8](repeating: 0, count: EndNote.Reservation.size))
        #expect(EndNote.sweep(store: store) == ["iiii-9"])
        #expect(names() == [".gggg-7.making"])
    }

    @Test func aStoreWithNoFileGetsNoNoteInTheWorkingDirectory() throws {
        let end = SessionEnd(sessionID: "abcd-1", endedAt: 1, exitReason: "exit", exitStatus: 0, chunks: 0, chainHead: [1], signature: nil, keyID: "k")
        #expect(throws: StoreError.self) { try EndNote(end: end, cause: "x").write(store: "memory") }
        #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/ends/abcd-1.end"))
    }
}
