import ArgumentParser
import Foundation
import PostgresStore
import Session
import Store

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create this host's store and signing key where jitsh.yaml says (run by make install).",
        discussion: """
            Existing files are kept. With a PostgreSQL store (store: postgresql://…), the host's spool \
            (spool:) is created and the central schema created or upgraded and its version printed. As root, the store directory and files get group jitsh and no access \
            for others, and the key is readable by that group only.

            Example:
              sudo jitsh init
            """
    )

    @Option(help: ArgumentHelp("The host configuration (root only).", valueName: "path"))
    var config: String?

    func run() throws {
        let installation: Installation
        do { installation = try Installation.load(override: config) } catch {
            Console.error("\(error)")
            throw ExitCode(ExitStatus.error)
        }
        let c = installation.configuration
        let group = Account.groupID("jitsh")
        func own(_ path: String, _ mode: Int) {
            if Account.isRoot, let group { _ = chown(path, 0, group) }
            _ = chmod(path, mode_t(mode))
        }
        do {
            // A fleet host's storePath is its spool: sessions record there first, as on a lone host.
            try initSQLite(c, own: own)
            let key = try initKey(c, own: own)
            if case .postgresql(let location) = c.store {
                let store = try StoreOpening.openPostgres(c, migrate: true)
                let (from, to) = store.schemaChange
                Console.line(from == to ? "store \(location) has schema version \(to)"
                             : from == 0 ? "created the schema of store \(location), version \(to)"
                             : "upgraded the schema of store \(location) from version \(from) to \(to)")
                try register(c, key: key, in: store)
            }
        } catch {
            Console.error("\(error)")
            throw ExitCode(ExitStatus.error)
        }
    }

    /// The lone host's SQLite file (and its directory), group jitsh, no access for others.
    func initSQLite(_ c: HostConfiguration, own: (String, Int) -> Void) throws {
        let fm = FileManager.default
        let directory = (c.storePath as NSString).deletingLastPathComponent
        if !fm.fileExists(atPath: directory) {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            own(directory, 0o770)
            Console.line("created \(directory)")
        }
        let existed = fm.fileExists(atPath: c.storePath)
        let store = try SQLiteStore(path: c.storePath, create: true)
        _ = try store.integrity()
        for suffix in ["", "-wal", "-shm"] where fm.fileExists(atPath: c.storePath + suffix) { own(c.storePath + suffix, 0o660) }
        Console.line(existed ? "\(c.isFleet ? "spool" : "store") \(c.storePath) is there" : "created \(c.isFleet ? "spool" : "store") \(c.storePath)")
    }

    /// The signing key: every host signs its own sessions' ends, fleet or not.
    func initKey(_ c: HostConfiguration, own: (String, Int) -> Void) throws -> SigningKey {
        let fm = FileManager.default
        if fm.fileExists(atPath: c.signingKeyPath) {
            let key = try SigningKey.load(c.signingKeyPath)
            Console.line("signing key \(c.signingKeyPath) is there (id \(key.id))")
            return key
        }
        let keyDirectory = (c.signingKeyPath as NSString).deletingLastPathComponent
        try fm.createDirectory(atPath: keyDirectory, withIntermediateDirectories: true)
        let key = try SigningKey.create(c.signingKeyPath)
        own(c.signingKeyPath, 0o640)
        Console.line("created signing key \(c.signingKeyPath) (id \(key.id))")
        return key
    }

    /// This host's public key and tags in the central store, so every host can verify its
    /// recordings. Refused by the database when the role is not mapped to this host's name.
    func register(_ c: HostConfiguration, key: SigningKey, in store: PostgresStore) throws {
        let new = try store.register(host: c.host.name, tags: c.host.tags, key: key.publicKey, at: Clock.now)
        Console.line(new.key ? "registered host \(c.host.name) and its key \(key.id) in the central store"
                     : "host \(c.host.name) and its key \(key.id) are registered in the central store")
    }
}
