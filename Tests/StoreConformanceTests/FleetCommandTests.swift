import Foundation
import PostgresStore
import Testing
import TestSupport

/// The real jitsh binary against the private PostgreSQL, as an admin sets up a fleet host:
/// jitsh.yaml names the database and a password file, `jitsh init` makes the schema, and the
/// grant verbs work there.
@Suite(.timeLimit(.minutes(1)))
struct FleetCommandTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var jitsh: String {
        ProcessInfo.processInfo.environment["JITSH_BINARY"] ?? repository.appendingPathComponent(".build/debug/jitsh").path
    }

    /// A host's configuration directory: policy, key, password file, jitsh.yaml.
    final class Host {
        let root: String
        let config: String
        let passwordFile: String

        init(store: String, password: String, name: String = "prod-1", extra: String = "") throws {
            root = "/tmp/jitsh-fleet-\(UUID().uuidString.prefix(8))"
            let fm = FileManager.default
            try fm.createDirectory(atPath: root + "/keys", withIntermediateDirectories: true)
            try FleetPolicy.write(into: root, role: "role: operator\nallow:\n  - cmd: ls\n")
            passwordFile = root + "/db.password"
            try (password + "\n").write(toFile: passwordFile, atomically: true, encoding: .utf8)
            guard let group = getgrnam("jitsh")?.pointee.gr_gid else { throw PrivatePostgres.Failure(description: "no group jitsh: run scripts/prerequisites.sh") }
            chown(passwordFile, 0, group)
            chmod(passwordFile, 0o640)
            config = root + "/jitsh.yaml"
            try """
                store: \(store)
                store_password_file: \(passwordFile)
                policies: \(root)/policies
                signing_key: \(root)/keys/signing.key
                spool: \(root)/spool.db
                host: {name: \(name), tags: {env: production}}
                \(extra)
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }

        func jitsh(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
            try PrivatePostgres.execute(FleetCommandTests.jitsh, arguments + ["--config", config], timeout: 30, environment: environment)
        }
    }

    @Test func initAndGrantsAgainstPostgres() throws {
        let pg = try PrivatePostgres.server()
        let db = try pg.database()
        let host = try Host(store: "postgresql://\(PrivatePostgres.admin)@127.0.0.1:\(pg.port)/\(db)", password: pg.password)

        // Before init, a grant verb refuses with what to do.
        let early = try host.jitsh(["grant", "list"])
        #expect(early.status == 3 && early.output.contains("run jitsh init"), "\(early)")

        let created = try host.jitsh(["init"])
        #expect(created.status == 0, "\(created)")
        #expect(created.output.contains("created the schema of store postgresql://\(PrivatePostgres.admin)@127.0.0.1:\(pg.port)/\(db), version \(PostgresStore.schemaVersion)"), "\(created)")
        let again = try host.jitsh(["init"])
        #expect(again.status == 0 && again.output.contains("has schema version \(PostgresStore.schemaVersion)"), "\(again)")

        let request = try host.jitsh(["grant", "request", "--as", "alice", "--role", "operator", "--reason", "INC-7 disk full"])
        #expect(request.status == 0, "\(request)")
        let id = try #require(request.output.firstMatch(of: /grant (\d+):/).map { String($0.1) })
        #expect(try pg.psql("SELECT identity || ' ' || role || ' ' || host_pattern FROM grants WHERE id = \(id)", database: db) == "alice operator prod-1")

        let approve = try host.jitsh(["grant", "approve", "--as", "lead1", id])
        #expect(approve.status == 0 && approve.output.contains("active"), "\(approve)")
        #expect(try pg.psql("SELECT string_agg(kind || ':' || actor, ',' ORDER BY id) FROM grant_events WHERE grant_id = \(id)", database: db)
                == "requested:alice,approved:lead1")

        let list = try host.jitsh(["grant", "list"])
        #expect(list.status == 0, "\(list)")
        #expect(list.output.split(separator: "\n").contains { $0.split(separator: " ").map(String.init)
                    == [id, "active", "alice", "operator", "prod-1", "1h", "INC-7", "disk", "full"] }, "\(list)")

        // The same request twice approved by the requester is refused by the contract, not the database.
        let own = try host.jitsh(["grant", "approve", "--as", "alice", id])
        #expect(own.status == 1, "\(own)")

        // A session records into the spool, and admits on the grants jitsh sync mirrored there:
        // before the first sync it has none.
        let session = try host.jitsh(["--as", "alice"], environment: ["PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": "ls"])
        #expect(session.status == 1 && session.output.hasPrefix("jitsh: alice has no live grant for prod-1"), "\(session)")
        #expect(try host.jitsh(["sync", "--once"]).status == 0)
        let admitted = try host.jitsh(["--as", "alice"], environment: ["PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": "ls"])
        #expect(admitted.status == 0, "\(admitted)")
    }

    /// The password file is the role's secret: anything but root:jitsh 0640 or less is refused
    /// with one line, before any connection.
    @Test func aPasswordFileOthersCanReadIsRefused() throws {
        let pg = try PrivatePostgres.server()
        let db = try pg.database()
        let host = try Host(store: "postgresql://\(PrivatePostgres.admin)@127.0.0.1:\(pg.port)/\(db)", password: pg.password)
        chmod(host.passwordFile, 0o644)
        let refused = try host.jitsh(["init"])
        #expect(refused.status == 3)
        #expect(refused.output.split(separator: "\n").filter { $0.hasPrefix("jitsh:") }.map { $0 + "\n" } == ["jitsh: store_password_file \(host.passwordFile) must be a file owned by root, group jitsh, mode 0640 or less "
                + "(it is uid 0 gid \(getgrnam("jitsh")!.pointee.gr_gid) mode 644); as root: chown root:jitsh \(host.passwordFile) && chmod 0640 \(host.passwordFile)\n"],
                "\(refused)")
        #expect(try pg.psql("SELECT to_regclass('schema_version') IS NULL", database: db) == "t")
    }

    /// Off loopback without a CA: the configuration itself is refused, where it says so.
    @Test func aRemoteStoreWithoutTLSIsRefused() throws {
        let host = try Host(store: "postgresql://jitsh_prod_1@db1.example.net:5432/jitsh", password: "x")
        let refused = try host.jitsh(["grant", "list"])
        #expect(refused.status == 3)
        #expect(refused.output == "jitsh: the configuration does not load:\n\(host.config):1:8: error: store postgresql://jitsh_prod_1@db1.example.net:5432/jitsh: "
                + "TLS is required when the database is not on loopback; set store_ca_file: to the CA of its certificate\n", "\(refused)")
    }
}
