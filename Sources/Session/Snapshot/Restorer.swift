import Foundation
import Policy
import Store
#if canImport(Glibc)
import Glibc
#endif

/// Puts watched paths back as images say, through directory descriptors opened without
/// following links from the watched root down: a link a line left inside a watched directory
/// is replaced, never written through. Runs with the rights of whoever runs it (the caller
/// drops jitsh's group first); content goes to a new file in the same directory and is renamed
/// over the path, so a reader sees the old file or the restored one, never half of it.
public struct Restorer {
    /// Watched roots: the walk from one to a path follows no link.
    public var roots: [String]

    public struct Target: Sendable {
        public var path: String
        /// nil: the path must not exist.
        public var image: FileImage?
        public var content: [UInt8]?

        public init(path: String, image: FileImage?, content: [UInt8]?) {
            self.path = path
            self.image = image
            self.content = content
        }
    }

    public struct Failure: Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var why: String
        public var description: String { "\(path): \(why)" }
    }

    public init(roots: [String]) { self.roots = roots }

    /// Restores every target: directories first (outermost first), then files and links, then
    /// what must go (innermost first). What could not be done is returned, one entry a path.
    public func restore(_ targets: [Target]) -> [Failure] {
        let depth = { (t: Target) in t.path.split(separator: "/").count }
        let dirs = targets.filter { $0.image?.kind == .directory }.sorted { depth($0) < depth($1) }
        let others = targets.filter { $0.image != nil && $0.image?.kind != .directory }
        let removals = targets.filter { $0.image == nil }.sorted { depth($0) > depth($1) }
        var failures: [Failure] = []
        for t in dirs + others + removals {
            if let why = apply(t) { failures.append(Failure(path: t.path, why: why)) }
        }
        return failures
    }

    /// What is at `path` now, read as a restore would reach it (nil: nothing there).
    public func current(_ path: String) -> FileImage? {
        guard let (dir, name) = parent(path) else { return nil }
        defer { close(dir) }
        var st = stat()
        guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        var image = FileImage(kind: .file, mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid, size: Int(st.st_size))
        switch st.st_mode & S_IFMT {
        case S_IFDIR: image.kind = .directory; image.size = 0
        case S_IFLNK:
            image.kind = .symlink
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlinkat(dir, name, &buffer, buffer.count - 1)
            image.link = n >= 0 ? String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        case S_IFREG:
            guard let bytes = Restorer.content(dir, name) else { return image }
            image.digest = SnapshotImage.digest(bytes)
            image.size = bytes.count
        default:
            image.link = "(a device, pipe or socket)"
        }
        return image
    }

    /// The bytes of the file at `path` now, reached as a restore would reach it.
    public func currentContent(_ path: String) -> [UInt8]? {
        guard let (dir, name) = parent(path) else { return nil }
        defer { close(dir) }
        return Restorer.content(dir, name)
    }

    static func content(_ dir: Int32, _ name: String) -> [UInt8]? {
        let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { return bytes }
            bytes += buffer.prefix(n)
        }
    }

    /// The directory holding `path`, opened from its watched root without following a link,
    /// and the last component. Above the root, the path is the administrator's and resolves as usual.
    func parent(_ path: String) -> (Int32, String)? {
        let name = PathName.base(path)
        guard !name.isEmpty, name != ".", name != ".." else { return nil }
        let directory = PathName.directory(path)
        let root = roots.filter { directory == $0 || directory.hasPrefix($0 == "/" ? "/" : $0 + "/") }.max { $0.count < $1.count }
        guard let root else {
            // A watched root itself (`/etc/hosts`) sits in a directory the administrator named;
            // a path under no root (the role no longer watches it) is not reached at all.
            guard roots.contains(path) else { errno = ENOENT; return nil }
            let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            return fd >= 0 ? (fd, name) : nil
        }
        var fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        for part in directory.dropFirst(root.count).split(separator: "/") {
            guard part != ".." && part != "." else { close(fd); return nil }
            let next = openat(fd, String(part), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(fd)
            guard next >= 0 else { return nil }
            fd = next
        }
        return (fd, name)
    }

    private func error(_ what: String) -> String { "\(what): \(String(cString: strerror(errno)))" }

    /// One target; nil when done.
    private func apply(_ t: Target) -> String? {
        guard let (dir, name) = parent(t.path) else {
            return error("its directory cannot be opened from a watched root without following links (does the role still watch it?)")
        }
        defer { close(dir) }
        var st = stat()
        let exists = fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0
        let type = exists ? st.st_mode & S_IFMT : 0
        guard let image = t.image else {
            guard exists else { return nil }
            return unlinkat(dir, name, type == S_IFDIR ? AT_REMOVEDIR : 0) == 0 ? nil : error("cannot remove it")
        }
        switch image.kind {
        case .directory:
            if exists && type != S_IFDIR {
                guard unlinkat(dir, name, 0) == 0 else { return error("cannot remove what replaced the directory") }
            }
            if !(exists && type == S_IFDIR) { guard mkdirat(dir, name, 0o700) == 0 else { return error("cannot create it") } }
            let fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { return error("cannot open it") }
            defer { close(fd) }
            return attributes(fd, image)
        case .symlink:
            let temporary = ".jitsh-restore-\(getpid())-\(name)"
            _ = unlinkat(dir, temporary, 0)
            guard symlinkat(image.link, dir, temporary) == 0 else { return error("cannot create the link") }
            if exists && type == S_IFDIR { _ = unlinkat(dir, name, AT_REMOVEDIR) }
            guard renameat(dir, temporary, dir, name) == 0 else { _ = unlinkat(dir, temporary, 0); return error("cannot put the link in place") }
            if fchownat(dir, name, image.uid, image.gid, AT_SYMLINK_NOFOLLOW) != 0 && getuid() == 0 { return error("cannot set its owner") }
            return nil
        case .file:
            guard let content = t.content else { return "its content is not stored" }
            // Only the mode or owner changed: set them on the file itself.
            if exists && type == S_IFREG, let now = current(t.path), now.digest == image.digest {
                let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
                guard fd >= 0 else { return error("cannot open it") }
                defer { close(fd) }
                return attributes(fd, image)
            }
            let temporary = ".jitsh-restore-\(getpid())-\(name)"
            _ = unlinkat(dir, temporary, 0)
            let fd = openat(dir, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return error("cannot create its new copy") }
            var written = 0
            while written < content.count {
                let n = content.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, content.count - written) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { let e = error("cannot write it"); close(fd); _ = unlinkat(dir, temporary, 0); return e }
                written += n
            }
            // Content and mode go back even when the owner cannot (only root gives files away).
            let owner = attributes(fd, image)
            _ = fsync(fd)
            close(fd)
            if exists && type == S_IFDIR { _ = unlinkat(dir, name, AT_REMOVEDIR) }
            guard renameat(dir, temporary, dir, name) == 0 else { _ = unlinkat(dir, temporary, 0); return error("cannot put it in place") }
            return owner
        }
    }

    /// Mode and owner as the image says; an owner only root may give is kept when not root.
    private func attributes(_ fd: Int32, _ image: FileImage) -> String? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return error("cannot read its attributes") }
        var owner: String?
        if st.st_uid != image.uid || st.st_gid != image.gid {
            if fchown(fd, image.uid, image.gid) != 0 { owner = error("its content and mode are back, but not its owner \(image.uid):\(image.gid)") }
        }
        // After chown, which clears setuid and setgid bits.
        guard fchmod(fd, mode_t(image.mode)) == 0 else { return error("cannot set its mode \(image.octalMode)") }
        return owner
    }
}
