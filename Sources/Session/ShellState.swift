import Foundation
import Policy
import ShellSyntax

/// What carries from one line to the next: the working directory and variables, never
/// functions, aliases or shell options. Each line runs in a fresh bash; a prelude restores this
/// state and an EXIT trap reports it back on descriptor 3. That report is untrusted (the line's
/// programs can write to descriptor 3 too), so it is parsed strictly and filtered like a line.
struct ShellState {
    var cwd: String
    /// name → (value, exported)
    var variables: [String: (value: String, exported: Bool)] = [:]
    /// The clean environment every line starts from (HOME, USER, PATH, TERM, LANG, the role's).
    let base: [String: String]
    let envDeny: [Glob]

    /// Variables bash sets itself: never carried.
    static let setByBash: Set<String> = [
        "_", "SHLVL", "PPID", "PWD", "OPTIND", "OPTERR", "OPTARG", "IFS", "PS1", "PS2", "PS3", "PS4", "HOSTNAME", "HOSTTYPE",
        "MACHTYPE", "OSTYPE", "UID", "EUID", "GROUPS", "PIPESTATUS", "FUNCNAME", "LINENO", "RANDOM", "SECONDS", "SRANDOM",
        "EPOCHSECONDS", "EPOCHREALTIME", "COLUMNS", "LINES", "HISTCMD", "HISTFILE", "HISTFILESIZE", "HISTSIZE", "DIRSTACK",
        "SHELLOPTS", "BASHOPTS", "MAIL", "MAILCHECK", "COMP_WORDBREAKS", "TERM", "SHELL", "JITSH_SESSION",
    ]

    /// Whether the line reports its state back: not in exec mode, where no line follows it.
    var reportsBack = true

    /// The script bash runs: the prelude, then the decided line exactly as decided.
    func script(for line: String) -> String {
        var prelude = reportsBack ? "__jitsh_state() { declare -p >&3 2>/dev/null; }\ntrap __jitsh_state EXIT\n" : ""
        prelude += "cd -- \(Quote.always(cwd)) 2>/dev/null || cd\n"
        for name in variables.keys.sorted() {
            guard let v = variables[name] else { continue }
            prelude += (v.exported ? "export " : "") + "\(name)=\(Quote.always(v.value))\n"
        }
        return prelude + line
    }

    /// For execve: the base, with exported carried variables.
    var processEnvironment: [String: String] {
        var env = base
        for (name, v) in variables where v.exported { env[name] = v.value }
        env["PWD"] = cwd
        return env
    }

    /// What a decision may assume: everything in it is known, so unset names are unset.
    var shellEnvironment: ShellEnvironment {
        var vars = base
        for (name, v) in variables { vars[name] = v.value }
        vars["PWD"] = cwd
        return ShellEnvironment(variables: vars, complete: true)
    }

    /// An exported variable larger than this would make every exec fail (E2BIG: the kernel
    /// takes at most 128 KiB in one environment string); it is not carried.
    static let exportLimit = 96 << 10

    /// Takes in what the EXIT trap reported (`declare -p` output); returns the names of exported
    /// variables too large to carry.
    @discardableResult
    mutating func absorb(_ dump: [UInt8]) -> [String] {
        guard !dump.isEmpty, let extraction = try? ShellSyntax.extract(dump, limits: Limits(maxBytes: 8 << 20, maxDepth: 4)) else { return [] }
        var tooLarge: [String] = []
        var seen: [String: (String, Bool)] = [:]
        var newCwd: String?
        for c in extraction.commands where c.context.isEmpty && c.via.isEmpty {
            guard c.name == "declare", c.argv.count == 3, c.argv.allSatisfy(\.isStatic) else { continue }
            let flags = c.argv[1].text
            guard flags == "--" || flags == "-x" else { continue }
            let assignment = c.argv[2].text
            guard let eq = assignment.firstIndex(of: "=") else { continue }
            let name = String(assignment[..<eq])
            let value = String(assignment[assignment.index(after: eq)...])
            guard !name.isEmpty, name.utf8.allSatisfy({ $0 == 95 || ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) }),
                  !(name.first?.isNumber ?? true) else { continue }
            if name == "PWD" { newCwd = value; continue }
            if ShellState.setByBash.contains(name) || name.hasPrefix("BASH") { continue }
            if envDeny.contains(where: { $0.matches(name) }) { continue }
            if base[name] == value && flags == "-x" { continue }
            if flags == "-x" && name.utf8.count + value.utf8.count >= ShellState.exportLimit {
                tooLarge.append(name)
                continue
            }
            seen[name] = (value, flags == "-x")
        }
        if let newCwd, newCwd.hasPrefix("/") { cwd = newCwd }
        variables = seen.mapValues { (value: $0.0, exported: $0.1) }
        return tooLarge.sorted()
    }
}
