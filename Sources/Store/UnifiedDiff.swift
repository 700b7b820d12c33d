/// `diff -u` for two texts, pure and bounded: lines common to both ends are set aside first, and
/// the rest is aligned by a longest common subsequence only while the table stays small (a
/// configuration edit is a few lines in a long file). Beyond the bound the diff says so.
public enum UnifiedDiff {
    public struct Result: Sendable, Equatable {
        /// The hunks (`@@ -1,3 +1,3 @@` and their lines), without the `---`/`+++` header.
        public var hunks: String
        public var added: Int
        public var removed: Int
    }

    /// Largest alignment table (cells) one diff may use: 4 M cells, 16 MiB.
    public static let maxCells = 4_000_000

    /// Text a diff can show: UTF-8 without NUL bytes.
    public static func isText(_ bytes: [UInt8]) -> Bool {
        !bytes.contains(0) && String(validating: bytes, as: UTF8.self) != nil
    }

    /// Lines without their newline; a last line without one carries a NUL (never in text), so it
    /// differs from the same words with a newline, as it does for diff.
    static func lines(_ bytes: [UInt8]) -> [String] {
        guard !bytes.isEmpty else { return [] }
        var parts = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if bytes.last == 0x0A { parts.removeLast() } else { parts[parts.count - 1] += "\u{0}" }
        return parts
    }

    enum Op: Equatable { case same(Int, Int), delete(Int), insert(Int) }

    /// nil when the texts differ too much to align within `maxCells`.
    public static func diff(_ old: [UInt8], _ new: [UInt8], context: Int = 3, maxCells: Int = UnifiedDiff.maxCells) -> Result? {
        let a = lines(old), b = lines(new)
        var prefix = 0
        while prefix < a.count && prefix < b.count && a[prefix] == b[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < a.count - prefix && suffix < b.count - prefix && a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
        let n = a.count - prefix - suffix, m = b.count - prefix - suffix
        guard (n + 1) * (m + 1) <= maxCells else { return nil }
        var ops: [Op] = (0..<prefix).map { .same($0, $0) }
        // lcs[i][j]: the longest common subsequence of a[prefix+i...] and b[prefix+j...].
        var lcs = [Int32](repeating: 0, count: (n + 1) * (m + 1))
        if n > 0 && m > 0 {
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    lcs[i * (m + 1) + j] = a[prefix + i] == b[prefix + j] ? lcs[(i + 1) * (m + 1) + j + 1] + 1
                        : max(lcs[(i + 1) * (m + 1) + j], lcs[i * (m + 1) + j + 1])
                }
            }
        }
        var i = 0, j = 0
        var change: [Op] = []
        // Within each change, deletions come before insertions, as diff prints them.
        func endChange() {
            ops += change.filter { if case .delete = $0 { return true }; return false }
            ops += change.filter { if case .insert = $0 { return true }; return false }
            change = []
        }
        while i < n || j < m {
            if i < n && j < m && a[prefix + i] == b[prefix + j] {
                endChange()
                ops.append(.same(prefix + i, prefix + j)); i += 1; j += 1
            } else if i < n && (j == m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
                change.append(.delete(prefix + i)); i += 1
            } else {
                change.append(.insert(prefix + j)); j += 1
            }
        }
        endChange()
        for k in 0..<suffix { ops.append(.same(a.count - suffix + k, b.count - suffix + k)) }
        return render(ops, a, b, context: context)
    }

    static func render(_ ops: [Op], _ a: [String], _ b: [String], context: Int) -> Result {
        let changed = ops.indices.filter { if case .same = ops[$0] { return false }; return true }
        var out = ""
        var added = 0, removed = 0
        var k = 0
        while k < changed.count {
            let start = max(0, changed[k] - context)
            var end = min(ops.count - 1, changed[k] + context)
            while k + 1 < changed.count && changed[k + 1] - context <= end + 1 {
                k += 1
                end = min(ops.count - 1, changed[k] + context)
            }
            var body = ""
            var oldStart: Int?, newStart: Int?
            var oldCount = 0, newCount = 0
            func line(_ mark: String, _ text: String) {
                body += text.hasSuffix("\u{0}") ? mark + text.dropLast() + "\n\\ No newline at end of file\n" : mark + text + "\n"
            }
            for op in ops[start...end] {
                switch op {
                case .same(let x, let y):
                    oldStart = oldStart ?? x; newStart = newStart ?? y
                    oldCount += 1; newCount += 1
                    line(" ", a[x])
                case .delete(let x):
                    oldStart = oldStart ?? x
                    oldCount += 1; removed += 1
                    line("-", a[x])
                case .insert(let y):
                    newStart = newStart ?? y
                    newCount += 1; added += 1
                    line("+", b[y])
                }
            }
            // An empty side starts at the line before the hunk, as diff writes it.
            let os = oldCount == 0 ? position(before: ops[start...end], old: true, ops) : (oldStart ?? 0) + 1
            let ns = newCount == 0 ? position(before: ops[start...end], old: false, ops) : (newStart ?? 0) + 1
            out += "@@ -\(range(os, oldCount)) +\(range(ns, newCount)) @@\n" + body
            k += 1
        }
        return Result(hunks: out, added: added, removed: removed)
    }

    /// The number of lines of one side before a hunk that has none of that side.
    static func position(before hunk: ArraySlice<Op>, old: Bool, _ ops: [Op]) -> Int {
        var count = 0
        for op in ops[..<hunk.startIndex] {
            switch op {
            case .same: count += 1
            case .delete: if old { count += 1 }
            case .insert: if !old { count += 1 }
            }
        }
        return count
    }

    static func range(_ start: Int, _ count: Int) -> String { count == 1 ? "\(start)" : "\(start),\(count)" }
}
