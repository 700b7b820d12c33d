import Fleet
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Session
import Store

/// `jitsh sync` as a service (jitsh execs this binary): ships the spool and keeps the grant view
/// fresh until SIGTERM, logs to stderr (journald), Prometheus metrics on a loopback port.
/// Usage: jitsh-sync [--config PATH]
@main
enum SyncMain {
    static func main() async {
        var args = Array(CommandLine.arguments.dropFirst())
        var override: String?
        if args.count == 2, args[0] == "--config" { override = args[1]; args = [] }
        guard args.isEmpty else { fail("usage: jitsh-sync [--config PATH] (run it as jitsh sync)") }
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .info
            return h
        }
        let logger = Logger(label: "jitsh.sync")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let sync: FleetSync
        do {
            sync = try FleetSync(try Installation.load(override: override).configuration)
        } catch {
            fail("\(error)")
        }
        guard let (host, port) = address(sync.config.syncMetrics) else { fail("sync_metrics \(sync.config.syncMetrics): give a loopback HOST:PORT") }

        let router = Router()
        router.get("/metrics") { _, _ -> String in
            var out: [UInt8] = []
            registry.emit(into: &out)
            return String(decoding: out, as: UTF8.self)
        }
        let metrics = Application(router: router, configuration: .init(address: .hostname(host, port: port)), logger: logger)
        let shipping = ShippingService(sync: sync, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: metrics), .init(service: shipping, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info("jitsh sync: shipping \(sync.config.spoolPath) to \(sync.config.store), metrics on http://\(host):\(port)/metrics")
        do {
            try await group.run()
        } catch {
            fail("\(error)")
        }
    }

    static func address(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("jitsh sync: \(message)\n".utf8))
        exit(3)
    }
}
