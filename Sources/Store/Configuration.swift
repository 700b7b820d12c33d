import Policy
import Yams

/// `/etc/jitsh/jitsh.yaml`: where this host keeps its store, policies and key, and what it is.
public struct HostConfiguration: Sendable {
    public static let defaultPath = "/etc/jitsh/jitsh.yaml"

    public var storePath = "/var/lib/jitsh/jitsh.db"
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

    static let keys = ["store", "policies", "host", "webhook", "signing_key", "shared_accounts", "audit", "shell", "configurations", "review_url"]

    /// Parses the file's text; every problem is reported with its line and column.
    public static func parse(_ text: String, file: String, hostName: String) throws(PolicyError) -> HostConfiguration {
        var config = HostConfiguration(host: HostInfo(name: hostName))
        var r = YAMLReader(file: file)
        guard let document = r.document(text) else { throw PolicyError(diagnostics: r.diagnostics) }
        guard let entries = r.mapping(document, "jitsh.yaml", allowed: keys) else { throw PolicyError(diagnostics: r.diagnostics) }
        for (key, _, value) in entries {
            switch key {
            case "store": config.storePath = absolute(&r, value, key) ?? config.storePath
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
