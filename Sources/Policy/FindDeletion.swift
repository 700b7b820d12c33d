import ShellSyntax

/// `find … -delete` read as find evaluates it: the start paths, and whether a start path itself
/// can be deleted (find deletes it only when the tests before `-delete` hold for it too).
struct FindDeletion {
    /// The start paths (`.` when none is given).
    var roots: [Field]
    /// `-mindepth N` with N ≥ 1: the start paths are never tested.
    var belowStart = false
    /// The expression has `-o`, `!`, `(`, `,` …: what it selects is not read here.
    var complex = false
    /// The tests `-delete` follows in the expression's chain of ands.
    var tests: [(name: String, value: Field?)] = []

    /// Tests that take a value.
    static let valued: Set<String> = [
        "-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename", "-regex", "-iregex", "-lname", "-ilname",
        "-type", "-xtype", "-mtime", "-mmin", "-atime", "-amin", "-ctime", "-cmin", "-newer", "-anewer", "-cnewer",
        "-size", "-user", "-group", "-uid", "-gid", "-perm", "-links", "-inum", "-samefile", "-used", "-fstype",
        "-context", "-maxdepth", "-mindepth", "-regextype",
    ]
    /// Options and actions that are true for every file: they select nothing.
    static let selectingNothing: Set<String> = [
        "-maxdepth", "-mindepth", "-depth", "-d", "-xdev", "-mount", "-follow", "-noleaf", "-ignore_readdir_race",
        "-noignore_readdir_race", "-regextype", "-warn", "-nowarn", "-daystart", "-print", "-print0", "-true",
    ]
    static let operators: Set<String> = ["-o", "-or", "-a", "-and", "!", "-not", "(", ")", ","]

    init(_ args: [Field], offset: Int) {
        var k = 0
        // Options before the start paths: -H -L -P, -D debugopts, -Olevel.
        while k < args.count, let t = args[k].staticText, ["-H", "-L", "-P", "-D"].contains(t) || t.hasPrefix("-O") && t.count > 2 {
            k += t == "-D" ? 2 : 1
        }
        var roots: [Field] = []
        while k < args.count, !(args[k].staticText.map { $0.hasPrefix("-") || $0 == "(" || $0 == "!" } ?? false) {
            roots.append(args[k])
            k += 1
        }
        self.roots = roots.isEmpty ? [Field(text: ".", offset: offset)] : roots
        var deleteSeen = false
        while k < args.count {
            let f = args[k]
            k += 1
            guard let t = f.staticText else { complex = true; continue }
            if FindDeletion.operators.contains(t) && t != "-a" && t != "-and" { complex = true; continue }
            if t == "-a" || t == "-and" { continue }
            if t == "-delete" { deleteSeen = true; continue }
            var value: Field?
            if FindDeletion.valued.contains(t) {
                value = k < args.count ? args[k] : nil
                k += 1
            }
            if t == "-mindepth", let v = value?.staticText, let n = Int(v), n >= 1 { belowStart = true }
            if !deleteSeen { tests.append((t, value)) }
        }
    }

    /// The tests before `-delete` select some files, not every file under the start.
    var selects: Bool { tests.contains { !FindDeletion.selectingNothing.contains($0.name) } }

    /// Whether `root` (as written) can never be deleted itself: the expression is a plain chain
    /// of ands and either starts below it or has a test before `-delete` that fails on it.
    func spares(_ root: Field) -> Bool {
        guard !complex, let text = root.staticText else { return false }
        if belowStart { return true }
        var name = Substring(text)
        while name.count > 1, name.hasSuffix("/") { name = name.dropLast() }
        let base = name == "/" ? "/" : PathName.base(String(name))
        return tests.contains { test in
            guard let value = test.value?.staticText else { return false }
            switch test.name {
            case "-name", "-iname":
                let fold = test.name == "-iname"
                guard let glob = try? Glob(fold ? value.lowercased() : value) else { return false }
                return !glob.matches(fold ? base.lowercased() : base)
            case "-type":
                // A start path is a directory, or a symbolic link to one (`/bin` on merged /usr).
                let types = value.split(separator: ",")
                return !types.isEmpty && !types.contains("d") && !types.contains("l")
            default:
                return false
            }
        }
    }
}
