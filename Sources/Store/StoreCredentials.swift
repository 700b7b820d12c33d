import Foundation
import Posix

/// The password of a store's role: a file only root writes and only group jitsh reads, as the
/// signing key, so no user reaches the central store but through jitsh's own code.
public enum StorePasswordFile {
    /// The password (the file's first line), or a refusal that says what to fix.
    public static func read(_ path: String, group: String = "jitsh") throws(StoreError) -> String {
        try JitshGroup.raised(.storeCredentials) { () throws(StoreError) in try readRaised(path, group: group) }
    }

    static func readRaised(_ path: String, group: String) throws(StoreError) -> String {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            throw StoreError(.missing, "store_password_file \(path) cannot be read: \(String(cString: strerror(errno)).lowercased())")
        }
        guard let gid = getgrnam(group)?.pointee.gr_gid else {
            throw StoreError(.permission, "store_password_file \(path) must have group \(group), and there is no such group; run jitsh's installer")
        }
        let mode = st.st_mode & 0o7777
        guard st.st_mode & S_IFMT == S_IFREG, st.st_uid == 0, st.st_gid == gid, mode & ~0o640 == 0 else {
            throw StoreError(.permission, "store_password_file \(path) must be a file owned by root, group \(group), mode 0640 or less "
                             + "(it is uid \(st.st_uid) gid \(st.st_gid) mode \(String(mode, radix: 8))); as root: chown root:\(group) \(path) && chmod 0640 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw StoreError(.permission, "store_password_file \(path) cannot be read")
        }
        let password = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard !password.isEmpty else { throw StoreError(.refused, "store_password_file \(path) is empty") }
        return password
    }
}
