import ShellSyntax

/// Data a line would destroy: a file truncated, overwritten, removed or edited in place. Each is
/// a confirmable effect whatever the role allows, with a dry run of what exists to be destroyed.
public struct Destruction: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case truncate = "truncates"
        case overwrite = "overwrites"
        case remove = "removes"
        case edit = "edits in place"
    }

    public var kind: Kind
    public var target: Field
    /// What does it, as the message shows it: `> a.log`, `cp`, `gzip`.
    public var by: String
    /// cp and mv: the files overwritten instead when `target` is a directory (or must be one).
    public var intoDirectory: [Field] = []
    public var mustBeDirectory = false
}

/// What the file system holds, as far as a decision needs it. The session asks the real one;
/// tests and `policy test` give a list. Without it every file counts as existing.
public protocol FileSystemFacts: Sendable {
    func exists(_ path: String) -> Bool
    func isDirectory(_ path: String) -> Bool
}

/// A fixed set of files: directories end with `/`.
public struct KnownFiles: FileSystemFacts {
    public var paths: Set<String>

    public init(_ paths: [String]) { self.paths = Set(paths) }

    public func exists(_ path: String) -> Bool { paths.contains(path) || paths.contains(path + "/") }
    public func isDirectory(_ path: String) -> Bool { paths.contains(path + "/") }
}

enum Destructions {
    static let compressors: Set<String> = ["gzip", "gunzip", "bzip2", "bunzip2", "xz", "unxz", "lzma", "unlzma", "lzip", "pigz",
                                           "unpigz", "compress", "uncompress", "pbzip2", "plzip"]
    /// Compressors that keep the original unless told `--rm`.
    static let keepingCompressors: Set<String> = ["zstd", "unzstd", "lz4", "brotli"]

    /// What `argv` destroys, read as the tool reads its options.
    static func of(_ argv: [Field]) -> [Destruction] {
        guard let name = argv.first?.staticText.map(PathName.base) else { return [] }
        let args = Array(argv.dropFirst())
        func all(_ kind: Destruction.Kind, _ fields: [Field]) -> [Destruction] { fields.map { Destruction(kind: kind, target: $0, by: name) } }
        switch name {
        case "cp", "mv", "install":
            let o = Operands(args, valued: ["-S", "-t", "--suffix", "--target-directory", "-m", "-o", "-g", "--mode", "--owner", "--group"])
            if o.has(["-n", "--no-clobber", "-b", "--backup", "--update=none"]) || o.has(["-d", "--directory"]) && name == "install" { return [] }
            return copyTargets(o, name)
        case "ln":
            let o = Operands(args, valued: ["-S", "-t", "--suffix", "--target-directory"])
            return o.has(["-f", "--force"]) && !o.has(["-b", "--backup"]) ? copyTargets(o, name) : []
        case "tee":
            let o = Operands(args, valued: ["--output-error"])
            return o.has(["-a", "--append"]) ? [] : all(.truncate, o.operands)
        case "dd":
            return args.compactMap { f in
                guard f.text.hasPrefix("of=") else { return nil }
                var t = f
                t.text = String(f.text.dropFirst(3))
                return Destruction(kind: .overwrite, target: t, by: "dd")
            }
        case "truncate": return all(.truncate, Operands(args, valued: ["-s", "-r", "--size", "--reference"]).operands)
        case "shred": return all(.overwrite, Operands(args, valued: ["-n", "-s", "--iterations", "--size", "--random-source"]).operands)
        case "rm", "unlink", "rmdir": return all(.remove, Operands(args, valued: []).operands)
        case "sed":
            let o = Operands(args, valued: ["-e", "-f", "-l", "--expression", "--file", "--line-length"])
            guard o.flags.contains(where: { $0 == "-i" || $0.hasPrefix("--in-place") }) else { return [] }
            // Without -e/-f the first operand is the script.
            let files = o.has(["-e", "-f", "--expression", "--file"]) ? o.operands : Array(o.operands.dropFirst())
            return all(.edit, files)
        case "tar": return tar(args)
        case "find":
            guard args.contains(where: { $0.staticText == "-delete" }) else { return [] }
            return all(.remove, FindDeletion(args, offset: argv[0].offset).roots)
        case "rsync":
            // Its own dry run changes nothing.
            if args.contains(where: { f in f.staticText.map { $0 == "--dry-run" || $0.hasPrefix("-") && !$0.hasPrefix("--") && $0.contains("n") } ?? false }) {
                return []
            }
            let deleting = args.contains { f in
                guard let t = f.staticText else { return false }
                return t.hasPrefix("--delete") || t == "--remove-source-files" || t == "--del"
            }
            return deleting ? all(.remove, Array(Operands(args, valued: []).operands.suffix(1))) : []
        default:
            let o = Operands(args, valued: ["-S", "--suffix", "-b", "--blocksize", "-p", "--processes", "-T", "--threads", "-L"])
            if compressors.contains(name) {
                if o.has(["-k", "--keep", "-c", "--stdout", "--to-stdout", "-t", "--test", "-l", "--list"]) { return [] }
                return all(.remove, o.operands)
            }
            if keepingCompressors.contains(name), o.has(["--rm"]), !o.has(["-c", "--stdout"]) { return all(.remove, o.operands) }
            return []
        }
    }

    /// cp and mv destinations: the last operand, or the files of the sources' names in it when
    /// it is a directory (with -t, several sources or a trailing `/` it must be one).
    static func copyTargets(_ o: Operands, _ name: String) -> [Destruction] {
        var sources = o.operands
        let dir: Field
        if let t = o.value(of: ["-t", "--target-directory"]) {
            dir = t
        } else {
            guard sources.count >= 2, let last = sources.popLast() else { return [] }
            if o.has(["-T", "--no-target-directory"]) { return [Destruction(kind: .overwrite, target: last, by: name)] }
            dir = last
        }
        let prefix = dir.text.hasSuffix("/") ? dir.text : dir.text + "/"
        let inside = sources.map { s -> Field in
            var t = s
            t.text = prefix + PathName.base(s.text)
            if let g = s.glob { t.glob = prefix + PathName.base(g) }
            if !dir.isStatic { t.kind = .dynamic; t.reason = dir.reason }
            return t
        }
        let must = o.value(of: ["-t", "--target-directory"]) != nil || sources.count > 1 || dir.text.hasSuffix("/")
            || sources.contains { !$0.isStatic }
        return [Destruction(kind: .overwrite, target: dir, by: name, intoDirectory: inside, mustBeDirectory: must)]
    }

    /// tar: `--remove-files` removes what it archives; creating writes over the archive.
    static func tar(_ args: [Field]) -> [Destruction] {
        var archive: Field?
        var creating = false
        var removing = false
        var members: [Field] = []
        var k = 0
        var first = true
        while k < args.count {
            let f = args[k]
            k += 1
            defer { first = false }
            guard let a = f.staticText else { members.append(f); continue }
            if a.hasPrefix("--") {
                let key = String(a.prefix { $0 != "=" })
                if key == "--remove-files" { removing = true }
                if ["--create", "--append", "--update"].contains(key) { creating = true }
                if key == "--file" { archive = a.contains("=") ? Field(text: String(a.drop { $0 != "=" }.dropFirst()), offset: f.offset) : (k < args.count ? args[k] : nil); if !a.contains("=") { k += 1 } }
                if ["--directory", "--exclude", "--files-from", "--transform", "--owner", "--group", "--mode", "--label"].contains(key), !a.contains("=") { k += 1 }
                continue
            }
            // Old style: the first word is a cluster of letters without `-` (`czf x.tgz`).
            if a.hasPrefix("-") || first && a.allSatisfy({ $0.isLetter }) {
                let letters = a.hasPrefix("-") ? a.dropFirst() : Substring(a)
                for (offset, c) in letters.enumerated() {
                    if c == "c" || c == "r" || c == "u" { creating = true }
                    if "fCTXbLNgK".contains(c) {
                        let attached = letters.dropFirst(offset + 1)
                        let value = attached.isEmpty || !a.hasPrefix("-") ? (k < args.count ? args[k] : nil) : Field(text: String(attached), offset: f.offset)
                        if attached.isEmpty || !a.hasPrefix("-") { k += 1 }
                        if c == "f" { archive = value }
                        if a.hasPrefix("-") { break }
                    }
                }
                continue
            }
            members.append(f)
        }
        var out: [Destruction] = []
        if creating, let a = archive, a.text != "-" { out.append(Destruction(kind: .overwrite, target: a, by: "tar")) }
        if removing { out += members.map { Destruction(kind: .remove, target: $0, by: "tar --remove-files") } }
        return out
    }
}

/// Options and operands of a getopt tool, with the options that take a value.
struct Operands {
    var flags: [String] = []
    var values: [String: Field] = [:]
    var operands: [Field] = []

    init(_ args: [Field], valued: Set<String>) {
        var k = 0
        var ended = false
        while k < args.count {
            let f = args[k]
            k += 1
            guard !ended, let a = f.staticText, a.hasPrefix("-"), a.count > 1 else {
                operands.append(f)
                continue
            }
            if a == "--" { ended = true; continue }
            if a.hasPrefix("--") {
                let key = String(a.prefix { $0 != "=" })
                flags.append(a.contains("=") && !valued.contains(key) ? a : key)
                if valued.contains(key) {
                    if let eq = a.firstIndex(of: "=") { values[key] = Field(text: String(a[a.index(after: eq)...]), offset: f.offset) } else if k < args.count {
                        values[key] = args[k]
                        k += 1
                    }
                }
                continue
            }
            for (offset, c) in a.dropFirst().enumerated() {
                flags.append("-\(c)")
                if valued.contains("-\(c)") {
                    let attached = a.dropFirst(offset + 2)
                    if !attached.isEmpty { values["-\(c)"] = Field(text: String(attached), offset: f.offset) } else if k < args.count {
                        values["-\(c)"] = args[k]
                        k += 1
                    }
                    break
                }
            }
        }
    }

    func has(_ names: Set<String>) -> Bool { flags.contains(where: names.contains) }
    func value(of names: [String]) -> Field? { names.lazy.compactMap { values[$0] }.first }
}
