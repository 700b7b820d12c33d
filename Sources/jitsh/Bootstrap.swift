import ArgumentParser
import Policy
import Session
import Store

/// The options of every verb that reaches this host's configuration, declared once. Like the
/// other shared options they may come before the verb (`jitsh --config X grant list`).
struct HostOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The host configuration (root only).", valueName: "path"))
    var config: String?

    @Option(name: .customLong("as"), help: ArgumentHelp("Act as this identity (root, or a shared account's forced command).", valueName: "name"))
    var identity: String?
}

/// Where the forced command and every verb start, one way for all: the host's configuration,
/// the policy, who is asking, and the store `store:` names (opened with the jitsh group, inside
/// the store's own opening: see JitshGroup).
struct Bootstrap {
    let installation: Installation
    let policy: Policy
    let requester: Requester
    var configuration: HostConfiguration { installation.configuration }

    /// Errors as they come (the forced command words its refusals itself).
    init(config: String?, identity: String?) throws {
        installation = try Installation.load(override: config)
        policy = try installation.loadPolicy()
        requester = try installation.requester(as: identity, policy: policy)
    }

    init(installation: Installation, policy: Policy, requester: Requester) {
        self.installation = installation
        self.policy = policy
        self.requester = requester
    }

    /// For a verb: what does not load is one line and exit status 3.
    static func verb(_ options: HostOptions) throws -> Bootstrap {
        try failing { try Bootstrap(config: options.config, identity: options.identity) }
    }

    /// The store for grants and audit (SQLite or the fleet's PostgreSQL).
    func store() throws -> any Store {
        try Bootstrap.failing { try StoreOpening.open(configuration) }
    }

    /// The SQLite store, for what only it holds (recordings, snapshots) until the fleet's spool.
    func sqliteStore(for what: String) throws -> SQLiteStore {
        try Bootstrap.failing { try SQLiteStore(path: configuration.sqliteStore(for: what), create: false) }
    }

    static func failing<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ExitCode { throw e } catch {
            Console.error("\(error)")
            throw ExitCode(ExitStatus.error)
        }
    }
}
