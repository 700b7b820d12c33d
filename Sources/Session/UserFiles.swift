import Foundation
import ShellSyntax
#if canImport(Glibc)
import Glibc
#endif

/// Files a person names on the command line (`sessions export -o FILE`, `--policy-dir DIR`) are
/// theirs to read and write, not jitsh's: they are opened with the person's own groups (jitsh
/// raises its group only inside `JitshGroup.raised`), so it never reaches a file through a path
/// they chose. What is refused here is writing over jitsh's own files.
public enum UserFiles {
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// What must never be written over by a review command, with what each one is.
    public struct Protected: Sendable {
        var entries: [(path: String, what: String)] = []
        /// Device and inode of each protected file that exists, so a hard link is caught too.
        var inodes: [(dev: UInt64, ino: UInt64, what: String)] = []

        public init(_ items: [(path: String, what: String)]) {
            for (path, what) in items {
                entries.append((Protected.resolved(path), what))
                var st = stat()
                if stat(path, &st) == 0 { inodes.append((UInt64(st.st_dev), UInt64(st.st_ino), what)) }
            }
        }

        /// An installation's store (its directory: database, journal, spool), key, configuration and policies.
        public init(_ installation: Installation) {
            let c = installation.configuration
            self.init([((c.storePath as NSString).deletingLastPathComponent, "jitsh's store directory"), (c.storePath, "jitsh's store"),
                       (c.signingKeyPath, "jitsh's signing key"), (installation.configurationPath, "jitsh's configuration"),
                       (c.policiesPath, "jitsh's policies"), ("/etc/jitsh", "jitsh's configuration directory")])
        }

        static func resolved(_ path: String) -> String {
            guard let r = realpath(path, nil) else { return (path as NSString).standardizingPath }
            defer { free(r) }
            return String(cString: r)
        }

        /// What `path` (already resolved, or a file that exists) would overwrite, if anything.
        func clash(_ path: String, _ st: stat?) -> String? {
            if let (_, what) = entries.first(where: { $0.path == path }) { return "it is \(what)" }
            if let st, let hit = inodes.first(where: { $0.dev == UInt64(st.st_dev) && $0.ino == UInt64(st.st_ino) }) {
                return "it is \(hit.what) (a link to it)"
            }
            if let (_, what) = entries.first(where: { path.hasPrefix($0.path == "/" ? "/" : $0.path + "/") }) { return "it is in \(what)" }
            return nil
        }
    }

    /// Creates (or truncates) `path` for writing, mode 0600, with the person's own rights; refuses
    /// a symbolic link and anything `protected` names, in one line.
    public static func create(_ path: String, protected: Protected) throws -> FileHandle {
        let parent = Protected.resolved((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent)
        let target = (parent == "/" ? "" : parent) + "/" + (path as NSString).lastPathComponent
        var st = stat()
        let exists = lstat(path, &st) == 0
        if let what = protected.clash(target, exists ? st : nil) {
            throw Refusal("refusing to write \(Visible.text(path)): \(what); write the export somewhere else")
        }
        if exists && (st.st_mode & S_IFMT) == S_IFLNK {
            throw Refusal("refusing to write \(Visible.text(path)): it is a symbolic link; name the file itself")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Refusal("cannot write \(Visible.text(path)): \(String(cString: strerror(errno)))") }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }
}
