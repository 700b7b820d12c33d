import Crypto
import Foundation
import Posix
import ShellSyntax
#if canImport(Glibc)
import Glibc
#endif

/// What a dry run found, shown before the phrase is asked and compared after it is typed.
struct DryRunReport: Equatable {
    /// The lines shown to the user.
    var lines: [String]
    /// Objects found: the number the `count` phrase asks for.
    var count: Int
    /// Identifies the set of objects: when it differs after the phrase, the user is asked again.
    var fingerprint: [UInt8]
    /// False when the walk stopped at its bounds.
    var complete = true
}

/// Walks what a deleting command would remove, bounded in entries and time, without changing
/// anything. Paths are bytes, as the file system gives them.
struct DeletionWalk {
    struct Bounds {
        var entries = 200_000
        var seconds = 3.0
    }

    enum Action {
        /// rm, unlink: files and links; directories only with `recursive` (or empty with `emptyDirectories`).
        case remove(recursive: Bool, emptyDirectories: Bool)
        /// rmdir: empty directories.
        case removeDirectory
        /// shred: contents destroyed, the file removed too with -u.
        case shred(remove: Bool)
        /// truncate: contents cut.
        case truncate
        /// mv: sources moved, an existing destination replaced.
        case move
    }

    var bounds = Bounds()
    /// Where the user may write (the role's `writes`, `~` expanded); targets elsewhere are flagged.
    var writable: [String] = []
    var isWritable: (String) -> Bool = { _ in true }
    /// Open files of the user's running processes: path → "pid (name)".
    var openFiles: [[UInt8]: String] = [:]

    private(set) var files = 0
    private(set) var directories = 0
    private(set) var bytes: Int64 = 0
    private(set) var firstEntries: [String] = []
    private(set) var warnings: [String] = []
    private(set) var skipped: [String] = []
    private(set) var stoppedEarly = false
    private var sizes: [[UInt8]: Int64] = [:]
    private var hasher = SHA256()
    private var deadline = 0.0
    private var seen = 0

    /// Walks `targets` (absolute paths) for `action` and reports in lines a person reads at a glance.
    mutating func run(_ action: Action, targets: [[UInt8]], shown: String) -> DryRunReport {
        deadline = monotonicSeconds() + bounds.seconds
        var moveDestination: [UInt8]?
        var sources = targets
        if case .move = action, targets.count >= 2 { moveDestination = sources.removeLast() }
        for target in sources {
            let name = display(target)
            guard let st = Globber.lstat(target) else {
                skipped.append("\(name): no such file or directory")
                continue
            }
            if !isWritable(String(decoding: target, as: UTF8.self)) { warnings.append("\(name) is outside the paths this role may write (\(writable.joined(separator: ", ")))") }
            if isMountPoint(target, st) { warnings.append("\(name) is a mount point") }
            let isDir = (st.st_mode & S_IFMT) == S_IFDIR
            switch action {
            case .remove(let recursive, let emptyDirectories):
                if isDir && !recursive {
                    if emptyDirectories && Globber.listDirectory(target).isEmpty { count(target, st, top: target) } else {
                        skipped.append("\(name): is a directory (rm leaves it without -r)")
                    }
                } else {
                    walk(target, st, top: target)
                }
            case .removeDirectory:
                if !isDir { skipped.append("\(name): not a directory") } else if !Globber.listDirectory(target).isEmpty {
                    skipped.append("\(name): not empty (rmdir leaves it)")
                } else { count(target, st, top: target) }
            case .shred, .truncate:
                if isDir { skipped.append("\(name): is a directory") } else { count(target, st, top: target) }
            case .move:
                count(target, st, top: target)
            }
        }
        if let destination = moveDestination { describeMoveDestination(destination, sources: sources) }
        return report(action, shown: shown)
    }

    private mutating func describeMoveDestination(_ destination: [UInt8], sources: [[UInt8]]) {
        var st = stat()
        let isDirectory = Globber.cString(destination) { stat($0, &st) } == 0 && (st.st_mode & S_IFMT) == S_IFDIR
        let replaced = isDirectory
            ? sources.map { destination + [.slashByte] + ($0.split(separator: .slashByte).last.map(Array.init) ?? $0) }
            : [destination]
        for path in replaced where Globber.lstat(path) != nil { warnings.append("\(display(path)) exists and would be replaced") }
        if !isWritable(String(decoding: destination, as: UTF8.self)) { warnings.append("\(display(destination)) is outside the paths this role may write") }
    }

    private mutating func walk(_ path: [UInt8], _ st: stat, top: [UInt8]) {
        var stack: [([UInt8], stat)] = [(path, st)]
        while let (current, info) = stack.popLast() {
            guard budgetLeft() else { return }
            count(current, info, top: top)
            guard (info.st_mode & S_IFMT) == S_IFDIR else { continue }
            // Children in reverse, so they are popped (and listed) in name order.
            for name in Globber.listDirectory(current).sorted(by: { $1.lexicographicallyPrecedes($0) }) {
                let child = current + [.slashByte] + name
                guard let childInfo = Globber.lstat(child) else { continue }
                if childInfo.st_dev != info.st_dev { warnings.append("\(display(child)) is a mount point; rm -r would delete inside it") }
                stack.append((child, childInfo))
            }
        }
    }

    private mutating func budgetLeft() -> Bool {
        seen += 1
        if seen > bounds.entries || (seen % 512 == 0 && monotonicSeconds() > deadline) {
            stoppedEarly = true
            return false
        }
        return true
    }

    private mutating func count(_ path: [UInt8], _ st: stat, top: [UInt8]) {
        let isDir = (st.st_mode & S_IFMT) == S_IFDIR
        if isDir { directories += 1 } else { files += 1 }
        let size = isDir ? 0 : Int64(st.st_size)
        bytes += size
        if firstEntries.count < 10 { firstEntries.append(display(path) + (isDir ? "/" : "")) }
        if let owner = openFiles[path] { warnings.append("\(display(path)) is open by process \(owner)") }
        // Size per directory one level below the target: where the bytes are.
        if path.count > top.count, let slash = path[(top.count + 1)...].firstIndex(of: .slashByte) {
            sizes[Array(path[..<slash]), default: 0] += size
        }
        hasher.update(data: path + [0, isDir ? 1 : 0])
    }

    private func report(_ action: Action, shown: String) -> DryRunReport {
        var lines = ["dry run of: \(shown)"]
        let objects = files + directories
        let verb: String
        switch action {
        case .remove, .removeDirectory: verb = "would delete"
        case .shred(let remove): verb = remove ? "would overwrite and delete" : "would overwrite"
        case .truncate: verb = "would truncate"
        case .move: verb = "would move"
        }
        let what = directories > 0 ? "\(Format.number(files)) \(files == 1 ? "file" : "files") and \(Format.number(directories)) \(directories == 1 ? "directory" : "directories")"
            : "\(Format.number(files)) \(files == 1 ? "file" : "files")"
        lines.append(objects == 0 ? "  nothing: no file would be affected" : "  \(verb) \(what), \(Format.bytes(bytes))")
        let top = sizes.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key.lexicographicallyPrecedes($1.key)) }.prefix(5)
        if top.count > 1 {
            lines.append("  largest directories:")
            for (path, size) in top { lines.append("    \(Format.bytes(size).padding(toLength: 10, withPad: " ", startingAt: 0)) \(display(path))/") }
        }
        if !firstEntries.isEmpty {
            lines.append("  first entries:")
            lines += firstEntries.map { "    \($0)" }
            if objects > firstEntries.count { lines.append("    … and \(Format.number(objects - firstEntries.count)) more") }
        }
        lines += skipped.map { "  skipped: \($0)" }
        lines += warnings.prefix(20).map { "  ! \($0)" }
        if warnings.count > 20 { lines.append("  ! … and \(warnings.count - 20) more warnings") }
        if stoppedEarly {
            lines.append("  the walk stopped after \(Format.number(seen - 1)) entries or \(Int(bounds.seconds)) s: there is at least this much")
        }
        return DryRunReport(lines: lines, count: objects, fingerprint: Array(hasher.finalize()), complete: !stoppedEarly)
    }

    private func isMountPoint(_ path: [UInt8], _ st: stat) -> Bool {
        guard let slash = path.lastIndex(of: .slashByte) else { return false }
        let parent = slash == 0 ? [UInt8.slashByte] : Array(path[..<slash])
        guard let p = Globber.lstat(parent) else { return false }
        return p.st_dev != st.st_dev
    }

    /// File names are anyone's bytes: shown visibly, so a name cannot act on the terminal or fake a line.
    func display(_ path: [UInt8]) -> String { Visible.text(String(decoding: path, as: UTF8.self)) }

    /// Files held open by processes the user can see (their own), from /proc; bounded.
    static func openFilesOfVisibleProcesses(limit: Int = 100_000) -> [[UInt8]: String] {
        var result: [[UInt8]: String] = [:]
        var seen = 0
        for pidName in Globber.listDirectory(Array("/proc".utf8)) where pidName.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            let pid = String(decoding: pidName, as: UTF8.self)
            let fdDirectory = Array("/proc/\(pid)/fd".utf8)
            let fds = Globber.listDirectory(fdDirectory)
            guard !fds.isEmpty else { continue }
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            for fd in fds {
                seen += 1
                if seen > limit { return result }
                var buffer = [CChar](repeating: 0, count: 4096)
                let n = Globber.cString(fdDirectory + [.slashByte] + fd) { readlink($0, &buffer, buffer.count) }
                guard n > 0, buffer[0] == CChar(UInt8(ascii: "/")) else { continue }
                result[buffer.prefix(n).map { UInt8(bitPattern: $0) }] = "\(pid) (\(comm))"
            }
        }
        return result
    }
}

enum Format {
    static func number(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (k, d) in digits.enumerated() {
            if k > 0 && (digits.count - k) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }

    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }
}
