import Foundation
import Policy
import PostgresStore
import Session
import Store

/// The arguments `jitsh serve` validated and hands to the `jitsh-serve` binary, and the start
/// from them: the host's configuration, store, policy and key. Kept out of the jitsh binary so
/// the setgid forced command links no HTTP server (and starts no faster or slower for it).
public enum ServeLauncher {
    public struct Arguments: Sendable, Equatable {
        public var config: String?
        public var listen: String = "127.0.0.1:8377"
        public var tlsCertificate: String?
        public var tlsKey: String?
        public var sessionLifetime: Int64 = 4 * 3600

        public init() {}

        /// `--name value` pairs, as `jitsh serve` writes them.
        public var argv: [String] {
            var out = ["--listen", listen, "--session-lifetime", String(sessionLifetime)]
            if let config { out += ["--config", config] }
            if let tlsCertificate, let tlsKey { out += ["--tls-cert", tlsCertificate, "--tls-key", tlsKey] }
            return out
        }

        public init?(argv: [String]) {
            guard argv.count % 2 == 0 else { return nil }
            for k in stride(from: 0, to: argv.count, by: 2) {
                let value = argv[k + 1]
                switch argv[k] {
                case "--listen": listen = value
                case "--config": config = value
                case "--tls-cert": tlsCertificate = value
                case "--tls-key": tlsKey = value
                case "--session-lifetime": guard let s = Int64(value), s > 0 else { return nil }; sessionLifetime = s
                default: return nil
                }
            }
        }
    }

    /// HOST:PORT, [IPv6]:PORT or unix:PATH.
    public static func address(_ text: String) -> ServeSetup.Listen? {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            return path.hasPrefix("/") ? .unix(path: path) : nil
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : .tcp(host: host, port: port)
    }

    /// A fleet host's serve reviews every host: the central store, opened as the grant verbs open
    /// it (serve's account is in group jitsh, so the password file is readable as is).
    static func central(_ c: HostConfiguration) throws -> PostgresStore? {
        guard case .postgresql(let location) = c.store else { return nil }
        let password = try c.storePasswordFile.map { path throws in try StorePasswordFile.read(path) }
        return try PostgresStore(PostgresSettings(location: location, password: password, caFile: c.storeCAFile))
    }

    /// Opens what the server needs and serves until SIGTERM; a problem is one line and exit 3.
    public static func run(_ a: Arguments) -> Int32 {
        func fail(_ message: String) -> Int32 {
            FileHandle.standardError.write(Data("jitsh serve: \(message)\n".utf8))
            return 3
        }
        guard let listen = address(a.listen) else { return fail("--listen \(a.listen): give HOST:PORT or unix:PATH") }
        let installation: Installation
        let store: any WebReviewStore
        do {
            installation = try Installation.load(override: a.config)
            _ = try installation.loadPolicy()
            let local = try SQLiteStore(path: installation.configuration.sqliteStore(for: "jitsh serve"), create: false, connections: .pool)
            store = try central(installation.configuration).map { FleetWebStore(central: $0, spool: local) } ?? local
        } catch {
            return fail("\(error)")
        }
        let key = try? SigningKey.load(installation.configuration.signingKeyPath).publicKey
        if key == nil { FileHandle.standardError.write(Data("jitsh serve: the host signing key cannot be read; pages will say signatures were not checked\n".utf8)) }
        var setup = ServeSetup(listen: listen, store: store, host: installation.configuration.host, publicKey: key,
                               loadPolicy: { [installation] in try installation.loadPolicy() })
        setup.tlsCertificate = a.tlsCertificate
        setup.tlsKey = a.tlsKey
        setup.webhook = installation.configuration.webhook
        setup.sessionLifetime = a.sessionLifetime
        do {
            try ReviewServer.run(setup) { address in FileHandle.standardError.write(Data("jitsh serve: listening on \(address)\n".utf8)) }
        } catch {
            return fail("\(error)")
        }
        return 0
    }
}
