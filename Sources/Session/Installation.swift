import Foundation
import Posix
import ShellSyntax
import Policy
import Store

/// This host's jitsh: its configuration, and who is asking.
public struct Installation: Sendable {
    public var configuration: HostConfiguration
    public var configurationPath: String

    public struct SetupError: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// Reads jitsh.yaml (defaults when it does not exist). A path other than the default is
    /// honoured only for root or an unprivileged jitsh.
    public static func load(override: String?, environment: [String: String]? = nil) throws -> Installation {
        var path = HostConfiguration.defaultPath
        let fromEnvironment = environment.map { $0["JITSH_CONFIG"] } ?? getenv("JITSH_CONFIG").map { String(cString: $0) }
        if let chosen = override ?? fromEnvironment, chosen != path {
            guard Privilege.mayUseConfiguration(chosen, listed: listedConfigurations()) else {
                throw SetupError("configuration \(Visible.text(chosen)) is not one root listed for jitsh (\(Privilege.configurationDirectory)/*.yaml or configurations: in \(HostConfiguration.defaultPath), owned by root, writable by nobody else); a privileged jitsh takes no other")
            }
            path = chosen
        }
        let hostName = Account.hostName()
        let chosen = path
        guard let data = JitshGroup.raised(.configuration, { () -> Data?? in
            FileManager.default.fileExists(atPath: chosen) ? .some(FileManager.default.contents(atPath: chosen)) : .none
        }) else {
            if path != HostConfiguration.defaultPath { throw SetupError("configuration \(Visible.text(path)) does not exist") }
            return Installation(configuration: HostConfiguration(host: HostInfo(name: hostName)), configurationPath: path)
        }
        guard let data, let text = String(data: data, encoding: .utf8) else {
            throw SetupError("cannot read the configuration \(path)")
        }
        do {
            return Installation(configuration: try HostConfiguration.parse(text, file: path, hostName: hostName), configurationPath: path)
        } catch {
            throw SetupError("the configuration does not load:\n\(error)")
        }
    }

    /// The configurations the default jitsh.yaml lists (`configurations:`); none when it is absent,
    /// not administered or does not load.
    static func listedConfigurations() -> [String] {
        let path = HostConfiguration.defaultPath
        guard Privilege.isElevated, getuid() != 0, Privilege.isAdministered(path),
              let data = JitshGroup.raised(.configuration, { FileManager.default.contents(atPath: path) }), let text = String(data: data, encoding: .utf8),
              let c = try? HostConfiguration.parse(text, file: path, hostName: "") else { return [] }
        return c.configurations
    }

    /// Who is asking: the login name, or `--as NAME` (root, or the forced command of a shared account).
    public func requester(as claimed: String?, policy: Policy) throws -> Requester {
        guard let login = Account.loginName() else { throw SetupError("this user id has no account name") }
        var identity = login
        if let claimed, claimed != login {
            guard Account.isRoot || configuration.sharedAccounts.contains(login) else {
                throw SetupError("--as is for root and the forced command of shared accounts (shared_accounts in jitsh.yaml), not for \(login)")
            }
            guard !claimed.isEmpty, claimed.allSatisfy({ $0.isLetter || $0.isNumber || "-_.@".contains($0) }) else {
                throw SetupError("--as \(claimed): an identity is letters, digits, - _ . @")
            }
            identity = claimed
        }
        var groups = Set(policy.global.people[identity] ?? [])
        // Unix groups belong to the account, so they count only when the person is the account.
        if identity == login { groups.formUnion(Account.groups(of: login)) }
        return Requester(identity: identity, groups: groups, isRoot: Account.isRoot && identity == login)
    }

    /// The whole policy. Loaded by root (grant commands, reviews, `jitsh serve`), it also leaves
    /// the cache session starts use, so a host whose sessions run as their users has one too.
    public func loadPolicy(lint: Bool = false) throws -> Policy {
        let files = try sessionPolicyFiles()
        let policy = try PolicyLoader.load(files, lint: lint)
        if geteuid() == 0 {
            let path = PolicyCache.path(besideStore: configuration.storePath)
            let digest = PolicyCache.digest(files)
            if PolicyCache.read(path)?.digest != digest { try? PolicyCache(policy: policy, files: files).write(path) }
        }
        return policy
    }
}

/// Reads a policy directory from disk (the pure loader takes files as values).
public enum PolicyDirectoryReader {
    public struct ReadError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// policy.yaml, roles/*, contracts/*, tests/* — YAML files only, paths relative to `root`.
    public static func read(_ root: String) throws -> [PolicyFile] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReadError(description: "policy directory \(root) does not exist")
        }
        var files: [PolicyFile] = []
        for relative in ["", "roles", "contracts", "tests"] {
            let dir = relative.isEmpty ? root : root + "/" + relative
            guard fm.fileExists(atPath: dir) else { continue }
            // A directory that is there but cannot be listed is an error, not an empty policy.
            guard let names = try? fm.contentsOfDirectory(atPath: dir) else {
                let why = access(dir, R_OK | X_OK) == 0 ? "it cannot be listed" : String(cString: strerror(errno)).lowercased()
                throw ReadError(description: "cannot read the policy directory \(Visible.text(dir)): \(why)")
            }
            for name in names.sorted() where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                let path = relative.isEmpty ? name : relative + "/" + name
                guard let data = fm.contents(atPath: root + "/" + path) else {
                    throw ReadError(description: "cannot read \(root)/\(path)")
                }
                guard let text = String(data: data, encoding: .utf8) else {
                    throw ReadError(description: "\(root)/\(path) is not UTF-8 text")
                }
                files.append(PolicyFile(path: path, text: text))
            }
        }
        return files
    }

    public static func load(_ root: String, lint: Bool = true) throws -> Policy {
        try PolicyLoader.load(try read(root).filter { !$0.path.hasPrefix("tests/") }, lint: lint)
    }

    /// A directory the person named (`--policy-dir`, a whatif candidate): read with their own
    /// rights, as everything outside `JitshGroup.raised` is, so a privileged jitsh cannot be
    /// pointed at files only its group may read.
    public static func readNamed(_ root: String) throws -> [PolicyFile] {
        try read(root)
    }

    public static func loadNamed(_ root: String, lint: Bool = true) throws -> Policy {
        try PolicyLoader.load(try readNamed(root).filter { !$0.path.hasPrefix("tests/") }, lint: lint)
    }
}

/// Local time from the system's zone database, for time windows.
public struct SystemZones: TimeZoneResolver {
    public init() {}

    public func localTime(epochSeconds: Int64, zone: String) -> LocalTime? {
        guard let tz = TimeZone(identifier: zone) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = tz
        let c = calendar.dateComponents([.weekday, .hour, .minute], from: Date(timeIntervalSince1970: TimeInterval(epochSeconds)))
        guard let weekday = c.weekday, let hour = c.hour, let minute = c.minute else { return nil }
        // Calendar counts Sunday as 1; LocalTime counts Monday as 0.
        return LocalTime(weekday: (weekday + 5) % 7, minute: hour * 60 + minute)
    }
}

public enum Clock {
    /// Microseconds since the epoch, the one unit of every time jitsh keeps.
    public static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }
}
