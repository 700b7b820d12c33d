import Foundation
import Posix
#if canImport(Glibc)
import Glibc
#endif

/// A session's signed end, kept beside the store when the store itself would not take it (full,
/// locked, gone): verification then names why the session ended instead of calling it killed.
/// One small file per session in `ends/` next to the database, group jitsh, 0640, taken when the
/// session starts (zeros until written) and removed once the store has its end.
public struct EndNote: Sendable, Equatable {
    public var end: SessionEnd
    /// Why the store could not take the end (the store's own message).
    public var cause: String

    public init(end: SessionEnd, cause: String) {
        self.end = end
        self.cause = cause
    }

    public static func directory(forStore path: String) -> String {
        ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("ends")
    }

    /// Session ids are jitsh's own (hex and dashes); anything else never becomes a file name.
    static func file(_ id: String, store: String) -> String? {
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isHexDigit || $0 == "-" }) else { return nil }
        return (directory(forStore: store) as NSString).appendingPathComponent(id + ".end")
    }

    var json: [String: Any] {
        var d: [String: Any] = ["session": end.sessionID, "ended_at": end.endedAt, "reason": end.exitReason, "chunks": end.chunks,
                                "chain_head": Hex.encode(end.chainHead), "key_id": end.keyID, "cause": cause]
        if let status = end.exitStatus { d["status"] = status }
        if let signature = end.signature { d["signature"] = Hex.encode(signature) }
        return d
    }

    /// Room for one session's note, taken on disk when the session starts: a disk that fills
    /// while the session records (the store and its `ends/` share it) would take neither the end
    /// nor a note made then, and the session would look killed. Until written, the file holds
    /// zeros, which `read` takes for no note.
    public final class Reservation: @unchecked Sendable {
        // Used by the session's own thread alone, once at its end.
        let fd: Int32
        let path: String
        static let size = 4096

        init(fd: Int32, path: String) {
            self.fd = fd
            self.path = path
        }

        /// The store took the end: the room goes.
        public func release() {
            JitshGroup.raised(.endNote) { _ = unlink(path) }
            close(fd)
        }
    }

    /// nil when the room cannot be taken (no store file, a read-only directory, a disk already
    /// full): the session then goes on as before, its note made only if needed.
    ///
    /// The room is made under a hidden name, locked (`flock`, held until the session closes it
    /// or dies) and only then renamed to its own: every `.end` file is locked from the moment it
    /// can be seen, so `sweep` tells a live session's room from a killed one's by the lock alone.
    public static func reserve(_ id: String, store: String) -> Reservation? {
        guard store.hasPrefix("/"), let path = file(id, store: store) else { return nil }
        let dir = directory(forStore: store)
        let making = (dir as NSString).appendingPathComponent("." + id + ".making")
        return JitshGroup.raised(.endNote) { () -> Reservation? in
            if mkdir(dir, 0o770) != 0 && errno != EEXIST { return nil }
            let fd = open(making, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o640)
            guard fd >= 0 else { return nil }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0, posix_fallocate(fd, 0, off_t(Reservation.size)) == 0,
                  rename(making, path) == 0 else {
                close(fd)
                unlink(making)
                return nil
            }
            return Reservation(fd: fd, path: path)
        }
    }

    /// Removes the rooms of sessions that died before they could end (SIGKILL, a crash, the host
    /// going down): a `.end` file of reserved zeros that no live session holds locked. A note
    /// (anything but the reserved zeros) stays, for the store to adopt or `sessions verify` to
    /// name. Half-made rooms go once they are a minute old and unlocked. The ids whose room went.
    @discardableResult
    public static func sweep(store: String, now: time_t = time(nil)) -> [String] {
        let dir = directory(forStore: store)
        return JitshGroup.raised(.endNote) { () -> [String] in
            var swept: [String] = []
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                let making = name.hasPrefix(".") && name.hasSuffix(".making")
                guard making || name.hasSuffix(".end") else { continue }
                let path = (dir as NSString).appendingPathComponent(name)
                let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
                guard fd >= 0 else { continue }
                defer { close(fd) }
                var st = stat()
                guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue }
                if making {
                    guard now - st.st_mtim.tv_sec >= 60 else { continue }
                } else {
                    // Re-read under the lock: the session may have written its note and gone in between.
                    guard st.st_size == Reservation.size, holdsOnlyZeros(fd) else { continue }
                }
                if unlink(path) == 0 && !making { swept.append(String(name.dropLast(4))) }
            }
            return swept
        }
    }

    private static func holdsOnlyZeros(_ fd: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: Reservation.size)
        var at = 0
        while at < buffer.count {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + at, $0.count - at, off_t(at)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            at += n
        }
        return at == Reservation.size && buffer.allSatisfy { $0 == 0 }
    }

    /// Removes the note of a session whose end the store now holds.
    public static func remove(_ id: String, store: String) {
        guard let path = file(id, store: store) else { return }
        JitshGroup.raised(.endNote) { _ = unlink(path) }
    }

    /// Writes the note (replacing none: a session ends once), into the room `reservation` took
    /// when there is one. Throws what stopped it.
    public func write(store: String, reservation: Reservation? = nil) throws {
        // A store with no file (in memory) has no directory beside it: never the working one.
        guard store.hasPrefix("/") else { throw StoreError(.refused, "the store \(store) has no directory for end notes") }
        guard let path = EndNote.file(end.sessionID, store: store) else { throw StoreError(.refused, "not a session id: \(end.sessionID)") }
        let dir = EndNote.directory(forStore: store)
        let bytes = Array(try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])) + [0x0A]
        let fd: Int32
        if let reservation {
            fd = reservation.fd
        } else {
            fd = try JitshGroup.raised(.endNote) { () throws(StoreError) in
                if mkdir(dir, 0o770) != 0 && errno != EEXIST {
                    throw StoreError(.permission, "cannot create \(dir): \(String(cString: strerror(errno)))")
                }
                return open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o640)
            }
        }
        guard fd >= 0 else { throw StoreError(.permission, "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var at = 0
        while at < bytes.count {
            let n = bytes[at...].withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(at)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw StoreError(.full, "cannot write \(path): \(String(cString: strerror(errno)))") }
            at += n
        }
        // The reserved zeros past the note would make it unreadable as JSON.
        guard ftruncate(fd, off_t(bytes.count)) == 0, fsync(fd) == 0 else {
            throw StoreError(.full, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The note left for a session, if there is one and it parses.
    public static func read(_ id: String, store: String) -> EndNote? {
        guard let path = file(id, store: store), let data = JitshGroup.raised(.endNote, { FileManager.default.contents(atPath: path) }),
              data.count < 64 << 10,
              let d = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              d["session"] as? String == id, let endedAt = (d["ended_at"] as? NSNumber)?.int64Value,
              let reason = d["reason"] as? String, let chunks = (d["chunks"] as? NSNumber)?.int64Value,
              let head = (d["chain_head"] as? String).flatMap(Hex.decode), let cause = d["cause"] as? String else { return nil }
        let end = SessionEnd(sessionID: id, endedAt: endedAt, exitReason: reason, exitStatus: (d["status"] as? NSNumber)?.intValue,
                             chunks: chunks, chainHead: head, signature: (d["signature"] as? String).flatMap(Hex.decode),
                             keyID: d["key_id"] as? String ?? "")
        return EndNote(end: end, cause: cause)
    }
}

enum Hex {
    static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let u = Array(text.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(u.count / 2)
        for i in stride(from: 0, to: u.count, by: 2) {
            guard let hi = nibble(u[i]), let lo = nibble(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }
}
