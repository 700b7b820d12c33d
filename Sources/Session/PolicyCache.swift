import Crypto
import Foundation
import Posix
import Policy

/// What a full load of the policy directory found, kept beside the store: one digest over every
/// file, and which file holds each role (and what it extends) and each contract. A session start
/// whose files still have that digest parses only what its grant needs (policy.yaml, the role
/// and those it extends, the grant's contract) instead of the whole directory: the full load
/// behind the digest already proved that every file loads, so a policy with an error still runs
/// nothing. Written by root only, trusted only as root wrote it; a cache that is missing, not
/// root's, or of other files is ignored and the directory is loaded whole, as without a cache.
public struct PolicyCache: Sendable, Equatable {
    struct RoleEntry: Sendable, Equatable {
        var file: String
        var extends: [String]
    }

    var digest: String
    var roles: [String: RoleEntry]
    var contracts: [String: String]

    static let header = "jitsh policy cache v1"

    /// `policy.cache` in the store's directory (root:jitsh 0770 when installed).
    public static func path(besideStore store: String) -> String {
        (store as NSString).deletingLastPathComponent + "/policy.cache"
    }

    /// SHA-256 over every file's path, length and text, in path order.
    public static func digest(_ files: [PolicyFile]) -> String {
        var h = SHA256()
        for f in files.sorted(by: { $0.path < $1.path }) {
            let text = Array(f.text.utf8)
            h.update(data: Array("\(f.path)\u{0}\(text.count)\u{0}".utf8))
            h.update(data: text)
        }
        return hex(Array(h.finalize()))
    }

    /// The cache of a policy that loaded from `files` without error.
    public init(policy: Policy, files: [PolicyFile]) {
        digest = PolicyCache.digest(files)
        roles = policy.roles.mapValues { RoleEntry(file: $0.role.ref.file, extends: $0.role.extends) }
        contracts = Dictionary(policy.contracts.map { ($0.name, $0.ref.file) }) { first, _ in first }
    }

    init(digest: String, roles: [String: RoleEntry], contracts: [String: String]) {
        self.digest = digest
        self.roles = roles
        self.contracts = contracts
    }

    /// The files a session needs: policy.yaml, the role and every role it extends, the grant's
    /// contract. Nil when the cache does not know the role or one it extends (the caller loads
    /// everything). A contract the cache does not know is in no file of the directory (a
    /// break-glass grant's): the whole policy would not have it either.
    public func files(forRole role: String?, contract: String?, in files: [PolicyFile]) -> [PolicyFile]? {
        var wanted: Set<String> = ["policy.yaml", "policy.yml"]
        var pending = role.map { [$0] } ?? []
        var seen: Set<String> = []
        while let name = pending.popLast() {
            guard seen.insert(name).inserted else { continue }
            guard let entry = roles[name] else { return nil }
            wanted.insert(entry.file)
            pending += entry.extends
        }
        if let contract, let file = contracts[contract] { wanted.insert(file) }
        return files.filter { wanted.contains($0.path) }
    }

    var text: String {
        var lines = [PolicyCache.header, "digest \(digest)"]
        for (name, r) in roles.sorted(by: { $0.key < $1.key }) {
            lines.append((["role", name, r.file] + r.extends).joined(separator: "\t"))
        }
        for (name, file) in contracts.sorted(by: { $0.key < $1.key }) {
            lines.append(["contract", name, file].joined(separator: "\t"))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func parse(_ text: String) -> PolicyCache? {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first == Substring(header), lines.last == "" else { return nil }
        lines.removeLast()
        var digest: String?
        var roles: [String: RoleEntry] = [:]
        var contracts: [String: String] = [:]
        for line in lines.dropFirst() {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            if fields.count == 1, line.hasPrefix("digest ") {
                digest = String(line.dropFirst(7))
            } else if fields.count >= 3, fields[0] == "role" {
                roles[fields[1]] = RoleEntry(file: fields[2], extends: Array(fields[3...]))
            } else if fields.count == 3, fields[0] == "contract" {
                contracts[fields[1]] = fields[2]
            } else {
                return nil
            }
        }
        guard let digest, digest.utf8.count == 64 else { return nil }
        return PolicyCache(digest: digest, roles: roles, contracts: contracts)
    }

    /// The cache at `path` if root wrote it: a regular file (not a link), owned by root, that
    /// neither group nor others may write. Nil otherwise, or when it does not parse.
    public static func read(_ path: String) -> PolicyCache? {
        let fd = JitshGroup.raised(.policyCache) { open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == 0, st.st_mode & 0o022 == 0,
              st.st_size > 0, st.st_size < 1 << 20 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var got = 0
        while got < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, $0.count - got) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            got += n
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        return parse(text)
    }

    /// Replaces the cache at `path` (root only: a cache written by anyone else would be ignored).
    public func write(_ path: String) throws {
        guard geteuid() == 0 else { return }
        let temporary = path + ".\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Installation.SetupError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                close(fd)
                unlink(temporary)
                throw Installation.SetupError("cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            written += n
        }
        // Root's umask may leave it group-writable, which read() refuses.
        fchmod(fd, 0o644)
        close(fd)
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Installation.SetupError("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Installation {
    /// The policy a session needs, and whether it is the whole directory. With a cache root
    /// wrote for exactly these files, only what `role` and `contract` need is parsed (nil role:
    /// policy.yaml alone, enough to know who is asking); otherwise everything is loaded, and
    /// root leaves a cache for the next start.
    public func loadSessionPolicy(role: String?, contract: String?, files: [PolicyFile]) throws -> (policy: Policy, whole: Bool) {
        let cachePath = PolicyCache.path(besideStore: configuration.storePath)
        let cache = PolicyCache.read(cachePath).flatMap { $0.digest == PolicyCache.digest(files) ? $0 : nil }
        if let needed = cache?.files(forRole: role, contract: contract, in: files) {
            return (try PolicyLoader.load(needed, lint: false), false)
        }
        let policy = try PolicyLoader.load(files, lint: false)
        // A cache that cannot be written costs the next start a full load, nothing more.
        if cache == nil { try? PolicyCache(policy: policy, files: files).write(cachePath) }
        return (policy, true)
    }

    /// The policy files a session reads (tests/ is for `jitsh policy test` alone).
    public func sessionPolicyFiles() throws -> [PolicyFile] {
        try PolicyDirectoryReader.read(configuration.policiesPath).filter { !$0.path.hasPrefix("tests/") }
    }
}
