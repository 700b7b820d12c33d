import ArgumentParser
import Foundation
import Policy
import Serve
import Session
import Store

/// `jitsh serve`: the web app for reviewers and approvers. Its own subcommand, so the forced
/// command never starts an event loop; Hummingbird and NIO run only here.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve recordings, search and the grant inbox to a browser (reviewers and approvers).",
        discussion: """
            Listens on 127.0.0.1:8377 unless told otherwise; put it behind the reverse proxy you already \
            trust, or give it --tls-cert and --tls-key. People sign in with a one-time link from \
            `jitsh review login` (or `ssh HOST review login`); there are no passwords. Run it as an \
            unprivileged account in group jitsh (examples/jitsh-serve.service): it reads the store and \
            never runs a command.

            Examples:
              jitsh serve
              jitsh serve --listen unix:/run/jitsh/serve.sock
              jitsh serve --listen 0.0.0.0:8443 --tls-cert /etc/jitsh/web.crt --tls-key /etc/jitsh/web.key
            """)

    @Option(help: ArgumentHelp("The host configuration (root only).", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp("HOST:PORT, [IPv6]:PORT, or unix:PATH.", valueName: "address"))
    var listen = "127.0.0.1:8377"

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("PEM certificate chain: serve HTTPS (cookies then Secure).", valueName: "file"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("session-lifetime"), help: ArgumentHelp("How long a browser stays signed in (4h, 30m).", valueName: "duration"))
    var sessionLifetime = "4h"

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("give --tls-cert and --tls-key together") }
        if ServeCommand.address(listen) == nil {
            throw ValidationError("--listen \(listen.visible): give HOST:PORT (127.0.0.1:8377), [::1]:8377 or unix:/run/jitsh/serve.sock")
        }
        guard let s = Duration.seconds(sessionLifetime), s >= 60, s <= 86400 else {
            throw ValidationError("--session-lifetime \(sessionLifetime.visible): give a duration from 1m to 24h")
        }
    }

    static func address(_ text: String) -> ServeSetup.Listen? {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            return path.hasPrefix("/") ? .unix(path: path) : nil
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : .tcp(host: host, port: port)
    }

    static func holdsOwnGroup(_ gid: gid_t) -> Bool {
        var groups = [gid_t](repeating: 0, count: 256)
        let n = getgroups(Int32(groups.count), &groups)
        return n > 0 && groups.prefix(Int(n)).contains(gid)
    }

    func run() throws {
        // The store is reached with jitsh's group. A person who does not hold that group
        // themselves gets no server out of a setgid jitsh (it would bind, unlink and read with it).
        if Privilege.isElevated && getuid() != 0 && !ServeCommand.holdsOwnGroup(getegid()) {
            Console.error("jitsh serve runs as root or as an account in group jitsh (examples/jitsh-serve.service), not through the setgid bit")
            throw ExitCode(ExitStatus.error)
        }
        let installation: Installation
        let store: SQLiteStore
        do {
            installation = try Installation.load(override: config)
            _ = try installation.loadPolicy()
            store = try SQLiteStore(path: installation.configuration.storePath, create: false)
        } catch {
            Console.error("\(error)")
            throw ExitCode(ExitStatus.error)
        }
        let key = try? SigningKey.load(installation.configuration.signingKeyPath).publicKey
        if key == nil { Console.error("serve: the host signing key cannot be read; pages will say signatures were not checked") }
        var setup = ServeSetup(listen: ServeCommand.address(listen)!, store: store, host: installation.configuration.host, publicKey: key,
                               loadPolicy: { [installation] in try installation.loadPolicy() })
        setup.tlsCertificate = tlsCert
        setup.tlsKey = tlsKey
        setup.webhook = installation.configuration.webhook
        setup.sessionLifetime = Int64(Duration.seconds(sessionLifetime) ?? 4 * 3600)
        do {
            try ReviewServer.run(setup) { address in Console.error("serve: listening on \(address)") }
        } catch {
            Console.error("\(error)")
            throw ExitCode(ExitStatus.error)
        }
    }
}
