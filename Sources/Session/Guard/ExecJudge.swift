import CSpawn
import Foundation
import Posix
import ShellSyntax
import Policy
import Store
#if canImport(Glibc)
import Glibc
#endif

/// What a program launched inside a job is, as the kernel sees it at exec.
struct ExecImage {
    var pid: pid_t
    /// `/proc/PID/exe`: the file really loaded (a script's interpreter).
    var executable: String
    /// `/proc/PID/cmdline`.
    var argv: [String]
    /// The name of the process that launched it (read only when it is blocked: messages need it).
    var parent: String { ExecImage.parentName(pid) }
    /// When the program is a script (`#!`): its path and its arguments, as the kernel passed them
    /// after the interpreter.
    var script: ExecScript?

    static func read(_ pid: pid_t) -> ExecImage? {
        // The kernel lets a process read another's exe and cmdline only with matching groups:
        // jitsh has the person's own (JitshGroup), so it reads what their job is.
        // Plain system calls: this runs at every exec of every job, Foundation's file APIs cost 4×.
        guard let exe = link("/proc/\(pid)/exe") else { return nil }
        let cmdline = contents("/proc/\(pid)/cmdline")
        var argv = cmdline.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if argv.last == "" { argv.removeLast() }
        var image = ExecImage(pid: pid, executable: exe, argv: argv)
        image.script = script(pid: pid, exe: exe, argv: argv)
        return image
    }

    static func parentName(_ pid: pid_t) -> String {
        let stat = String(decoding: contents("/proc/\(pid)/stat"), as: UTF8.self)
        guard let close = stat.lastIndex(of: ")") else { return "?" }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, let ppid = Int32(fields[1]) else { return "?" }
        return String(decoding: contents("/proc/\(ppid)/comm"), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The programs `pid` descends from, nearest first, up to (not including) `top`: each as
    /// its argv with the program really run first (a root-owned script by its path). Read with
    /// the user's groups, like the image itself.
    static func callers(of pid: pid_t, below top: pid_t) -> [[String]] {
        var out: [[String]] = []
        var current = pid
        for _ in 0..<32 {
            guard let ppid = parentPID(current), ppid > 1, ppid != top, let image = read(ppid) else { break }
            if let script = image.script, script.fixed {
                out.append([script.path] + script.arguments)
            } else {
                out.append([image.executable] + image.argv.dropFirst())
            }
            current = ppid
        }
        return out
    }

    static func parentPID(_ pid: pid_t) -> pid_t? {
        let stat = String(decoding: contents("/proc/\(pid)/stat"), as: UTF8.self)
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    static func link(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count)
        guard n > 0 else { return nil }
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func contents(_ path: String, limit: Int = 1 << 20) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var out: [UInt8] = []
        while out.count < limit, let bytes = readSome(fd, max: 16384), !bytes.isEmpty { out += bytes }
        return out
    }

    /// The script the kernel ran, if this exec was one: AT_EXECFN (the file named to execve)
    /// is another file than the image loaded. Its path as given and as resolved, whether nobody
    /// but root can change what that path leads to, and its arguments (after it in argv).
    /// `sh -c STRING` is never a script, however STRING reads: its exec named the shell.
    static func script(pid: pid_t, exe: String, argv: [String]) -> ExecScript? {
        guard let named = execFilename(pid), !named.isEmpty else { return nil }
        var given = named
        if given.hasPrefix("/dev/fd/") {
            given = "/proc/\(pid)/fd/" + given.dropFirst("/dev/fd/".count)
        } else if !given.hasPrefix("/") {
            guard let cwd = link("/proc/\(pid)/cwd") else { return nil }
            given = cwd + "/" + given
        }
        var a = stat(), b = stat()
        guard stat(given, &a) == 0, stat("/proc/\(pid)/exe", &b) == 0 else { return nil }
        if a.st_dev == b.st_dev && a.st_ino == b.st_ino { return nil }
        guard let k = argv.indices.dropFirst().first(where: { argv[$0] == named }) else { return nil }
        let real = realpath(given, nil).map { p in defer { free(p) }; return String(cString: p) } ?? given
        let shown = given.hasPrefix("/proc/") ? real : (PathName.resolved(given, cwd: "/") ?? given)
        return ExecScript(path: shown, realPath: real, fixed: PathTrust.fixed(given), arguments: Array(argv.dropFirst(k + 1)))
    }

    /// The filename the exec was called with, read from the stopped task's auxiliary vector.
    static func execFilename(_ pid: pid_t) -> String? {
        let auxv = contents("/proc/\(pid)/auxv", limit: 8192)
        let word = MemoryLayout<UInt>.size
        var address: UInt?
        var k = 0
        while k + 2 * word <= auxv.count {
            let type = auxv[k..<k + word].reversed().reduce(UInt(0)) { $0 << 8 | UInt($1) }
            let value = auxv[k + word..<k + 2 * word].reversed().reduce(UInt(0)) { $0 << 8 | UInt($1) }
            if type == 31 { address = value; break } // AT_EXECFN
            if type == 0 { break }
            k += 2 * word
        }
        guard let address else { return nil }
        let fd = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4096, off_t(Int64(bitPattern: UInt64(address)))) }
        guard n > 0, let end = buffer.prefix(n).firstIndex(of: 0) else { return nil }
        return String(decoding: buffer[..<end], as: UTF8.self)
    }
}

/// A script the kernel ran (`#!`), as the exec guard judges it.
struct ExecScript {
    var path: String
    var realPath: String
    /// Only root can change which file the path leads to and what it holds: a rule naming the
    /// script may allow it. Otherwise the script could be swapped after the decision, so only
    /// its interpreter's rule counts.
    var fixed: Bool
    var arguments: [String]
}

/// Whether a path leads, whoever asks, to a file only root controls.
enum PathTrust {
    /// Every directory on the way (symlinks followed) is root's and not writable by others (or
    /// sticky with a root-owned entry), every link is root's, and the file is root's and not
    /// writable by group or others.
    static func fixed(_ path: String) -> Bool {
        var pending = path.split(separator: "/").map(String.init)
        var current = "/"
        var hops = 0
        while !pending.isEmpty {
            let name = pending.removeFirst()
            if name == "." || name.isEmpty { continue }
            if name == ".." { current = PathName.directory(current); continue }
            let next = current == "/" ? "/" + name : current + "/" + name
            var entry = stat(), directory = stat()
            guard lstat(next, &entry) == 0, lstat(current, &directory) == 0, directory.st_uid == 0 else { return false }
            let shared = directory.st_mode & 0o022 != 0
            if shared && !(directory.st_mode & S_ISVTX != 0 && entry.st_uid == 0) { return false }
            if entry.st_mode & S_IFMT == S_IFLNK {
                hops += 1
                guard entry.st_uid == 0, hops < 40, let target = ExecImage.link(next) else { return false }
                if target.hasPrefix("/") { current = "/" }
                pending = target.split(separator: "/").map(String.init) + pending
                continue
            }
            current = next
        }
        var file = stat()
        return stat(current, &file) == 0 && file.st_mode & S_IFMT == S_IFREG && file.st_uid == 0 && file.st_mode & 0o022 == 0
    }
}

/// What decides a job's execs: the line's role, context and confirmations, taken when the
/// job starts (they change only between lines), and the clock, read at each exec.
struct ExecRules: Sendable {
    var decider: Decider
    var role: String
    var context: DecisionContext
    var confirmed: [ConfirmedCommand]
    /// Wall-clock seconds now, as time windows count.
    var now: @Sendable () -> Int64
}

/// The exec guard's decision on an exec, before anything is said or recorded about it.
enum ExecVerdict: Equatable, Sendable {
    case allow
    /// Allowed, with a note the person reads before the program runs (it is setuid).
    case allowSaying(String)
    case block(program: String, parent: String, reason: String, rule: String)
}

/// Decides execs on the guard thread: the role's rules on the program really loaded. It says and
/// records nothing itself (the session does that with the verdict).
final class ExecJudge: @unchecked Sendable {
    private let trustedPaths: [String]
    /// Links in the trusted directories by the file they lead to, found once, on the guard thread.
    private var aliases: [String: [String]]?

    init(trustedPaths: [String]) { self.trustedPaths = trustedPaths }

    /// Why an image may never run whatever the policy says, or nil.
    static func forbiddenImage(_ exe: String) -> String? {
        if exe.hasPrefix("/memfd:") { return "it runs from memory (memfd), not from a file" }
        if exe.hasSuffix(" (deleted)") { return "its file was deleted" }
        let base = PathName.base(exe)
        if base.hasPrefix("ld-linux") || (base.hasPrefix("ld-") && base.contains(".so")) || base == "ld.so" {
            return "it is the dynamic loader run directly"
        }
        return nil
    }

    /// The verdict on the program `pid` has just loaded (stopped at its exec event).
    func verdict(_ pid: pid_t, _ rules: ExecRules) -> ExecVerdict {
        guard let image = ExecImage.read(pid) else {
            return .block(program: "process \(pid)", parent: "?", reason: "what it runs cannot be read", rule: "")
        }
        let exe = image.executable
        if let why = ExecJudge.forbiddenImage(exe) {
            return .block(program: exe, parent: image.parent, reason: why, rule: "")
        }
        let rest = Array(image.argv.dropFirst())
        let decider = rules.decider, role = rules.role
        func decide(_ context: DecisionContext) -> CommandDecision {
            var decision = decider.decideExec(argv: [exe] + rest, role: role, context: context)
            if decision.judgement.verdict != .allow, let script = image.script, script.fixed {
                // A script is allowed by a rule naming it (by the path run or the file it leads to);
                // its interpreter then runs only it.
                for path in Set([script.path, script.realPath]) {
                    let d = decider.decideExec(argv: [path] + script.arguments, role: role, context: context)
                    if d.judgement.verdict < decision.judgement.verdict { decision = d }
                }
            }
            if decision.judgement.verdict != .allow {
                // Reached through a link in a trusted directory (vi → vim.basic): the link's name counts too.
                for alias in execAliases(of: exe) {
                    let d = decider.decideExec(argv: [alias] + rest, role: role, context: context)
                    if d.judgement.verdict < decision.judgement.verdict { decision = d }
                }
            }
            return decision
        }
        var context = rules.context
        context.epochSeconds = rules.now()
        var decision = decide(context)
        if decision.judgement.verdict == .deny, decision.judgement.rule == nil {
            // No rule allows it: it may be a helper of an allowed program it descends from (man → tbl).
            var helped = context
            helped.callers = ExecImage.callers(of: pid, below: getpid())
            if !helped.callers.isEmpty {
                let d = decide(helped)
                if d.judgement.verdict < decision.judgement.verdict { decision = d }
            }
        }
        let name = PathName.base(exe)
        let program = image.script.map { "\($0.path) (a script run by \(exe)\($0.fixed ? "" : ", which others than root can change"))" } ?? exe
        switch decision.judgement.verdict {
        case .allow:
            break
        case .confirm:
            // A confirmed script (Debian's psql is pg_wrapper, a perl script) counts by its own
            // name too, with the arguments it was given after it.
            let names = [name] + execAliases(of: exe).map(PathName.base) + (image.argv.first.map { [PathName.base($0)] } ?? [])
            let asScript = image.script.map { s in
                rules.confirmed.contains { $0.admits(names: [PathName.base(s.path), PathName.base(s.realPath)], arguments: s.arguments) }
            } ?? false
            guard asScript || rules.confirmed.contains(where: { $0.admits(names: names, arguments: rest) }) else {
                return .block(program: program, parent: image.parent, reason: "\(name) needs confirmation: run it as a line of its own",
                              rule: decision.judgement.rule?.description ?? "")
            }
        case .deny:
            return .block(program: program, parent: image.parent, reason: decision.judgement.reason,
                          rule: decision.judgement.rule?.description ?? "")
        }
        var st = stat()
        if stat(exe, &st) == 0, st.st_mode & (S_ISUID | S_ISGID) != 0 {
            return .allowSaying(name == "sudo"
                ? "jitsh: sudo does not work in a guarded session; ask for a role that grants what you need"
                : "jitsh: \(name) is setuid: in a guarded session it runs without its privilege")
        }
        return .allow
    }

    /// Links in the trusted directories that lead to `exe`.
    func execAliases(of exe: String) -> [String] {
        if aliases == nil {
            var map: [String: [String]] = [:]
            for dir in trustedPaths {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                    let path = dir + "/" + name
                    guard (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil,
                          let real = realpath(path, nil) else { continue }
                    map[String(cString: real), default: []].append(path)
                    free(real)
                }
            }
            aliases = map
        }
        return aliases?[exe] ?? []
    }
}

extension Session: ExecGuardDelegate {
    func settle(_ pid: pid_t, _ verdict: ExecVerdict) -> Bool {
        switch verdict {
        case .allow:
            return true
        case .allowSaying(let note):
            guardSay(note)
            return true
        case .block(let program, let parent, let reason, let rule):
            return blockExec(program: program, parent: parent, reason: reason, rule: rule)
        }
    }

    /// What decides the execs of a job started now.
    var execRules: ExecRules {
        let wall: @Sendable () -> Int64
        if let system = clock as? SystemClock {
            wall = { system.wall / Duration.second }
        } else {
            // A test's manual clock moves only on the session's thread: its time at the start.
            let fixed = now / Duration.second
            wall = { fixed }
        }
        return ExecRules(decider: decider, role: setup.role.name, context: decisionContext, confirmed: confirmed, now: wall)
    }

    func blockExec(program: String, parent: String, reason: String, rule: String) -> Bool {
        let text = "jitsh: blocked \(program) launched by \(parent): \(reason)"
        guardSay(text)
        _ = audit(.`guard`, line: program, decision: .deny, rule: rule, reason: reason,
              data: JSONText.object(["parent": .string(parent)]).text, alert: alerts("guard"))
        recorder.marker(["event": "guard", "program": .string(program), "parent": .string(parent), "reason": .string(reason)])
        return false
    }

    /// Program names and arguments are the user's: shown, never acted on by the terminal.
    func guardSay(_ message: String) {
        let text = Visible.text(message)
        if terminal.isTerminal { say("\r\n\(text)\r\n") } else { say("\(text)\n", stream: .stderr) }
    }

    // MARK: Setting up a job

    /// The guard and Landlock, as the role asks; throws when a required one cannot be had.
    static func guardAvailability() -> String? {
        if let level = DoctorProbe.ptraceScope(), level >= 2 {
            // Scope 2 already forbids PTRACE_TRACEME to unprivileged children, as 3 forbids all ptrace.
            return "ptrace is restricted on this host (kernel.yama.ptrace_scope = \(level))"
        }
        return nil
    }

    /// A Landlock ruleset for the role's `filesystem: {read_only: true, writable: […]}`, or -1.
    func landlockRuleset() throws -> Int32 {
        guard let fs = setup.role.role.filesystem, fs.readOnly else { return -1 }
        guard jitsh_landlock_abi() >= 1 else {
            throw Spawner.SpawnError(errno: ENOSYS, what: "role \(setup.role.name)'s read-only file system (this kernel has no Landlock)")
        }
        let terminals = ["/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/pts", "/dev/ptmx"]
        let writable = fs.writable.map { $0.hasPrefix("~") ? setup.home + $0.dropFirst() : $0 }
        for path in writable {
            if let file = Session.loginFile(path, home: setup.home, ancestors: true) {
                throw Spawner.SpawnError(errno: EPERM, what: "role \(setup.role.name)'s writable path \(path): it would let \(file) be written, "
                                         + "which runs at login outside jitsh (name directories beside it instead)")
            }
        }
        let paths = writable + terminals
        var cPaths = paths.map { strdup($0) }
        defer { for p in cPaths { free(p) } }
        var failed: Int32 = -1
        let fd = cPaths.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) {
                jitsh_landlock_ruleset($0, Int32(buffer.count), &failed)
            }
        }
        guard fd >= 0 else {
            throw Spawner.SpawnError(errno: errno, what: "the read-only file system" + (failed >= 0 ? " (at \(paths[Int(failed)]))" : ""))
        }
        return fd
    }

    /// Starts a job: traced when the role is guarded, under Landlock when it says so.
    func spawnJob(_ spec: Spawner.Spec) throws -> pid_t {
        var spec = spec
        spec.trace = guardian != nil
        spec.landlock = try landlockRuleset()
        defer { if spec.landlock >= 0 { close(spec.landlock) } }
        guard let guardian else { return try Spawner.spawn(spec).pid }
        do { return try guardian.spawn(spec, rules: execRules) } catch let error as ExecGuard.AttachError {
            throw Spawner.SpawnError(errno: error.errno, what: "\(spec.arguments.first ?? spec.path) under the exec guard")
        }
    }
}
