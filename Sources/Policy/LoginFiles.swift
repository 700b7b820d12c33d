import ShellSyntax

/// Files in a home directory that run code at the next login, outside jitsh: shells' start-up
/// files (sshd starts the forced command through the login shell), sshd's per-user files, and
/// user units systemd starts at login. No line may write them, whatever the role says.
public enum LoginFiles {
    public static let names = [
        ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".bash_aliases", ".profile", ".zshenv", ".zprofile",
        ".zshrc", ".zlogin", ".zlogout", ".config/fish", ".tcshrc", ".cshrc", ".login", ".logout", ".kshrc", ".mkshrc",
        ".ssh", ".config/systemd", ".local/share/systemd", ".pam_environment", ".config/environment.d",
    ]

    /// The protected paths of a home directory.
    public static func paths(home: String) -> [String] {
        names.map { (home.hasSuffix("/") ? home : home + "/") + $0 }
    }

    /// The protected file `path` is or lies under, or nil (an ancestor of one is not: writing a
    /// directory's other files is fine).
    public static func covering(_ path: String, home: String?) -> String? {
        guard let home, home != "/" else { return nil }
        return paths(home: home).first { path == $0 || path.hasPrefix($0 + "/") }
    }

    /// Whether `path` is one of the protected files or a directory above one (a Landlock rule
    /// there would let every one of them be written).
    public static func inside(_ path: String, home: String?) -> String? {
        guard let home, home != "/" else { return nil }
        let p = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        return paths(home: home).first { $0 == p || $0.hasPrefix(p == "/" ? "/" : p + "/") || p.hasPrefix($0 + "/") }
    }

    /// What the command's operands would write, for the programs that write files named as
    /// operands: the files themselves and, for copies into a directory, the names they get there.
    public static func writtenPaths(_ name: String, _ args: [Field], cwd: String?) -> [String] {
        var operands: [String] = []
        var options: [String] = []
        var optionsEnded = false
        for f in args {
            guard let t = f.staticText else { continue }
            if !optionsEnded && t == "--" { optionsEnded = true; continue }
            if !optionsEnded && t.hasPrefix("-") && t.count > 1 { options.append(t); continue }
            operands.append(t)
        }
        func resolved(_ p: String) -> String? { PathName.resolved(p, cwd: cwd) }
        switch name {
        case "tee", "touch", "truncate", "sed", "chmod", "chown", "chgrp", "mkdir", "ln", "cp", "mv", "install", "rsync", "tar",
             "patch", "sponge":
            break
        case "dd":
            return args.compactMap { $0.staticText }.filter { $0.hasPrefix("of=") }.compactMap { resolved(String($0.dropFirst(3))) }
        default:
            return []
        }
        var targets: [String] = []
        // An explicit target directory (-t DIR, --target-directory=DIR) or tar's -C DIR.
        var k = 0
        let all = args.compactMap(\.staticText)
        while k < all.count {
            let a = all[k]
            if ["-t", "--target-directory", "-C", "--directory"].contains(a), k + 1 < all.count {
                if let d = resolved(all[k + 1]) {
                    targets.append(d)
                    targets += operands.filter { $0 != all[k + 1] }.map { d + "/" + PathName.base($0) }
                }
                k += 2
                continue
            }
            for prefix in ["--target-directory=", "--directory="] where a.hasPrefix(prefix) {
                if let d = resolved(String(a.dropFirst(prefix.count))) { targets.append(d) }
            }
            k += 1
        }
        switch name {
        case "cp", "mv", "install", "ln", "rsync":
            guard let last = operands.last, let target = resolved(last) else { break }
            targets.append(target)
            targets += operands.dropLast().map { target + "/" + PathName.base($0) }
        case "tar":
            // Extraction writes into the working directory (or -C) under names only the archive knows.
            let extracts = options.contains { $0 == "-x" || $0 == "--extract" || $0 == "--get" || (!$0.hasPrefix("--") && $0.contains("x")) }
                || operands.first.map { !$0.hasPrefix("-") && $0.contains("x") && !$0.contains("/") } ?? false
            if extracts, !all.contains(where: { ["-C", "--directory"].contains($0) || $0.hasPrefix("--directory=") }), let cwd {
                targets.append(cwd)
            }
        default:
            targets += operands.compactMap(resolved)
        }
        return targets
    }

    /// Why the command writes a login file, or nil.
    static func protection(_ command: ExtractedCommand, _ name: String, _ ctx: DecisionContext) -> String? {
        let base = PathName.base(name)
        for target in writtenPaths(base, Array(command.argv.dropFirst()), cwd: ctx.cwd) {
            if let file = covering(target, home: ctx.home) ?? (base == "tar" ? inside(target, home: ctx.home) : nil) {
                return "\(base) would write \(file), which runs at login outside jitsh: never allowed"
            }
        }
        return nil
    }
}
