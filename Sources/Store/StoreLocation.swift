import Foundation

/// Where `store:` in jitsh.yaml points: a SQLite file (a lone host) or a fleet's PostgreSQL.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgresql(PostgresLocation)

    /// An absolute path, or `postgresql://ROLE@HOST[:PORT]/DATABASE`; nil with what is wrong.
    public static func parse(_ text: String) -> Result<StoreLocation, StoreLocationError> {
        if text.hasPrefix("/") { return .success(.sqlite(path: text)) }
        guard text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") else {
            return .failure(StoreLocationError("store must be an absolute path or postgresql://ROLE@HOST:PORT/DATABASE"))
        }
        return PostgresLocation.parse(text).map(StoreLocation.postgresql)
    }

    public var description: String {
        switch self {
        case .sqlite(let path): return path
        case .postgresql(let p): return p.description
        }
    }
}

public struct StoreLocationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A PostgreSQL server, database and role; the password is never part of it (it is in
/// `store_password_file:`, readable by group jitsh only).
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public var role: String
    public var host: String
    public var port: Int
    public var database: String

    public init(role: String, host: String, port: Int = 5432, database: String) {
        self.role = role
        self.host = host
        self.port = port
        self.database = database
    }

    public var description: String { "postgresql://\(role)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)" }

    /// Off loopback the connection must be TLS: credentials and recordings cross a network.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    static func parse(_ text: String) -> Result<PostgresLocation, StoreLocationError> {
        let shape = StoreLocationError("store \(text): write postgresql://ROLE@HOST:PORT/DATABASE")
        guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty,
              let role = components.user, !role.isEmpty else { return .failure(shape) }
        if components.password != nil {
            return .failure(StoreLocationError("store \(PostgresLocation(role: role, host: host, database: "…")): no password in jitsh.yaml; put it in store_password_file:"))
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/"), components.query == nil else { return .failure(shape) }
        let safe = { (s: String) in s.allSatisfy { $0.isLetter || $0.isNumber || "_-.".contains($0) } }
        guard safe(role), safe(database) else { return .failure(StoreLocationError("store \(text): role and database are letters, digits, _ - .")) }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { return .failure(shape) }
        return .success(PostgresLocation(role: role, host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port,
                                         database: database))
    }
}
