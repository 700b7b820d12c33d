import CSpawn
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The system calls behind `jitsh doctor`: stat, sshd -T, the kernel probes. Verdicts are
/// DoctorRules' and SSHDRules'; this file only gathers facts.
public enum DoctorProbe {
    public static func file(_ path: String) -> FileFacts {
        var st = stat()
        guard stat(path, &st) == 0 else { return FileFacts(path: path, exists: false) }
        return FileFacts(path: path, exists: true, isDirectory: (st.st_mode & S_IFMT) == S_IFDIR, uid: st.st_uid, gid: st.st_gid,
                         mode: UInt32(st.st_mode & 0o7777), administered: Privilege.isAdministered(path))
    }

    /// /proc/sys/kernel/yama/ptrace_scope, nil without Yama.
    public static func ptraceScope() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/sys/kernel/yama/ptrace_scope", encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public static func ptraceProbe() -> Int32 { jitsh_probe_ptrace() }

    /// The user's login shell (symlinks resolved) and the facts of the start-up files it reads
    /// when sshd runs it as `SHELL -c COMMAND`, with the home directory they would be made in.
    public static func loginShell(_ user: UserInfo) -> (shell: String, home: FileFacts, files: [FileFacts]) {
        let real = realpath(user.shell, nil).map { p in defer { free(p) }; return String(cString: p) } ?? user.shell
        let files = (LoginShell.startupFiles(of: real) ?? []).map { file(user.home + "/" + $0) }
        return (real, file(user.home), files)
    }
    public static func landlockABI() -> Int32 { jitsh_landlock_abi() }
    public static var buildTime: Int64 { Int64(jitsh_build_time()) }

    public struct UserInfo: Sendable {
        public var name: String
        public var uid: UInt32
        public var home: String
        public var shell: String = ""
    }

    public static func user(_ name: String) -> UserInfo? {
        guard let pw = getpwnam(name) else { return nil }
        return UserInfo(name: name, uid: pw.pointee.pw_uid, home: String(cString: pw.pointee.pw_dir),
                        shell: String(cString: pw.pointee.pw_shell))
    }

    /// The members of a group: listed ones and those whose primary group it is.
    public static func members(ofGroup name: String) -> [String]? {
        guard let gr = getgrnam(name) else { return nil }
        let gid = gr.pointee.gr_gid
        var names: [String] = []
        var k = 0
        while let member = gr.pointee.gr_mem[k] {
            names.append(String(cString: member))
            k += 1
        }
        setpwent()
        while let pw = getpwent() {
            if pw.pointee.pw_gid == gid { names.append(String(cString: pw.pointee.pw_name)) }
        }
        endpwent()
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    public struct CommandError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// `sshd -T -f CONFIG [-C user=U,host=H,addr=A]`: the configuration sshd would apply.
    public static func sshdEffective(sshd: String, config: String, user: String?, address: String) throws -> SSHDEffectiveConfig {
        var arguments = ["-T", "-f", config]
        if let user { arguments += ["-C", "user=\(user),host=\(address),addr=\(address)"] }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: sshd)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { throw CommandError(description: "cannot run \(sshd): \(error)") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let first = String(decoding: errors, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "exit \(p.terminationStatus)"
            throw CommandError(description: "\(sshd) \(arguments.joined(separator: " ")): \(first)")
        }
        return SSHDEffectiveConfig(parsing: String(decoding: data, as: UTF8.self))
    }

    /// The authorized_keys files sshd would read for `user` that exist, with their keys.
    public static func authorizedKeys(_ config: SSHDEffectiveConfig, user: UserInfo) -> [AuthorizedKeysFile] {
        let value = config.all("authorizedkeysfile").joined(separator: " ")
        return SSHDRules.authorizedKeysPaths(value, user: user.name, home: user.home, uid: user.uid).compactMap { path in
            let facts = file(path)
            guard facts.exists, !facts.isDirectory, let data = FileManager.default.contents(atPath: path) else { return nil }
            return AuthorizedKeysFile(file: facts, keys: AuthorizedKey.parse(String(decoding: data, as: UTF8.self)))
        }
    }
}
