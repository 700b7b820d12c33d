import Foundation
import Posix
#if canImport(Glibc)
import Glibc
#endif

/// The Unix side of who is running jitsh.
public enum Account {
    /// The login name of the real user id.
    public static func loginName() -> String? {
        guard let pw = getpwuid(getuid()) else { return nil }
        return String(cString: pw.pointee.pw_name)
    }

    public static func home(of name: String) -> String? {
        guard let pw = getpwnam(name) else { return nil }
        return String(cString: pw.pointee.pw_dir)
    }

    /// The groups `name` belongs to (primary and supplementary), by name.
    public static func groups(of name: String) -> Set<String> {
        guard let pw = getpwnam(name) else { return [] }
        var count: Int32 = 64
        var ids = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, pw.pointee.pw_gid, &ids, &count) < 0 {
            ids = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, pw.pointee.pw_gid, &ids, &count) >= 0 else { return [] }
        }
        var out = Set<String>()
        for id in ids.prefix(Int(count)) {
            if let gr = getgrgid(id) { out.insert(String(cString: gr.pointee.gr_name)) }
        }
        return out
    }

    public static func groupID(_ name: String) -> gid_t? {
        guard let gr = getgrnam(name) else { return nil }
        return gr.pointee.gr_gid
    }

    public static var isRoot: Bool { getuid() == 0 }

    public static func hostName() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// jitsh is installed setgid `jitsh`: the process may reach the store, the user may not. What
/// runs before a child drops the group is kept small.
public enum Privilege {
    /// Started with a group the caller does not have (the setgid bit took effect): the group is
    /// held, raised only inside `JitshGroup.raised`.
    public static var isElevated: Bool { JitshGroup.isHeld }

    /// `--config` and `JITSH_CONFIG` would let a user point a privileged jitsh at a policy or
    /// store of their own, or at any root-owned file that happens to parse. Root and an
    /// unprivileged jitsh may name any file; otherwise the file must be one root listed for
    /// jitsh (`isListed`) and one the user cannot have made or changed (`isAdministered`).
    public static func mayUseConfiguration(_ path: String, listed: [String] = []) -> Bool {
        getuid() == 0 || !isElevated || (isListed(path, listed: listed) && isAdministered(path))
    }

    /// The directory whose `*.yaml` files are configurations root has listed for jitsh.
    public static let configurationDirectory = "/etc/jitsh"

    /// `/etc/jitsh/NAME.yaml` (written as such: no `.`, `..` or doubled slashes), or a path in
    /// `configurations:` of the default jitsh.yaml.
    public static func isListed(_ path: String, listed: [String]) -> Bool {
        if listed.contains(path) { return true }
        guard let name = path.split(separator: "/", omittingEmptySubsequences: false).last,
              path == configurationDirectory + "/" + name, !name.hasPrefix("."),
              name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { return false }
        return true
    }

    /// Owned by root and writable by nobody else, like every directory above it (a sticky
    /// directory such as /tmp counts as safe: others cannot replace what root owns in it).
    public static func isAdministered(_ path: String) -> Bool {
        guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else { return false }
        var components: [String] = ["/"]
        var current = ""
        for part in path.split(separator: "/") {
            current += "/" + part
            components.append(current)
        }
        for (k, p) in components.enumerated() {
            var st = stat()
            guard lstat(p, &st) == 0, st.st_uid == 0 else { return false }
            let isLast = k == components.count - 1
            if (st.st_mode & S_IFMT) == S_IFLNK { return false }
            let writableByOthers = st.st_mode & (S_IWGRP | S_IWOTH) != 0
            if writableByOthers && (isLast || st.st_mode & S_ISVTX == 0) { return false }
        }
        return true
    }
}
