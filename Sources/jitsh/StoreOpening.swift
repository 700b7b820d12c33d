import PostgresStore
import Posix
import Session
import Store

/// Opens the store `store:` names for the grant verbs and init. PostgreSQL is reached only
/// here, and only when configured: a lone host's jitsh never loads a connection.
enum StoreOpening {
    static func open(_ c: HostConfiguration, migrate: Bool = false) throws -> any Store {
        switch c.store {
        case .sqlite(let path):
            return try SQLiteStore(path: path, create: migrate)
        case .postgresql:
            return try openPostgres(c, migrate: migrate)
        }
    }

    static func openPostgres(_ c: HostConfiguration, migrate: Bool) throws -> PostgresStore {
        guard case .postgresql(let location) = c.store else { throw StoreError(.other, "the store is not PostgreSQL") }
        var password: String?
        if let path = c.storePasswordFile { password = try StorePasswordFile.read(path) }
        // The CA file is read as the TLS context is made, here: never again after start.
        return try JitshGroup.raised(.storeCredentials) { () throws in
            try PostgresStore(PostgresSettings(location: location, password: password, caFile: c.storeCAFile), migrate: migrate)
        }
    }
}
