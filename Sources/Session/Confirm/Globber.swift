import Foundation
import ShellSyntax
#if canImport(Glibc)
import Glibc
#endif

/// Pathname expansion as the session's bash does it (dotglob, nullglob, failglob and globstar
/// off; globskipdots on), so a dry run lists exactly the files the line would get. Paths stay
/// bytes: a file name need not be UTF-8.
struct Globber {
    struct Unsupported: Error, CustomStringConvertible {
        var description: String
    }

    /// Where relative patterns start.
    var cwd: [UInt8]

    init(cwd: String) { self.cwd = Array(cwd.utf8) }

    /// The arguments one field becomes: itself when literal, the sorted matches of a pattern, or
    /// the pattern's text when nothing matches (bash leaves it as typed, quotes removed).
    func expand(_ field: Field) throws(Unsupported) -> [[UInt8]] {
        switch field.kind {
        case .literal:
            return [Array(field.text.utf8)]
        case .dynamic:
            throw Unsupported(description: "`\(field.text)` is only known when the line runs (\(field.reason ?? "dynamic"))")
        case .pattern:
            let glob = Array((field.glob ?? field.text).utf8)
            if Globber.hasExtendedGlob(glob) {
                throw Unsupported(description: "`\(field.text)` is an extended glob, which the dry run does not expand")
            }
            let matches = expand(pattern: glob)
            return matches.isEmpty ? [Array(field.text.utf8)] : matches
        }
    }

    /// Matches of a pattern whose quoted metacharacters are backslash-escaped.
    func expand(pattern: [UInt8]) -> [[UInt8]] {
        let absolute = pattern.first == .slashByte
        var segments = pattern.split(separator: .slashByte, omittingEmptySubsequences: false).map(Array.init)
        if absolute { segments.removeFirst() }
        // A trailing slash keeps only directories, and the slash.
        let directoriesOnly = segments.count > 1 && segments.last?.isEmpty == true
        if directoriesOnly { segments.removeLast() }
        var paths: [[UInt8]] = [absolute ? [.slashByte] : []]
        for (index, segment) in segments.enumerated() {
            let last = index == segments.count - 1
            var next: [[UInt8]] = []
            for base in paths {
                let join = { (name: [UInt8]) -> [UInt8] in
                    base.isEmpty || base == [.slashByte] ? base + name : base + [.slashByte] + name
                }
                if segment.isEmpty {
                    next.append(base + [.slashByte])
                } else if !Globber.isPattern(segment) {
                    let path = join(Globber.unescape(segment))
                    if last ? exists(path) : isDirectory(path) { next.append(path) }
                } else {
                    for name in names(in: base) where Globber.matches(segment, name) {
                        let path = join(name)
                        if last || isDirectory(path) { next.append(path) }
                    }
                }
            }
            paths = next
            if paths.isEmpty { return [] }
        }
        if directoriesOnly { paths = paths.filter(isDirectory).map { $0 + [.slashByte] } }
        return paths.sorted { $0.lexicographicallyPrecedes($1) }
    }

    // MARK: Matching

    static func isPattern(_ s: [UInt8]) -> Bool {
        var k = 0
        while k < s.count {
            switch s[k] {
            case UInt8(ascii: "\\"): k += 2; continue
            case UInt8(ascii: "*"), UInt8(ascii: "?"): return true
            case UInt8(ascii: "["): if s[(k + 1)...].contains(UInt8(ascii: "]")) { return true }
            default: break
            }
            k += 1
        }
        return false
    }

    static func hasExtendedGlob(_ s: [UInt8]) -> Bool {
        var k = 0
        while k + 1 < s.count {
            if s[k] == UInt8(ascii: "\\") { k += 2; continue }
            if "?*+@!".utf8.contains(s[k]) && s[k + 1] == UInt8(ascii: "(") { return true }
            k += 1
        }
        return false
    }

    static func unescape(_ s: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var k = 0
        while k < s.count {
            if s[k] == UInt8(ascii: "\\"), k + 1 < s.count { k += 1 }
            out.append(s[k])
            k += 1
        }
        return out
    }

    /// One name against one segment: fnmatch with a leading dot matched only explicitly, in the
    /// session's UTF-8 locale so `?` is one character, as in bash.
    static func matches(_ segment: [UInt8], _ name: [UInt8]) -> Bool {
        if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { return false }
        let previous = uselocale(utf8Locale)
        defer { uselocale(previous) }
        return (segment + [0]).withUnsafeBufferPointer { p in
            (name + [0]).withUnsafeBufferPointer { n in
                p.withMemoryRebound(to: CChar.self) { pc in
                    n.withMemoryRebound(to: CChar.self) { nc in fnmatch(pc.baseAddress!, nc.baseAddress!, FNM_PERIOD) == 0 }
                }
            }
        }
    }

    nonisolated(unsafe) static let utf8Locale: locale_t = newlocale(LC_CTYPE_MASK | LC_COLLATE_MASK, "C.UTF-8", nil)
        ?? newlocale(LC_CTYPE_MASK, "C", nil)

    // MARK: The file system

    func absolute(_ path: [UInt8]) -> [UInt8] {
        path.first == .slashByte ? path : (path.isEmpty ? cwd : cwd + [.slashByte] + path)
    }

    func names(in directory: [UInt8]) -> [[UInt8]] {
        Globber.listDirectory(absolute(directory))
    }

    func exists(_ path: [UInt8]) -> Bool { Globber.lstat(absolute(path)) != nil }

    func isDirectory(_ path: [UInt8]) -> Bool {
        var st = stat()
        return Globber.cString(absolute(path)) { stat($0, &st) } == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func listDirectory(_ path: [UInt8]) -> [[UInt8]] {
        guard let dir = cString(path, { opendir($0) }) else { return [] }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name != [UInt8(ascii: ".")] && name != [UInt8(ascii: "."), UInt8(ascii: ".")] { names.append(name) }
        }
        return names
    }

    static func lstat(_ path: [UInt8]) -> stat? {
        var st = stat()
        return cString(path) { Glibc.lstat($0, &st) } == 0 ? st : nil
    }

    static func cString<T>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> T) -> T {
        (bytes + [0]).withUnsafeBufferPointer { p in p.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) } }
    }
}

extension UInt8 {
    static let slashByte = UInt8(ascii: "/")
}
