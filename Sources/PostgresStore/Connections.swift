import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Store

/// How to reach the central store: where, the role's password, and the CA that signs the
/// server's certificate (TLS is required off loopback).
public struct PostgresSettings: Sendable {
    public var location: PostgresLocation
    public var password: String?
    /// PEM file of the CA the server's certificate must chain to; with it, TLS is required.
    public var caFile: String?
    /// The longest any one connect or statement may take before the store is called unreachable.
    public var timeout: TimeInterval
    /// Connections one process keeps at most (concurrent transactions).
    public var connections: Int

    public init(location: PostgresLocation, password: String?, caFile: String? = nil, timeout: TimeInterval = 15, connections: Int = 8) {
        self.location = location
        self.password = password
        self.caFile = caFile
        self.timeout = timeout
        self.connections = connections
    }
}

/// A few connections, opened on demand and used one caller at a time, bridged to the store's
/// synchronous protocols: every future is waited for off the event loop, for a bounded time.
/// Nothing here runs unless a store is configured as postgresql://.
final class Connections: @unchecked Sendable {
    let settings: PostgresSettings
    // `idle` and `open` are read and written under `available` only.
    private let available = NSCondition()
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var nextID = 0
    private let tls: PostgresConnection.Configuration.TLS
    // PostgresNIO logs to swift-log; jitsh's stdout is the engineer's terminal, so nothing goes there.
    let logger = Logger(label: "jitsh.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    init(_ settings: PostgresSettings) throws(StoreError) {
        self.settings = settings
        if let caFile = settings.caFile {
            do {
                var config = TLSConfiguration.makeClientConfiguration()
                config.trustRoots = .file(caFile)
                tls = .require(try NIOSSLContext(configuration: config))
            } catch {
                throw StoreError(.permission, "the CA file \(caFile) of the central store cannot be used: \(error)")
            }
        } else if settings.location.isLoopback {
            tls = .disable
        } else {
            throw StoreError(.refused, "the central store \(settings.location) is not on loopback, so TLS is required: set store_ca_file: in jitsh.yaml")
        }
    }

    deinit {
        for c in idle { close(c) }
    }

    /// Closes and waits (bounded) for the close: PostgresNIO wants every connection closed
    /// before it goes, and a dead peer closes at once.
    private func close(_ c: PostgresConnection) {
        let closed: EventLoopFuture<Void> = c.close()
        _ = try? wait(closed, "closing")
    }

    /// Runs `body` on a connection of its own; one that failed mid-way is closed, not reused.
    @discardableResult
    func with<T>(_ body: (Link) throws -> T) throws -> T {
        let connection = try checkOut()
        let link = Link(connection: connection, owner: self)
        do {
            let result = try body(link)
            checkIn(connection, broken: link.broken)
            return result
        } catch {
            // A refusal (of the database or of the caller's own check) leaves the connection
            // usable once its transaction is rolled back; a timeout or a lost link does not.
            checkIn(connection, broken: link.broken)
            throw error
        }
    }

    /// BEGIN … COMMIT around `body`; ROLLBACK when it throws.
    @discardableResult
    func transaction<T>(_ body: (Link) throws -> T) throws -> T {
        try with { link in
            try link.execute("BEGIN")
            do {
                let result = try body(link)
                try link.execute("COMMIT")
                return result
            } catch {
                if !link.broken {
                    do { try link.execute("ROLLBACK") } catch { link.broken = true }
                }
                throw error
            }
        }
    }

    private func checkOut() throws -> PostgresConnection {
        available.lock()
        let deadline = Date().addingTimeInterval(settings.timeout)
        while idle.isEmpty && open >= settings.connections {
            guard available.wait(until: deadline) else {
                available.unlock()
                throw StoreError(.locked, "no connection to the central store \(settings.location) came free within \(Int(settings.timeout)) s")
            }
        }
        if let c = idle.popLast() {
            available.unlock()
            return c
        }
        open += 1
        nextID += 1
        let id = nextID
        available.unlock()
        do {
            return try connect(id: id)
        } catch {
            available.lock()
            open -= 1
            available.signal()
            available.unlock()
            throw error
        }
    }

    private func checkIn(_ c: PostgresConnection, broken: Bool) {
        available.lock()
        let drop = broken || c.isClosed
        if drop { open -= 1 } else { idle.append(c) }
        available.signal()
        available.unlock()
        if drop { close(c) }
    }

    func connect(id: Int) throws -> PostgresConnection {
        let l = settings.location
        var config = PostgresConnection.Configuration(host: l.host, port: l.port, username: l.role, password: settings.password,
                                                      database: l.database, tls: tls)
        config.options.connectTimeout = .milliseconds(Int64(settings.timeout * 1000))
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let connecting = PostgresConnection.connect(on: loop, configuration: config, id: id, logger: logger)
        let connection: PostgresConnection
        // PostgresNIO ends the attempt at the connect timeout with its own reason; the wait's
        // bound is a little longer, for a peer that accepted and never answered.
        do { connection = try wait(connecting, "connecting", bound: settings.timeout + 2) } catch {
            // One that comes up after the bound is closed, not left open.
            connecting.whenSuccess { let _: EventLoopFuture<Void> = $0.close() }
            throw error
        }
        // A statement that hangs (a lock never released) fails in the database, within the bound.
        let bound = Int(settings.timeout * 1000)
        do {
            _ = try wait(connection.query(PostgresQuery(unsafeSQL: "SET statement_timeout = \(bound)"), logger: logger), "setting up")
        } catch {
            close(connection)
            throw error
        }
        return connection
    }

    /// The future's value, or a `StoreError` when it failed or did not come within the bound.
    func wait<T>(_ future: EventLoopFuture<T>, _ doing: String, bound: TimeInterval? = nil) throws(StoreError) -> T {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        future.whenComplete { result in
            box.set(result)
            done.signal()
        }
        let bound = bound ?? settings.timeout
        guard done.wait(timeout: .now() + bound) == .success, let result = box.get() else {
            throw StoreError(.other, "the central store \(settings.location) did not answer within \(Int(bound)) s (\(doing))")
        }
        switch result {
        case .success(let value): return value
        case .failure(let error): throw PostgresErrors.describe(error, settings.location)
        }
    }
}

/// One checked-out connection, for one caller.
final class Link {
    let connection: PostgresConnection
    unowned let owner: Connections
    /// Set when a statement failed in a way that leaves the connection unusable.
    var broken = false

    init(connection: PostgresConnection, owner: Connections) {
        self.connection = connection
        self.owner = owner
    }

    @discardableResult
    func query(_ q: PostgresQuery) throws(StoreError) -> [PostgresRandomAccessRow] {
        do {
            return try owner.wait(connection.query(q, logger: owner.logger), "a query").rows.map { $0.makeRandomAccess() }
        } catch {
            if error.kind != .conflict && error.kind != .refused && error.kind != .permission { broken = true }
            throw error
        }
    }

    func execute(_ sql: String) throws(StoreError) {
        try query(PostgresQuery(unsafeSQL: sql))
    }
}

/// Carries a future's result from the event loop to the waiting thread (guarded by its lock).
private final class ResultBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, Error>?

    func set(_ r: Result<T, Error>) {
        lock.lock()
        result = r
        lock.unlock()
    }

    func get() -> Result<T, Error>? {
        lock.lock()
        defer { lock.unlock() }
        return result
    }
}

/// PostgreSQL's failures as one line an operator can act on; no SQL reaches the engineer.
enum PostgresErrors {
    static func describe(_ error: Error, _ location: PostgresLocation) -> StoreError {
        if let e = error as? StoreError { return e }
        if let e = error as? PSQLError {
            if let info = e.serverInfo {
                let state = info[.sqlState] ?? ""
                let message = info[.message] ?? "error \(state)"
                switch state {
                case "28P01", "28000":
                    return StoreError(.permission, "the central store \(location) refused role \(location.role): \(message) (check store_password_file)")
                case "3D000":
                    return StoreError(.missing, "the central store \(location) has no database \(location.database): \(message)")
                case "42501":
                    return StoreError(.permission, "the central store \(location) refused role \(location.role): \(message)")
                case "23001":
                    return StoreError(.refused, "the store refused a change: \(message)")
                case let s where s.hasPrefix("23"):
                    return StoreError(.conflict, "the store refused a change: \(message)")
                case "42P01":
                    return StoreError(.missing, "the central store \(location) has no jitsh schema (\(message)); run jitsh init")
                case "57014":
                    return StoreError(.locked, "the central store \(location) did not finish a statement in time: \(message)")
                case let s where s.hasPrefix("57") || s.hasPrefix("08"):
                    return StoreError(.other, "the central store \(location) went away: \(message)")
                default:
                    return StoreError(.other, "the central store \(location) failed: \(message)")
                }
            }
            switch e.code {
            case .sslUnsupported:
                return StoreError(.refused, "the central store \(location) does not offer TLS, which jitsh requires with store_ca_file:")
            case .connectionError, .failedToAddSSLHandler:
                return StoreError(.other, "the central store \(location) cannot be reached: \(reason(e.underlying))")
            case .serverClosedConnection, .clientClosedConnection, .uncleanShutdown:
                return StoreError(.other, "the central store \(location) went away (the connection closed)")
            case .authMechanismRequiresPassword:
                return StoreError(.permission, "the central store \(location) asks role \(location.role) for a password: set store_password_file:")
            default:
                return StoreError(.other, "the central store \(location) failed: \(e.code)")
            }
        }
        return StoreError(.other, "the central store \(location) failed: \(reason(error))")
    }

    /// The errno behind a connect failure, in words, where there is one.
    static func reason(_ error: Error?) -> String {
        guard let error else { return "no reason given" }
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
        if let multi = error as? NIOConnectionError {
            if let io = multi.connectionErrors.first?.error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
            if multi.dnsAAAAError != nil || multi.dnsAError != nil { return "the host name does not resolve" }
        }
        if let c = error as? ChannelError, case .connectTimeout(let t) = c { return "no answer within \(t.nanoseconds / 1_000_000_000) s" }
        if error is ChannelError { return "\(error)" }
        if let ssl = error as? NIOSSLError { return "TLS failed (\(ssl))" }
        if let ssl = error as? BoringSSLError { return "TLS failed (\(ssl))" }
        return "\(error)"
    }
}
