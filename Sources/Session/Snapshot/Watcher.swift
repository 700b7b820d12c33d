import Foundation
import Policy
import Store
#if canImport(Glibc)
import Glibc
#endif

/// The watched paths as they are at one moment: each one's image, and the content of every
/// file by digest (shared with the state before, so an unchanged file costs no copy).
public struct WatchedState: Sendable {
    public var images: [String: FileImage] = [:]
    public var contents: [String: [UInt8]] = [:]
    /// Bytes of distinct contents.
    public var bytes = 0
    /// Set when the walk stopped early: more entries than it may hold, or more content than the limit.
    public var overflow: String?
    /// What `lstat` said of each path: a later walk compares these before reading anything.
    var stamps: [String: Watcher.Stamp] = [:]
}

/// Knows the state of the watched paths from one line to the next. A walk is `lstat` calls only
/// (no symbolic link is followed, inside a watched directory or at its root); a file is read and
/// hashed again only when what `lstat` says of it changed, so unchanged files cost nothing but
/// the call. Reads are made with the person's own group, never with jitsh's.
public final class Watcher {
    public let roots: [String]
    let include: (String) -> Bool
    /// Bytes of content the state may hold (the role's snapshot limit).
    public let limit: Int
    public static let maxEntries = 100_000
    static let maxDepth = 64
    private(set) public var state = WatchedState()

    struct Stamp: Equatable {
        var dev: UInt64, ino: UInt64, size: Int64, mode: UInt32, uid: UInt32, gid: UInt32
        var mtime: Int, mtimeNS: Int, ctime: Int, ctimeNS: Int

        init(_ st: stat) {
            dev = UInt64(st.st_dev); ino = UInt64(st.st_ino); size = Int64(st.st_size); mode = st.st_mode; uid = st.st_uid; gid = st.st_gid
            mtime = st.st_mtim.tv_sec; mtimeNS = st.st_mtim.tv_nsec; ctime = st.st_ctim.tv_sec; ctimeNS = st.st_ctim.tv_nsec
        }
    }

    public init(roots: [String], limit: Int, include: @escaping (String) -> Bool) {
        self.roots = roots
        self.limit = limit
        self.include = include
    }

    /// Walks the roots again; the new state replaces the one kept.
    @discardableResult
    public func scan() -> WatchedState {
        var next = WatchedState()
        // Sized as the last walk was: growing three tables a thousand entries at a time costs more than the walk.
        next.images.reserveCapacity(state.images.count)
        next.stamps.reserveCapacity(state.stamps.count)
        next.contents.reserveCapacity(state.contents.count)
        for root in roots {
            walk(root) { path, dir, name, st in self.visit(path, dir, name, st, into: &next) }
            if next.overflow != nil { break }
        }
        state = next
        return next
    }

    /// The paths that are not as `before` saw them (by `lstat` alone, no content read): what a
    /// line changed when the state after it is too large to hold.
    public func changedPaths(since before: WatchedState) -> [String] {
        var now: [String: Stamp] = [:]
        for root in roots {
            walk(root) { path, _, _, st in
                if self.include(path) { now[path] = Stamp(st) }
                return now.count < Watcher.maxEntries
            }
        }
        return Set(now.keys).union(before.images.keys).filter { now[$0] == nil || now[$0] != before.stamps[$0] }.sorted()
    }

    /// Calls `body` for `root` and everything below it, in name order. Each directory is opened
    /// relative to its parent without following a link, so a link a line leaves is seen as a
    /// link and never walked through; above the root the path resolves as the administrator
    /// wrote it. `body` returns false to stop.
    func walk(_ root: String, _ body: (String, Int32, String, stat) -> Bool) {
        let base = PathName.base(root)
        let parent = open(base.isEmpty ? "/" : PathName.directory(root), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return }
        defer { close(parent) }
        var going = true
        func visit(_ dir: Int32, _ name: String, _ path: String, depth: Int) {
            var st = stat()
            guard going, fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
            going = body(path, dir, name, st)
            guard going, st.st_mode & S_IFMT == S_IFDIR, depth < Watcher.maxDepth else { return }
            let fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { return }
            guard let d = fdopendir(fd) else { close(fd); return }
            defer { closedir(d) }
            var names: [String] = []
            while let e = readdir(d) {
                let n = withUnsafePointer(to: e.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
                if n != "." && n != ".." { names.append(n) }
            }
            for n in names.sorted() { visit(fd, n, path == "/" ? "/" + n : path + "/" + n, depth: depth + 1) }
        }
        visit(parent, base.isEmpty ? "." : base, root, depth: 0)
    }

    /// One path of a scan; false stops the walk.
    private func visit(_ path: String, _ dir: Int32, _ name: String, _ st: stat, into next: inout WatchedState) -> Bool {
        let type = st.st_mode & S_IFMT
        guard include(path) else { return true }
        guard next.images.count < Watcher.maxEntries else {
            next.overflow = "more than \(Watcher.maxEntries) watched paths"
            return false
        }
        let stamp = Stamp(st)
        var image = FileImage(kind: .file, mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid, size: Int(st.st_size))
        switch type {
        case S_IFREG:
            if state.stamps[path] == stamp, let known = state.images[path], known.kind == .file, let bytes = state.contents[known.digest] {
                image.digest = known.digest
                add(image, bytes, path, &next)
            } else if let bytes = read(dir, name, expected: st, room: limit - next.bytes) {
                image.digest = SnapshotImage.digest(bytes)
                image.size = bytes.count
                add(image, bytes, path, &next)
            } else {
                next.overflow = next.overflow ?? "\(path) cannot be read or is larger than the room left under the snapshot limit"
                return false
            }
        case S_IFDIR:
            image.kind = .directory
            image.size = 0
            next.images[path] = image
        case S_IFLNK:
            image.kind = .symlink
            image.link = linkTarget(dir, name)
            next.images[path] = image
        default:
            // Devices, pipes and sockets have no content to keep.
            return true
        }
        next.stamps[path] = stamp
        return next.overflow == nil
    }

    private func add(_ image: FileImage, _ bytes: [UInt8], _ path: String, _ next: inout WatchedState) {
        if next.contents[image.digest] == nil {
            next.contents[image.digest] = bytes
            next.bytes += bytes.count
            if next.bytes > limit { next.overflow = "the watched files hold more than the snapshot limit (\(limit) bytes)" }
        }
        next.images[path] = image
    }

    /// The file's bytes, opened without following a link and only if it is still the file
    /// `lstat` saw; nil when it cannot be read or holds more than `room`.
    private func read(_ dir: Int32, _ name: String, expected: stat, room: Int) -> [UInt8]? {
        let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_ino == expected.st_ino, Int(st.st_size) <= room else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(Int(st.st_size))
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { break }
            out += buffer.prefix(n)
            if out.count > room { return nil }
        }
        return out
    }

    private func linkTarget(_ dir: Int32, _ name: String) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(dir, name, &buffer, buffer.count - 1)
        guard n >= 0 else { return "" }
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
