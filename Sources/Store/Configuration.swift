import Policy
import Yams

/// `/etc/jitsh/jitsh.yaml`: where this host keeps its store, policies and key, and what it is.
public struct HostConfiguration: Sendable {
    public static let defaultPath = "/etc/jitsh/jitsh.yaml"

    /// The SQLite file sessions record into: the store of a lone host (`store: /path`), the
    /// spool of a fleet host (`spool:`), so a session is the same either way.
    public var storePath = "/var/lib/jitsh/jitsh.db"
    /// A fleet host's local SQLite (`spool:`): sessions commit there first, `jitsh sync` ships it.
    public var spoolPath = "/var/lib/jitsh/spool.db"
    /// Bytes waiting to be shipped past which new sessions are refused (`spool_quota: 1GiB`).
    public var spoolQuota: Int64 = 1 << 30
    /// How long a fleet host keeps a shipped session's recording in its spool (`spool_retention: 7d`);
    /// the central store keeps it, and a tombstone here says where it went.
    public var spoolRetention: Int64 = 7 * 86_400
    /// Where the `jitsh sync` service serves Prometheus metrics (loopback only).
    public var syncMetrics = "127.0.0.1:9477"
    /// Where `store:` points: that file, or a fleet's PostgreSQL (`store: postgresql://ROLE@HOST:PORT/DB`).
    public var store: StoreLocation = .sqlite(path: "/var/lib/jitsh/jitsh.db")
    /// The PostgreSQL role's password: root:jitsh, mode 0640 at most.
    public var storePasswordFile: String?
    /// The CA that signs the PostgreSQL server's certificate; TLS is required off loopback.
    public var storeCAFile: String?
    public var policiesPath = "/etc/jitsh/policies"
    public var host: HostInfo
    /// Grant notifications are POSTed here (Slack-compatible JSON).
    public var webhook: String?
    public var signingKeyPath = "/var/lib/jitsh/signing.key"
    /// Login accounts several people share; only their forced-command lines may say `--as NAME`.
    public var sharedAccounts: [String] = []
    /// Also send every audit event to syslog.
    public var auditSyslog = false
    /// The shell that runs decided lines.
    public var shell = "/bin/bash"
    /// Other configurations a user's `--config` may name (besides /etc/jitsh/*.yaml); only
    /// the default jitsh.yaml's list counts.
    public var configurations: [String] = []
    /// Where `jitsh serve` is reached from a reviewer's browser: the base of sign-in links.
    public var reviewURL = "http://127.0.0.1:8377"

    public init(host: HostInfo) { self.host = host }

    static let keys = ["store", "store_password_file", "store_ca_file", "spool", "spool_quota", "spool_retention", "sync_metrics", "policies", "host", "webhook", "signing_key", "shared_accounts", "audit", "shell", "configurations", "review_url"]

    /// Parses the file's text; every problem is reported with its line and column.
    public static func parse(_ text: String, file: String, hostName: String) throws(PolicyError) -> HostConfiguration {
        var config = HostConfiguration(host: HostInfo(name: hostName))
        var r = YAMLReader(file: file)
        guard let document = r.document(text) else { throw PolicyError(diagnostics: r.diagnostics) }
        guard let entries = r.mapping(document, "jitsh.yaml", allowed: keys) else { throw PolicyError(diagnostics: r.diagnostics) }
        for (key, _, value) in entries {
            switch key {
            case "store":
                guard let text = r.string(value, key) else { continue }
                switch StoreLocation.parse(text) {
                case .success(let location):
                    config.store = location
                    if case .sqlite(let path) = location { config.storePath = path }
                case .failure(let problem): r.error(value, problem.description)
                }
            case "spool": config.spoolPath = absolute(&r, value, key) ?? config.spoolPath
            case "spool_quota":
                guard let text = r.string(value, key) else { continue }
                if let bytes = ByteSize.parse(text), bytes > 0 { config.spoolQuota = Int64(bytes) } else { r.error(value, "spool_quota: give a size such as 512MiB or 2GiB") }
            case "spool_retention":
                guard let text = r.string(value, key) else { continue }
                if let seconds = Duration.seconds(text), seconds > 0 { config.spoolRetention = Int64(seconds) } else { r.error(value, "spool_retention: give a duration such as 7d or 12h") }
            case "sync_metrics":
                guard let text = r.string(value, key) else { continue }
                if !(text.hasPrefix("127.") || text.hasPrefix("[::1]:") || text.hasPrefix("localhost:")) || text.split(separator: ":").last.flatMap({ Int($0) }) == nil {
                    r.error(value, "sync_metrics must be a loopback HOST:PORT (127.0.0.1:9477): the metrics are not for the network")
                }
                config.syncMetrics = text
            case "store_password_file": config.storePasswordFile = absolute(&r, value, key)
            case "store_ca_file": config.storeCAFile = absolute(&r, value, key)
            case "policies": config.policiesPath = absolute(&r, value, key) ?? config.policiesPath
            case "signing_key": config.signingKeyPath = absolute(&r, value, key) ?? config.signingKeyPath
            case "shell": config.shell = absolute(&r, value, key) ?? config.shell
            case "webhook":
                guard let url = r.string(value, "webhook") else { continue }
                if !(url.hasPrefix("https://") || url.hasPrefix("http://")) { r.error(value, "webhook must be an http(s) URL") }
                config.webhook = url
            case "review_url":
                guard let url = r.string(value, "review_url") else { continue }
                if !(url.hasPrefix("https://") || url.hasPrefix("http://")) { r.error(value, "review_url must be an http(s) URL") }
                config.reviewURL = url.hasSuffix("/") ? String(url.dropLast()) : url
            case "shared_accounts":
                config.sharedAccounts = r.strings(value, "shared_accounts") ?? []
            case "configurations":
                config.configurations = r.strings(value, "configurations") ?? []
                for p in config.configurations where !p.hasPrefix("/") { r.error(value, "configurations must be absolute paths") }
            case "audit":
                for (k, _, v) in r.mapping(value, "audit", allowed: ["syslog"]) ?? [] where k == "syslog" {
                    config.auditSyslog = r.bool(v, "syslog") ?? false
                }
            case "host":
                for (k, _, v) in r.mapping(value, "host", allowed: ["name", "tags"]) ?? [] {
                    if k == "name" { config.host.name = r.string(v, "name") ?? config.host.name }
                    if k == "tags" {
                        let names = v.mapping?.keys.compactMap(\.string) ?? []
                        for (tag, _, tv) in r.mapping(v, "tags", allowed: names) ?? [] { config.host.tags[tag] = r.string(tv, tag) ?? "" }
                    }
                }
            default:
                break
            }
        }
        if case .postgresql(let p) = config.store, !p.isLoopback, config.storeCAFile == nil, let node = entries.first(where: { $0.0 == "store" })?.2 {
            r.error(node, "store \(p): TLS is required when the database is not on loopback; set store_ca_file: to the CA of its certificate")
        }
        if case .postgresql = config.store {
            config.storePath = config.spoolPath
        } else if let node = entries.first(where: { $0.0 == "spool" })?.2 {
            r.error(node, "spool: is a fleet host's local store; it applies only with store: postgresql://…")
        }
        if r.diagnostics.contains(where: { $0.severity == .error }) { throw PolicyError(diagnostics: r.diagnostics) }
        return config
    }

    private static func absolute(_ r: inout YAMLReader, _ value: Node, _ key: String) -> String? {
        guard let s = r.string(value, key) else { return nil }
        guard s.hasPrefix("/") else {
            r.error(value, "\(key) must be an absolute path")
            return nil
        }
        return s
    }
}

extension HostConfiguration {
    /// True when `store:` is a fleet's PostgreSQL: sessions record into the spool and `jitsh sync` ships it.
    public var isFleet: Bool {
        if case .postgresql = store { return true }
        return false
    }

    /// The SQLite file `what` works on: the lone host's store, or on a fleet host its spool (a
    /// session records there exactly as on a lone host and never waits for the network; the
    /// review verbs see this host's sessions, the central store has every host's).
    public func sqliteStore(for what: String) throws(StoreError) -> String {
        storePath
    }
}
