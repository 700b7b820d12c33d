import Policy

/// `jitsh doctor`'s verdicts. Every rule here is a pure function over facts gathered elsewhere
/// (DoctorProbe), so each can be tested with values: a mode, an owner, a line of `sshd -T`.
public struct DoctorCheck: Sendable, Equatable, Encodable {
    public enum Status: String, Sendable, Encodable {
        case ok, warn, fail, skip
    }

    /// What was checked: "binary", "store", "sshd alice" …
    public var name: String
    public var status: Status
    /// What was found, in one line.
    public var message: String
    /// What to do about it (nil when nothing needs doing).
    public var fix: String?

    public init(_ name: String, _ status: Status, _ message: String, fix: String? = nil) {
        self.name = name
        self.status = status
        self.message = message
        self.fix = fix
    }

    public static func ok(_ name: String, _ message: String) -> DoctorCheck { DoctorCheck(name, .ok, message) }
    public static func fail(_ name: String, _ message: String, fix: String) -> DoctorCheck { DoctorCheck(name, .fail, message, fix: fix) }
    public static func warn(_ name: String, _ message: String, fix: String? = nil) -> DoctorCheck { DoctorCheck(name, .warn, message, fix: fix) }
    public static func skip(_ name: String, _ message: String) -> DoctorCheck { DoctorCheck(name, .skip, message) }
}

/// What `stat` says about one path.
public struct FileFacts: Sendable, Equatable {
    public var path: String
    public var exists: Bool
    public var isDirectory = false
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    /// Permission bits with setuid, setgid and sticky (mode & 0o7777).
    public var mode: UInt32 = 0
    /// Owned by root and writable by nobody else, all the way up (Privilege.isAdministered).
    public var administered = false

    public init(path: String, exists: Bool, isDirectory: Bool = false, uid: UInt32 = 0, gid: UInt32 = 0, mode: UInt32 = 0,
                administered: Bool = false) {
        self.path = path
        self.exists = exists
        self.isDirectory = isDirectory
        self.uid = uid
        self.gid = gid
        self.mode = mode
        self.administered = administered
    }

    public var octal: String {
        let s = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
}

/// The rules over files, the store, the kernel and the clock.
public enum DoctorRules {
    /// sshd's forced command must be root:jitsh 2755: setgid gives it the store, root ownership
    /// keeps anyone else from replacing it.
    public static func binary(_ f: FileFacts, jitshGroup: UInt32?) -> DoctorCheck {
        let name = "binary"
        let fix = "chown root:jitsh \(f.path) && chmod 2755 \(f.path) (make install does)"
        guard f.exists else { return .fail(name, "\(f.path) does not exist", fix: "make install") }
        guard let jitshGroup else { return .fail(name, "group jitsh does not exist", fix: "groupadd --system jitsh, then: \(fix)") }
        if f.uid != 0 || f.gid != jitshGroup || f.mode != 0o2755 {
            return .fail(name, "\(f.path) is \(owner(f, jitshGroup)) \(f.octal), not root:jitsh 2755", fix: fix)
        }
        if !f.administered {
            return .fail(name, "a directory above \(f.path) is writable by someone other than root", fix: "chmod go-w on its directories")
        }
        return .ok(name, "\(f.path) is root:jitsh 2755")
    }

    /// The store directory: root:jitsh 0770, so users reach it only through jitsh.
    public static func storeDirectory(_ f: FileFacts, jitshGroup: UInt32?) -> DoctorCheck {
        let name = "store directory"
        let fix = "chown root:jitsh \(f.path) && chmod 0770 \(f.path)"
        guard f.exists else { return .fail(name, "\(f.path) does not exist", fix: "jitsh init (make install runs it)") }
        guard f.isDirectory else { return .fail(name, "\(f.path) is not a directory", fix: "move it away, then jitsh init") }
        if f.uid != 0 || f.gid != jitshGroup || f.mode & 0o007 != 0 || f.mode & 0o070 != 0o070 {
            return .fail(name, "\(f.path) is \(owner(f, jitshGroup)) \(f.octal), not root:jitsh 0770", fix: fix)
        }
        return .ok(name, "\(f.path) is root:jitsh \(f.octal)")
    }

    /// The database and its -wal/-shm: group jitsh may read and write, others nothing.
    public static func storeFiles(_ files: [FileFacts], jitshGroup: UInt32?) -> DoctorCheck {
        let name = "store files"
        guard let main = files.first, main.exists else {
            return .fail(name, "the store \(files.first?.path ?? "") does not exist", fix: "jitsh init (make install runs it)")
        }
        for f in files where f.exists {
            if f.gid != jitshGroup || f.mode & 0o007 != 0 || f.mode & 0o060 != 0o060 {
                return .fail(name, "\(f.path) is \(owner(f, jitshGroup)) \(f.octal): group jitsh must read and write it, others nothing",
                             fix: "chgrp jitsh \(f.path) && chmod 0660 \(f.path)")
            }
        }
        return .ok(name, "\(main.path) is group jitsh, \(main.octal)")
    }

    /// `PRAGMA integrity_check` said this ("ok" when healthy); `error` when the store did not open.
    public static func integrity(_ lines: [String]?, error: String?, path: String) -> DoctorCheck {
        let name = "store integrity"
        if let error { return .fail(name, error, fix: "fix what the message says; restore \(path) from a backup if it is corrupt") }
        guard let lines, lines == ["ok"] else {
            return .fail(name, "\(path): \(lines?.prefix(3).joined(separator: "; ") ?? "no answer")",
                         fix: "stop sessions, restore \(path) from a backup")
        }
        return .ok(name, "integrity_check ok")
    }

    /// The signing key: readable by group jitsh, by no one else, and written only by root.
    public static func signingKey(_ f: FileFacts, jitshGroup: UInt32?, loads: Bool) -> DoctorCheck {
        let name = "signing key"
        guard f.exists else { return .fail(name, "\(f.path) does not exist: sessions cannot be signed", fix: "jitsh init") }
        if f.mode & 0o007 != 0 {
            return .fail(name, "\(f.path) is \(f.octal): others may read the key and forge recordings",
                         fix: "chmod 0640 \(f.path), and make a new key (jitsh init after moving it away) if it leaked")
        }
        if f.uid != 0 || f.gid != jitshGroup || f.mode & 0o040 == 0 || f.mode & 0o022 != 0 {
            return .fail(name, "\(f.path) is \(owner(f, jitshGroup)) \(f.octal), not root:jitsh 0640",
                         fix: "chown root:jitsh \(f.path) && chmod 0640 \(f.path)")
        }
        guard loads else { return .fail(name, "\(f.path) is not an Ed25519 key", fix: "move it away and run jitsh init") }
        return .ok(name, "\(f.path) is root:jitsh \(f.octal)")
    }

    /// jitsh.yaml and the policy directory decide who gets in: only root may change them.
    public static func administered(_ f: FileFacts, what: String) -> DoctorCheck {
        guard f.exists else { return .fail(what, "\(f.path) does not exist", fix: "make install") }
        guard f.administered else {
            return .fail(what, "\(f.path) (or a directory above it) is not owned by root or is writable by others",
                         fix: "chown -R root \(f.path) && chmod -R go-w \(f.path)")
        }
        return .ok(what, "\(f.path) is changed only by root")
    }

    /// Yama's ptrace_scope (nil: no Yama) and what the probe said. The exec guard's jobs call
    /// PTRACE_TRACEME as the user, which scope 2 (admin only) and 3 (none) forbid.
    public static func ptrace(scope: Int?, probeErrno: Int32) -> DoctorCheck {
        let name = "ptrace"
        if let scope, scope >= 2 {
            return .fail(name, "kernel.yama.ptrace_scope is \(scope): users' jobs cannot be traced, so the exec guard cannot run",
                         fix: "sysctl -w kernel.yama.ptrace_scope=1 and set it in /etc/sysctl.d (3 needs a reboot)")
        }
        if probeErrno != 0 {
            return .fail(name, "PTRACE_TRACEME failed (\(errnoName(probeErrno))): seccomp or the container forbids ptrace",
                         fix: "allow ptrace for this host (e.g. the container's seccomp profile), or no job can run guarded")
        }
        return .ok(name, "a child can be traced (exec guard)" + (scope.map { ", ptrace_scope \($0)" } ?? ""))
    }

    /// Landlock's ABI version (or the negated errno); required when a role asks for a read-only
    /// file system, since such a role's jobs are refused without it.
    public static func landlock(abi: Int32, rolesNeedingIt: [String]) -> DoctorCheck {
        let name = "landlock"
        if abi >= 1 { return .ok(name, "Landlock ABI \(abi)") }
        let why = abi == -38 ? "not in this kernel (5.13 or later has it)" : "disabled (\(errnoName(-abi)))"
        let fix = "boot with lsm=landlock,… (see /sys/kernel/security/lsm), or a kernel with CONFIG_SECURITY_LANDLOCK"
        if rolesNeedingIt.isEmpty { return .warn(name, "Landlock is \(why); no role asks for it", fix: fix) }
        return .fail(name, "Landlock is \(why), but roles \(rolesNeedingIt.joined(separator: ", ")) need it (filesystem:)", fix: fix)
    }

    /// sshd starts the forced command through the login shell: a start-up file the user can
    /// write (or create, in a home they own) runs before jitsh, with no grant and no guard.
    public static func loginShell(user: String, uid: UInt32, shell: String, home: FileFacts, files: [FileFacts], jitsh: String) -> DoctorCheck {
        let name = "login shell \(user)"
        let fix = "chsh -s \(jitsh) \(user) (jitsh then runs sshd's command itself; list it in /etc/shells), "
            + "or make \(user)'s home and these files root's and not writable by \(user)"
        guard let known = LoginShell.startupFiles(of: shell) else {
            return .warn(name, "\(shell) is a login shell jitsh does not know: make sure it reads no file \(user) can write", fix: fix)
        }
        if known.isEmpty { return .ok(name, "\(shell) reads no start-up file before jitsh") }
        func writable(_ f: FileFacts) -> Bool { f.uid == uid || f.mode & 0o022 != 0 }
        let changeable = files.filter { $0.exists ? writable($0) : home.exists && writable(home) }
        guard let first = changeable.first else {
            return .ok(name, "\(shell)'s start-up files are not writable by \(user)")
        }
        let how = first.exists ? "\(user) can write \(first.path)" : "\(user) can create \(first.path) (the home is theirs)"
        return .fail(name, "\(shell) reads start-up files before jitsh runs: \(how), and what it holds runs unguarded at every login",
                     fix: fix)
    }

    /// Webhook notifications are sent with curl(1); without it they wait in the outbox.
    public static func webhook(_ url: String?, curl: String?) -> DoctorCheck {
        guard let url else { return .skip("webhook", "no webhook in jitsh.yaml: grant changes and alerts are not sent anywhere") }
        // Only the host: a webhook URL often carries its secret in the path.
        let afterScheme = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        let host = afterScheme.count > 2 && !afterScheme[2].isEmpty ? String(afterScheme[2].split(separator: "@").last ?? afterScheme[2]) : "the webhook"
        guard let curl else {
            return .fail("webhook", "a webhook (\(host)) is set but curl is not installed, so notifications only queue up",
                         fix: "apt-get install curl")
        }
        return .ok("webhook", "notifications go to \(host) through \(curl)")
    }

    /// The clock must not run behind this build or behind the newest event in the store:
    /// grants expire by it. `now` and `newestEvent` in microseconds, `buildTime` in seconds (`__DATE__`).
    public static func clock(now: Int64, buildTime: Int64, newestEvent: Int64?) -> DoctorCheck {
        let name = "clock"
        let fix = "set the time (timedatectl set-ntp true, or chrony/systemd-timesyncd)"
        // __DATE__ is in the build machine's zone: allow a day.
        if buildTime > 0, now < (buildTime - 86_400) * Duration.second {
            return .fail(name, "the system time is before this jitsh was built", fix: fix)
        }
        if let newestEvent, now < newestEvent - 5 * Duration.second {
            return .fail(name, "the system time is \((newestEvent - now) / Duration.second) s behind the newest event in the store", fix: fix)
        }
        return .ok(name, "the system time is after the build and the newest store event")
    }

    static func owner(_ f: FileFacts, _ jitshGroup: UInt32?) -> String {
        let user = f.uid == 0 ? "root" : "uid \(f.uid)"
        let group = f.gid == jitshGroup ? "jitsh" : f.gid == 0 ? "root" : "gid \(f.gid)"
        return "\(user):\(group)"
    }

    static func errnoName(_ e: Int32) -> String {
        switch e {
        case 1: return "EPERM"
        case 13: return "EACCES"
        case 38: return "ENOSYS"
        case 95: return "EOPNOTSUPP"
        default: return "errno \(e)"
        }
    }
}
