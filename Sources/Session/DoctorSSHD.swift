/// sshd's effective configuration as `sshd -T [-C user=…]` prints it: one `keyword value` a
/// line, keywords in lower case, repeated keywords (acceptenv) on several lines.
public struct SSHDEffectiveConfig: Sendable, Equatable {
    public var values: [String: [String]] = [:]

    public init(parsing text: String) {
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let parts = line.split(separator: " ", maxSplits: 1)
            values[parts[0].lowercased(), default: []].append(parts.count > 1 ? String(parts[1]) : "")
        }
    }

    public func first(_ key: String) -> String? { values[key]?.first }
    public func all(_ key: String) -> [String] { values[key] ?? [] }
    /// A yes/no keyword; absent counts as sshd's default (`fallback`).
    public func isNo(_ key: String, fallback: Bool = false) -> Bool {
        guard let v = first(key)?.lowercased() else { return fallback }
        return v == "no"
    }
}

/// One line of an authorized_keys file: its options (`restrict`, `command="…"` …).
public struct AuthorizedKey: Sendable, Equatable {
    public var line: Int
    public var options: [String: String]

    public var command: String? { options["command"] }
    /// `restrict` turns off forwarding, ~/.ssh/rc and more for this key.
    public var restricted: Bool {
        options["restrict"] != nil
            || (options["no-port-forwarding"] != nil && options["no-agent-forwarding"] != nil && options["no-x11-forwarding"] != nil)
    }

    /// Parses a file's text; lines without a key type are skipped (comments, blank lines).
    public static func parse(_ text: String) -> [AuthorizedKey] {
        var keys: [AuthorizedKey] = []
        for (k, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let (options, rest) = splitOptions(line)
            guard !rest.isEmpty else { continue }
            keys.append(AuthorizedKey(line: k + 1, options: options))
        }
        return keys
    }

    /// Options come first unless the line starts with a key type (ssh-…, ecdsa-…, sk-…).
    static func splitOptions(_ line: String) -> ([String: String], String) {
        let keyTypes = ["ssh-", "ecdsa-", "sk-"]
        if keyTypes.contains(where: line.hasPrefix) { return ([:], line) }
        var options: [String: String] = [:]
        var name = "", value = "", inValue = false, quoted = false
        var index = line.startIndex
        func finish() {
            if !name.isEmpty { options[name.lowercased()] = inValue ? value : "" }
            name = ""; value = ""; inValue = false
        }
        while index < line.endIndex {
            let c = line[index]
            if quoted {
                if c == "\\", line.index(after: index) < line.endIndex, line[line.index(after: index)] == "\"" {
                    value.append("\""); index = line.index(index, offsetBy: 2); continue
                }
                if c == "\"" { quoted = false } else { value.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                finish()
            } else if c == " " || c == "\t" {
                finish()
                return (options, String(line[index...]).trimmingCharacters(in: .whitespaces))
            } else if c == "=" && !inValue {
                inValue = true
            } else if inValue {
                value.append(c)
            } else {
                name.append(c)
            }
            index = line.index(after: index)
        }
        finish()
        return (options, "")
    }
}

/// An authorized_keys file of the user being checked, as found on disk.
public struct AuthorizedKeysFile: Sendable, Equatable {
    public var file: FileFacts
    public var keys: [AuthorizedKey]

    public init(file: FileFacts, keys: [AuthorizedKey]) {
        self.file = file
        self.keys = keys
    }
}

/// Rules over sshd's effective configuration for one user.
public enum SSHDRules {
    /// Variables that change how a program (jitsh, the shell, the dynamic loader, glibc) behaves:
    /// sshd must not take them from the client.
    public static let dangerousVariables = [
        "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GLIBC_TUNABLES", "GCONV_PATH", "LOCPATH", "NLSPATH", "MALLOC_CHECK_",
        "BASH_ENV", "ENV", "BASH_FUNC_x%%", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "IFS", "PATH", "HOME",
        "SHELL", "TMPDIR", "HOSTALIASES", "TERMINFO", "TERMCAP", "PAGER", "LESSOPEN", "EDITOR", "PYTHONPATH",
        "PYTHONSTARTUP", "PERL5LIB", "PERL5OPT", "RUBYOPT", "NODE_OPTIONS", "GIT_DIR", "GIT_CONFIG_GLOBAL",
        "SSH_ORIGINAL_COMMAND", "JITSH_CONFIG",
    ]

    /// The AcceptEnv patterns that let a client set a dangerous variable, with one it matches.
    public static func dangerousAcceptEnv(_ patterns: [String]) -> [(pattern: String, variable: String)] {
        var found: [(String, String)] = []
        for pattern in patterns.flatMap({ $0.split(separator: " ").map(String.init) }) {
            if let v = dangerousVariables.first(where: { wildcardMatch(pattern, $0) }) { found.append((pattern, v)) }
        }
        return found
    }

    /// sshd's pattern language for AcceptEnv: `*` and `?`.
    public static func wildcardMatch(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == UInt8(ascii: "?") || p[pi] == t[ti]) { pi += 1; ti += 1 }
            else if pi < p.count && p[pi] == UInt8(ascii: "*") { star = pi; mark = ti; pi += 1 }
            else if star >= 0 { pi = star + 1; mark += 1; ti = mark }
            else { return false }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }

    /// AuthorizedKeysFile's value expanded for a user (`%h`, `%u`, `%U`, `%%`; relative to home).
    public static func authorizedKeysPaths(_ value: String, user: String, home: String, uid: UInt32) -> [String] {
        value.split(separator: " ").map(String.init).filter { $0.lowercased() != "none" }.map { token in
            var out = "", percent = false
            for c in token {
                if percent {
                    switch c {
                    case "h": out += home
                    case "u": out += user
                    case "U": out += String(uid)
                    default: out.append(c)
                    }
                    percent = false
                } else if c == "%" { percent = true } else { out.append(c) }
            }
            return out.hasPrefix("/") ? out : home + "/" + out
        }
    }

    /// Whether a command line runs jitsh (an absolute path whose last component is jitsh).
    public static func runsJitsh(_ command: String) -> Bool {
        guard let path = command.split(separator: " ").first, path.hasPrefix("/") else { return false }
        return path.split(separator: "/").last == "jitsh"
    }

    /// Everything that must hold for `user` to reach this host only through jitsh.
    public static func evaluate(_ c: SSHDEffectiveConfig, user: String, keyFiles: [AuthorizedKeysFile], sharedAccount: Bool) -> [DoctorCheck] {
        let name = "sshd \(user)"
        var checks: [DoctorCheck] = []
        let forced = c.first("forcecommand").flatMap { $0.lowercased() == "none" ? nil : $0 }
        let keys = keyFiles.flatMap { f in f.keys.map { (f.file.path, $0) } }
        // Keys' command= counts only when no ForceCommand overrides it.
        let viaKeys = forced == nil
        let allRestricted = viaKeys && !keys.isEmpty && keys.allSatisfy { $0.1.restricted }

        if let forced {
            if runsJitsh(forced) {
                checks.append(.ok(name, "ForceCommand \(forced)"))
                if sharedAccount && !forced.contains("--as") {
                    checks.append(.warn(name, "\(user) is a shared account, but ForceCommand gives everyone in it the same identity",
                                        fix: "no ForceCommand for \(user); one root-owned key line per person: restrict,pty,command=\"… --as NAME\""))
                }
            } else {
                checks.append(.fail(name, "ForceCommand runs \(forced), not jitsh",
                                    fix: "ForceCommand /usr/local/bin/jitsh in the Match block for \(user)"))
            }
        } else {
            let bad = keys.filter { !($0.1.command.map(runsJitsh) ?? false) }
            if keys.isEmpty {
                checks.append(.fail(name, "no ForceCommand and no authorized key runs jitsh for \(user)",
                                    fix: "ForceCommand /usr/local/bin/jitsh in a Match block for \(user) (examples/sshd_config.group)"))
            } else if let (file, key) = bad.first {
                checks.append(.fail(name, "\(file):\(key.line) logs \(user) in without jitsh (no command=\"…/jitsh …\")",
                                    fix: "put restrict,pty,command=\"/usr/local/bin/jitsh --as NAME\" before the key, or ForceCommand"))
            } else {
                checks.append(.ok(name, "every key of \(user) (\(keys.count)) runs jitsh through command="))
            }
            for f in keyFiles where !f.file.administered {
                checks.append(.fail(name, "\(f.file.path) can be changed by someone other than root, so command= can be removed",
                                    fix: "AuthorizedKeysFile /etc/ssh/authorized_keys/%u, root-owned, mode 0644"))
            }
            // root's passwords count only under PermitRootLogin yes (Debian: prohibit-password).
            let passwordsOpen = !c.isNo("passwordauthentication") || !c.isNo("kbdinteractiveauthentication")
            if passwordsOpen && (user != "root" || c.first("permitrootlogin")?.lowercased() == "yes") {
                checks.append(.fail(name, "\(user) may log in with a password, which skips the keys' command=",
                                    fix: "PasswordAuthentication no and KbdInteractiveAuthentication no for \(user), or ForceCommand"))
            }
            if let command = c.first("authorizedkeyscommand"), command.lowercased() != "none" {
                checks.append(.warn(name, "keys from AuthorizedKeysCommand \(command) are not checked here"))
            }
        }

        let forwarding = ["allowtcpforwarding", "x11forwarding", "allowagentforwarding", "allowstreamlocalforwarding"]
        let open = forwarding.filter { !c.isNo($0) }
        if c.first("disableforwarding")?.lowercased() == "yes" || open.isEmpty || allRestricted {
            checks.append(.ok(name, "no forwarding"))
        } else {
            checks.append(.fail(name, "forwarding is on (\(open.joined(separator: ", "))): a tunnel bypasses jitsh",
                                fix: "DisableForwarding yes in the Match block for \(user)"))
        }
        if c.isNo("permituserrc") || allRestricted {
            checks.append(.ok(name, "no ~/.ssh/rc"))
        } else {
            checks.append(.fail(name, "PermitUserRC is on: ~/.ssh/rc runs before jitsh", fix: "PermitUserRC no in the Match block for \(user)"))
        }
        if c.isNo("permituserenvironment", fallback: true) {
            checks.append(.ok(name, "no ~/.ssh/environment"))
        } else {
            checks.append(.fail(name, "PermitUserEnvironment is \(c.first("permituserenvironment") ?? "on"): users set jitsh's environment",
                                fix: "PermitUserEnvironment no (a global setting)"))
        }
        if c.isNo("permittunnel", fallback: true) {
            checks.append(.ok(name, "no tun/tap tunnels"))
        } else {
            checks.append(.fail(name, "PermitTunnel is \(c.first("permittunnel") ?? "on")", fix: "PermitTunnel no"))
        }
        let risky = dangerousAcceptEnv(c.all("acceptenv"))
        if risky.isEmpty {
            checks.append(.ok(name, "AcceptEnv takes nothing dangerous"))
        } else {
            let list = risky.map { "\($0.pattern) (\($0.variable))" }.joined(separator: ", ")
            checks.append(.fail(name, "AcceptEnv lets the client set \(list)", fix: "AcceptEnv LANG LC_* only"))
        }
        return checks
    }
}
