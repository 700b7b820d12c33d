import ArgumentParser
import Foundation
import Posix
import Policy
import Session
import Store

/// `jitsh serve`: the web app for reviewers and approvers. The options are checked here; the
/// server is the jitsh-serve binary beside jitsh, so the forced command links no Hummingbird or NIO.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve recordings, search and the grant inbox to a browser (reviewers and approvers).",
        discussion: """
            Listens on 127.0.0.1:8377 unless told otherwise; put it behind the reverse proxy you already \
            trust, or give it --tls-cert and --tls-key. People sign in with a one-time link from \
            `jitsh review login` (or `ssh HOST review login`); there are no passwords. Run it as an \
            unprivileged account in group jitsh (examples/systemd/jitsh-serve.service): it reads the store and \
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
        if !listen.hasPrefix("unix:/") && !listen.contains(":") {
            throw ValidationError("--listen \(listen.visible): give HOST:PORT (127.0.0.1:8377), [::1]:8377 or unix:/run/jitsh/serve.sock")
        }
        guard let s = Duration.seconds(sessionLifetime), s >= 60, s <= 86400 else {
            throw ValidationError("--session-lifetime \(sessionLifetime.visible): give a duration from 1m to 24h")
        }
    }

    func run() throws {
        // It would bind, unlink and read with the group.
        try HelperBinary.requireOwnGroup("serve", unit: "jitsh-serve.service")
        var argv = [HelperBinary.path("jitsh-serve"), "--listen", listen, "--session-lifetime", String(Duration.seconds(sessionLifetime) ?? 4 * 3600)]
        if let config { argv += ["--config", config] }
        if let tlsCert, let tlsKey { argv += ["--tls-cert", tlsCert, "--tls-key", tlsKey] }
        // jitsh itself holds no HTTP server.
        try HelperBinary.exec(argv)
    }
}
