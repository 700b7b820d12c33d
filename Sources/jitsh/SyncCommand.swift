import ArgumentParser
import Fleet
import Foundation
import Posix
import Policy
import Session
import Store

/// `jitsh sync`: a fleet host's shipper and grant view. `--once` and `--status` run here; the
/// service is the jitsh-sync binary beside jitsh, so the forced command links no service
/// lifecycle, metrics or HTTP.
struct SyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Ship this fleet host's spool to the central store and keep its view of grants and locks fresh.",
        discussion: """
            On a fleet host (store: postgresql://… in jitsh.yaml) sessions record into the local spool \
            (spool:, default /var/lib/jitsh/spool.db) and never wait for the network. jitsh sync ships \
            every session's rows to the central store in order, each once, and mirrors the central \
            grants and locks into the spool, so a revocation made on any host ends sessions here.

            With no flag it runs as a service (examples/systemd/jitsh-sync.service): logs go to \
            stderr, Prometheus metrics to sync_metrics: (default 127.0.0.1:9477), and SIGTERM ships \
            what it can before it exits.

            Examples:
              jitsh sync --once           ship, refresh the view, exit (3: could not)
              jitsh sync --status         lag, queued bytes, oldest unshipped, error
              jitsh sync --status --json
              jitsh sync                  the service
            """)

    @Option(help: ArgumentHelp("The host configuration (root only).", valueName: "path"))
    var config: String?

    @Flag(help: "Ship what is waiting and refresh the grant view, then exit.")
    var once = false

    @Flag(help: "Print the spool's lag, queued bytes, oldest unshipped row and last error.")
    var status = false

    @Flag(help: "With --status: one JSON object.")
    var json = false

    func validate() throws {
        if once && status { throw ValidationError("give --once or --status, not both") }
        if json && !status { throw ValidationError("--json goes with --status") }
    }

    func run() throws {
        // The spool and the database role's password are jitsh's group's.
        try HelperBinary.requireOwnGroup("sync", unit: "jitsh-sync.service")
        if !once && !status { try exec() }
        let sync: FleetSync
        do {
            let installation = try Installation.load(override: config)
            sync = try FleetSync(installation.configuration)
        } catch {
            Console.error("sync: \(error)")
            throw ExitCode(ExitStatus.error)
        }
        if status {
            do {
                let report = StatusReport(try sync.status(), config: sync.config, now: Int64(Date().timeIntervalSince1970 * 1_000_000))
                if json { Console.json(JSONOutput.string(report)) } else { report.lines.forEach(Console.line) }
            } catch {
                Console.error("sync: \(error)")
                throw ExitCode(ExitStatus.error)
            }
            return
        }
        do {
            let r = try sync.once()
            Console.line("shipped \(r.chunks) chunks (\(ByteSize.describe(Int(r.bytes)))), \(r.events) events, \(r.ended) ended sessions"
                         + (r.quarantined.isEmpty ? "" : "; quarantined: \(r.quarantined.map { $0.isEmpty ? "events of no session" : $0 }.joined(separator: ", "))")
                         + (r.pruned > 0 ? "; pruned \(r.pruned) shipped recordings past spool_retention from the spool" : "")
                         + (r.adoptedEnds.isEmpty ? "" : "; took the signed ends of \(r.adoptedEnds.joined(separator: ", ")) from their end notes (the spool's disk was full when they ended)")
                         + (r.sweptRooms > 0 ? "; removed the empty end-note rooms of \(r.sweptRooms) killed sessions" : ""))
        } catch {
            Console.error("sync: nothing more could be shipped: \(error)")
            throw ExitCode(ExitStatus.error)
        }
    }

    private func exec() throws -> Never {
        var argv = [HelperBinary.path("jitsh-sync")]
        if let config { argv += ["--config", config] }
        try HelperBinary.exec(argv)
    }
}
