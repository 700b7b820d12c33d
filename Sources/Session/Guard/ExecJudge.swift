import CSpawn
import Foundation
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
    var script: (path: String, arguments: [String])?

    static func read(_ pid: pid_t) -> ExecImage? {
        // The kernel lets a process read another's exe and cmdline only with matching groups.
        let previous = jitsh_setfsgid(getgid())
        defer { _ = jitsh_setfsgid(gid_t(previous)) }
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
        let previous = jitsh_setfsgid(getgid())
        defer { _ = jitsh_setfsgid(gid_t(previous)) }
        let stat = String(decoding: contents("/proc/\(pid)/stat"), as: UTF8.self)
        guard let close = stat.lastIndex(of: ")") else { return "?" }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, let ppid = Int32(fields[1]) else { return "?" }
        return String(decoding: contents("/proc/\(ppid)/comm"), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
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

    /// The kernel runs `#!INTERPRETER [ARG]` scripts as INTERPRETER [ARG] SCRIPT ARGS…: the
    /// script is argv[1] or argv[2] when that file starts with `#!` naming this interpreter.
    static func script(pid: pid_t, exe: String, argv: [String]) -> (path: String, arguments: [String])? {
        for k in [1, 2] where k < argv.count {
            let candidate = argv[k]
            let path = candidate.hasPrefix("/") ? candidate : "/proc/\(pid)/cwd/" + candidate
            guard let handle = FileHandle(forReadingAtPath: path) else { continue }
            let head = (try? handle.read(upToCount: 256)) ?? Data()
            try? handle.close()
            guard head.starts(with: Data("#!".utf8)) else { continue }
            let first = String(decoding: head.prefix { $0 != 10 }.dropFirst(2), as: UTF8.self).trimmingCharacters(in: .whitespaces)
            guard let interpreter = first.split(separator: " ").first.map(String.init), let real = realpath(interpreter, nil) else { continue }
            defer { free(real) }
            if String(cString: real) == exe {
                let shown = candidate.hasPrefix("/") ? candidate : (PathName.resolved(candidate, cwd: (try? FileManager.default
                    .destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) ?? "/") ?? candidate)
                return (shown, Array(argv.dropFirst(k + 1)))
            }
        }
        return nil
    }
}

extension Session {
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

    /// The exec guard's decision for `pid`: the role's rules on the program really loaded.
    func judgeExec(_ pid: pid_t) -> Bool {
        guard let image = ExecImage.read(pid) else {
            return blockExec(program: "process \(pid)", parent: "?", reason: "what it runs cannot be read", rule: "")
        }
        let exe = image.executable
        if let why = Session.forbiddenImage(exe) {
            return blockExec(program: exe, parent: image.parent, reason: why, rule: "")
        }
        let rest = Array(image.argv.dropFirst())
        var decision = decider.decideExec(argv: [exe] + rest, role: setup.role.name, context: decisionContext)
        if decision.judgement.verdict != .allow, let script = image.script {
            // A script is allowed by a rule naming it; its interpreter then runs only it.
            let d = decider.decideExec(argv: [script.path] + script.arguments, role: setup.role.name, context: decisionContext)
            if d.judgement.verdict < decision.judgement.verdict { decision = d }
        }
        if decision.judgement.verdict != .allow {
            // Reached through a link in a trusted directory (vi → vim.basic): the link's name counts too.
            for alias in execAliases(of: exe) {
                let d = decider.decideExec(argv: [alias] + rest, role: setup.role.name, context: decisionContext)
                if d.judgement.verdict < decision.judgement.verdict { decision = d }
            }
        }
        let name = PathName.base(exe)
        let program = image.script.map { "\($0.path) (a script run by \(exe))" } ?? exe
        switch decision.judgement.verdict {
        case .allow:
            break
        case .confirm:
            // A confirmed script (Debian's psql is pg_wrapper, a perl script) counts by its own name too.
            let names = [name] + execAliases(of: exe).map(PathName.base) + (image.script.map { [PathName.base($0.path)] } ?? [])
            guard names.contains(where: confirmedNames.contains) else {
                return blockExec(program: program, parent: image.parent, reason: "\(name) needs confirmation: run it as a line of its own",
                                 rule: decision.judgement.rule?.description ?? "")
            }
        case .deny:
            return blockExec(program: program, parent: image.parent, reason: decision.judgement.reason,
                             rule: decision.judgement.rule?.description ?? "")
        }
        var st = stat()
        if stat(exe, &st) == 0, st.st_mode & (S_ISUID | S_ISGID) != 0 {
            let message = name == "sudo"
                ? "sudo does not work in a guarded session; ask for a role that grants what you need"
                : "\(name) is setuid: in a guarded session it runs without its privilege"
            guardSay("jitsh: \(message)")
        }
        return true
    }

    func blockExec(program: String, parent: String, reason: String, rule: String) -> Bool {
        let text = "jitsh: blocked \(program) launched by \(parent): \(reason)"
        guardSay(text)
        _ = audit("guard", line: program, decision: "deny", rule: rule, reason: reason,
              data: JSONText.object(["parent": .string(parent)]).text, alert: alerts("guard"))
        recorder.marker(["event": "guard", "program": .string(program), "parent": .string(parent), "reason": .string(reason)])
        return false
    }

    func guardSay(_ text: String) {
        if terminal.isTerminal { say("\r\n\(text)\r\n") } else { say("\(text)\n", stream: .stderr) }
    }

    /// Links in the trusted directories that lead to `exe`, found once per session.
    func execAliases(of exe: String) -> [String] {
        if aliases == nil {
            var map: [String: [String]] = [:]
            for dir in setup.policy.global.trustedPaths {
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
        let paths = fs.writable.map { $0.hasPrefix("~") ? setup.home + $0.dropFirst() : $0 } + terminals
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
        let (pid, report) = try Spawner.spawn(spec)
        if let guardian {
            do { try guardian.attach(pid, report: report) } catch {
                throw Spawner.SpawnError(errno: error.errno, what: "\(spec.arguments.first ?? spec.path) under the exec guard")
            }
        }
        return pid
    }
}
