import Crypto
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Policy
import Store

/// What `jitsh serve` was given: where to listen, the store and policy of this host, TLS.
public struct ServeSetup: Sendable {
    public enum Listen: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var listen: Listen
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var store: any WebReviewStore
    public var host: HostInfo
    /// Nil when the host key cannot be read: pages then say the signature was not checked.
    public var publicKey: Curve25519.Signing.PublicKey?
    public var loadPolicy: @Sendable () throws -> Policy
    /// How long a browser stays signed in, in seconds as a cookie's Max-Age and --session-lifetime count.
    public var sessionLifetime: Int64 = 4 * 3600
    /// Grant notifications go here, as the CLI's do.
    public var webhook: String?
    /// Where xterm.js 3's CommonJS modules are installed (Debian's node-xterm).
    public var xtermDirectory = "/usr/share/nodejs/xterm/lib"

    public init(listen: Listen, store: any WebReviewStore, host: HostInfo, publicKey: Curve25519.Signing.PublicKey?,
                loadPolicy: @escaping @Sendable () throws -> Policy) {
        self.listen = listen
        self.store = store
        self.host = host
        self.publicKey = publicKey
        self.loadPolicy = loadPolicy
    }
}

public struct ServeError: Error, CustomStringConvertible {
    public var description: String
}

/// The request context: Hummingbird's, plus the client's address (for the sign-in limit and the audit log).
struct WebContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    var client: String {
        guard let address = channel.remoteAddress else { return "local" }
        return address.ipAddress ?? "unix socket"
    }
}

/// `jitsh serve`: the web app for reviewers and approvers, over this host's store.
public enum ReviewServer {
    /// Runs until SIGTERM or SIGINT. `ready` is told the address once the socket listens.
    public static func run(_ setup: ServeSetup, ready: @escaping @Sendable (String) -> Void) throws {
        let app = try WebApp(setup)
        let router = Router(context: WebContext.self)
        router.add(middleware: SecurityHeaders())
        router.add(middleware: RequestLog())
        app.routes(router)
        // Recordings are indexed for search in the background, in short transactions, so the
        // first search after a busy day does not wait for it.
        Thread.detachNewThread {
            while true {
                app.index(wait: false)
                Thread.sleep(forTimeInterval: 30)
            }
        }
        let address: BindAddress
        switch setup.listen {
        case .tcp(let host, let port): address = .hostname(host, port: port)
        case .unix(let path):
            unlink(path)
            address = .unixDomainSocket(path: path)
        }
        var logger = Logger(label: "jitsh-serve")
        logger.logLevel = .warning
        let server: HTTPServerBuilder
        if let cert = setup.tlsCertificate, let key = setup.tlsKey {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
                let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
                server = try .tls(.http1(), tlsConfiguration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey)))
            } catch {
                throw ServeError(description: "the TLS certificate or key does not load (\(cert), \(key)): \(error)")
            }
        } else {
            server = .http1()
        }
        let listen = setup.listen
        let scheme = setup.tlsCertificate == nil ? "http" : "https"
        let application = Application(router: router, server: server, configuration: .init(address: address, serverName: "jitsh"),
                                      onServerRunning: { channel in
                                          if case .unix(let path) = listen { chmod(path, 0o660) }
                                          ready(channel.localAddress.map { "\(scheme)://\($0.ipAddress ?? "")\($0.port.map { ":\($0)" } ?? "")" }
                                                ?? "\(listen)")
                                      }, logger: logger)
        let done = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        Task {
            do { try await application.runService() } catch { failure.error = error }
            done.signal()
        }
        done.wait()
        if let error = failure.error { throw ServeError(description: "jitsh serve stopped: \(error)") }
    }
}

final class FailureBox: @unchecked Sendable { var error: Error? }

/// Headers on every answer: no inline script or style may run (the player is a served file),
/// nothing frames the pages, no referrer carries a sign-in token away, nothing is cached.
struct SecurityHeaders: RouterMiddleware {
    typealias Context = WebContext
    static let policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func handle(_ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response) async throws -> Response {
        var response: Response
        do { response = try await next(request, context) } catch let e as HTTPError {
            response = Page.error(status: e.status, "\(e.status.code) \(e.status.reasonPhrase)")
        } catch {
            // The browser learns only that it failed; the server's log says why (no SQL for a page).
            FileHandle.standardError.write(Data("jitsh serve: \(request.method) \(RequestLog.shown(request.uri.path)): \(error)\n".utf8))
            response = Page.error(status: .internalServerError, "this page cannot be made now: the store could not be read (the server's log says why)")
        }
        response.headers[.contentSecurityPolicy] = Self.policy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.init("Referrer-Policy")!] = "no-referrer"
        response.headers[.init("X-Frame-Options")!] = "DENY"
        response.headers[.init("Cross-Origin-Opener-Policy")!] = "same-origin"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

/// One line a request on standard error: method, path (never the query, which may hold a token
/// or a search), status, time. No recording byte or header is logged.
struct RequestLog: RouterMiddleware {
    typealias Context = WebContext

    func handle(_ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let response = try await next(request, context)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        let path = Self.shown(request.uri.path)
        FileHandle.standardError.write(Data("jitsh serve: \(request.method) \(path) \(response.status.code) \(String(format: "%.1f", ms)) ms\n".utf8))
        return response
    }

    /// A path as the log may hold it: printable ASCII, at most 200 characters.
    static func shown(_ path: String) -> String {
        path.prefix(200).map { $0.isASCII && !$0.isWhitespace && !($0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } ?? true) ? String($0) : "?" }.joined()
    }
}
