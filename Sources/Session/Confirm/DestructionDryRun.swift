import Crypto
import Foundation
import Policy
import ShellSyntax
#if canImport(Glibc)
import Glibc
#endif

/// The file system as a decision asks it: which files exist (through symlinks, as a write
/// follows them), which are directories.
struct LiveFiles: FileSystemFacts {
    func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

extension Session {
    /// What a line's truncations, overwrites, removals and in-place edits would destroy: each
    /// file that exists, with its size. Globs are expanded as bash would; nothing is changed.
    func destructionReport(_ destructions: [Destruction], shown: String) -> DryRunReport {
        let cwd = existingDirectory()
        let globber = Globber(cwd: cwd)
        var lines = ["dry run of: \(shown)"]
        var hasher = SHA256()
        var count = 0
        var bytes: Int64 = 0
        var found: [String] = []
        for d in destructions {
            let paths = (try? globber.expand(d.target)) ?? [Array(d.target.text.utf8)]
            for p in paths {
                let relative = String(decoding: p, as: UTF8.self)
                let path = relative.hasPrefix("/") ? relative : cwd + "/" + relative
                var st = stat()
                guard stat(path, &st) == 0 else { continue }
                let isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
                let size = isDirectory ? 0 : Int64(st.st_size)
                count += 1
                bytes += size
                if found.count < 20 {
                    found.append("    \(path)\(isDirectory ? "/" : "") (\(Format.bytes(size))): \(d.by) \(d.kind.rawValue) it")
                }
                hasher.update(data: Array(path.utf8) + [0] + withUnsafeBytes(of: st.st_size) { Array($0) }
                    + withUnsafeBytes(of: st.st_mtim.tv_sec) { Array($0) } + withUnsafeBytes(of: st.st_mtim.tv_nsec) { Array($0) })
            }
        }
        if count == 0 {
            lines.append("  nothing: no file that exists would be destroyed")
        } else {
            lines.append("  would destroy \(Format.number(count)) \(count == 1 ? "file" : "files"), \(Format.bytes(bytes)):")
            lines += found
            if count > found.count { lines.append("    … and \(Format.number(count - found.count)) more") }
        }
        return DryRunReport(lines: lines, count: count, fingerprint: Array(hasher.finalize()))
    }
}
