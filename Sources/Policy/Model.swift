import ShellSyntax

/// allow < confirm < deny: a line's verdict is the worst of its parts.
public enum Verdict: String, Sendable, Comparable, CaseIterable {
    case allow, confirm, deny

    private var rank: Int {
        switch self {
        case .allow: return 0
        case .confirm: return 1
        case .deny: return 2
        }
    }

    public static func < (a: Verdict, b: Verdict) -> Bool { a.rank < b.rank }
}

/// Where something was written in the policy: `roles/readonly.yaml:12`.
public struct SourceRef: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line)" }
    public var detailed: String { "\(file):\(line):\(column)" }
}

public struct Rule: Sendable {
    public enum Kind: String, Sendable { case allow, deny, confirm }

    public var kind: Kind
    public var ref: SourceRef
    /// Command names, absolute paths, or `*` for any command.
    public var commands: [String]
    /// Alternatives; nil means any arguments.
    public var arguments: [ArgumentPattern]?
    public var options: [OptionMatcher]?
    public var reason: String?
    public var when: TimeCondition?
    public var hosts: HostCondition?
    public var confirm: ConfirmSpec?
    public var alert: Bool
    /// `signal: [HUP, TERM]`: the signals kill, pkill and killall send (see ToolFacts).
    public var signals: [String]? = nil
    /// `effects: [recursive, other-write]`: what chmod, chown and systemctl would do.
    public var effects: [String]? = nil
    /// `statements: [drop, delete-without-where]`: the kinds of what psql, mysql and redis-cli send.
    public var statements: [String]? = nil
    /// `helpers: [tbl, nroff, "sh -c *"]` (allow rules): programs the allowed program runs as part
    /// of its own job, allowed while it is an ancestor of the process that runs them.
    public var helpers: [Helper]? = nil

    /// Matches on the command alone: no arguments, options, time or host condition.
    public var isUnconditional: Bool {
        arguments == nil && options == nil && when == nil && hosts == nil && signals == nil && effects == nil && statements == nil
    }
}

/// A program a rule's command runs for its own work: a name (or absolute path) and, optionally,
/// the arguments it must be given, matched like a rule's `args`.
public struct Helper: Sendable, CustomStringConvertible {
    public var command: String
    public var arguments: ArgumentPattern?
    public var description: String { arguments.map { "\(command) \($0.text)" } ?? command }
}

public struct ConfirmSpec: Sendable, Equatable {
    public enum DryRun: Sendable, Equatable {
        /// jitsh's own: expand the arguments and walk what would be deleted.
        case builtin
        /// The tool's own dry run, from a template: `{argv}` is the command's argv.
        case command([String])
        case none
    }

    public enum Phrase: String, Sendable {
        /// The short host name, as molly-guard asks.
        case hostname
        /// The number of objects the dry run found.
        case count
        case yes
    }

    public var dryRun: DryRun
    public var phrase: Phrase
    /// When no dry run is possible (a dynamic argument, no template): deny, or confirm the line alone.
    public var withoutDryRun: Verdict

    public init(dryRun: DryRun = .builtin, phrase: Phrase = .hostname, withoutDryRun: Verdict = .deny) {
        self.dryRun = dryRun
        self.phrase = phrase
        self.withoutDryRun = withoutDryRun
    }
}

public struct FilesystemRules: Sendable, Equatable {
    public var readOnly: Bool
    public var writable: [String]
}

public struct ConfirmLimit: Sendable, Equatable {
    public var count: Int
    public var perSeconds: Int
}

public struct Role: Sendable {
    public var name: String
    public var description: String
    public var ref: SourceRef
    public var extends: [String]
    public var rules: [Rule]
    public var writes: [String]
    public var when: TimeCondition?
    public var hosts: HostCondition?
    /// Variables set for every command of the role (`LESSSECURE: "1"`).
    public var environment: [String: String]
    /// `guard: off` runs commands without the exec guard.
    public var guardEnabled: Bool?
    public var filesystem: FilesystemRules?
    public var confirmLimit: ConfirmLimit?
    /// Events that raise an alert: deny, confirm, guard.
    public var alertOn: Set<String>
    public var transfers: TransferRules?
    /// `snapshot:`: watched files, their check, what a failed change leads to.
    public var snapshot: [SnapshotRule]? = nil
    /// `snapshot_limit: 64MiB`: bytes of images one session may keep.
    public var snapshotLimit: Int? = nil
    /// Fleet mode: what a session may do with the central store away (Durability.swift).
    public var offline: OfflineRule? = nil
    /// Fleet mode: `recording: buffered | strict`.
    public var recording: RecordingMode? = nil
}

/// What scp, sftp and rsync requests may do under a role.
public struct TransferRules: Sendable, Equatable {
    public enum Mode: String, Sendable { case deny, readOnly = "read-only", readWrite = "read-write" }
    public var sftp: Mode
    public var scp: Mode
    public var rsync: Mode
}

/// `policy.yaml`: what holds for every role.
public struct GlobalSettings: Sendable {
    public var trustedPaths: [String]
    public var envDeny: [String]
    /// identity → groups.
    public var people: [String: [String]]
    public var ref: SourceRef?

    public static let defaultTrustedPaths = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    /// Always denied, whatever policy.yaml adds: variables that change what runs or how.
    public static let builtinEnvDeny = [
        "LD_*", "BASH_ENV", "ENV", "BASH_FUNC_*", "PATH", "IFS", "PS4", "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS",
        "PAGER", "MANPAGER", "SYSTEMD_PAGER", "LESSOPEN", "LESSCLOSE", "GIT_*", "KUBECONFIG", "PYTHON*", "PERL5*",
        "NODE_OPTIONS",
        // Variables that make a program load code or configuration from a file the user names:
        // code run inside an allowed program, where the exec guard does not look.
        "OPENSSL_*", "GCONV_PATH", "LOCPATH", "NLSPATH", "GLIBC_TUNABLES", "PERLLIB", "RUBYOPT", "RUBYLIB", "NODE_PATH",
        "LUA_INIT*", "LUA_PATH*", "LUA_CPATH*", "TCLLIBPATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
        "CLASSPATH", "GTK_MODULES", "GTK_PATH", "GST_PLUGIN_*", "GIO_MODULE_DIR", "QT_PLUGIN_PATH", "SASL_PATH",
        "AWKLIBPATH", "BASH_LOADABLES_PATH", "PSQLRC", "PSQL_PAGER", "PSQL_EDITOR", "CURL_HOME", "WGETRC", "SSLKEYLOGFILE",
        "VIMINIT", "EXINIT", "MYVIMRC", "MANOPT", "ZDOTDIR", "XDG_CONFIG_HOME", "SSH_ASKPASS", "SUDO_ASKPASS",
    ]

    /// `envDeny` compiled (patterns were checked when the policy loaded).
    public var envDenyGlobs: [Glob] { envDeny.compactMap { try? Glob($0) } }

    public init(trustedPaths: [String] = GlobalSettings.defaultTrustedPaths, envDeny: [String] = [],
                people: [String: [String]] = [:], ref: SourceRef? = nil) {
        self.trustedPaths = trustedPaths
        self.envDeny = GlobalSettings.builtinEnvDeny + envDeny.filter { !GlobalSettings.builtinEnvDeny.contains($0) }
        self.people = people
        self.ref = ref
    }
}

/// A loaded, checked policy: every role with its inherited rules, indexed by command name.
public struct Policy: Sendable {
    public var global: GlobalSettings
    public var roles: [String: CompiledRole]
    public var contracts: [Contract]
    public var warnings: [Diagnostic]

    public func role(_ name: String) -> CompiledRole? { roles[name] }
}

/// A role with what it inherits, ready to decide: rules indexed by the name or path they name.
public struct CompiledRole: Sendable {

    public var role: Role
    /// The role's own rules and those of the roles it extends, parents first.
    public var rules: [Rule]
    public var writes: [String]
    public var environment: [String: String]
    /// The role's snapshot settings, or those of the nearest role it extends; nil: nothing is watched.
    public var snapshot: SnapshotSettings?
    var index: [String: [Int]]
    var anyCommand: [Int]

    init(role: Role, rules: [Rule], writes: [String], environment: [String: String], snapshot: SnapshotSettings? = nil) {
        self.role = role
        self.snapshot = snapshot
        self.rules = rules
        self.writes = writes
        self.environment = environment
        var index: [String: [Int]] = [:]
        var anyCommand: [Int] = []
        for (k, rule) in rules.enumerated() {
            for c in rule.commands {
                if c == "*" { anyCommand.append(k) } else { index[c, default: []].append(k) }
            }
        }
        self.index = index
        self.anyCommand = anyCommand
    }

    public var name: String { role.name }
}

extension CompiledRole {
    /// The first of the role's `writes` patterns that covers `path` (`~` is `home`), or nil.
    public func writesPattern(covering path: String, home: String?) -> String? {
        writes.first { pattern in
            let expanded = pattern.hasPrefix("~") ? (home.map { $0 + pattern.dropFirst() } ?? pattern) : pattern
            return (try? Glob(expanded, path: true))?.matches(path) ?? false
        }
    }
}
