import Fleet
import Foundation
import Policy
import PostgresStore
import Session
import Store

/// What doctor learns of a fleet host's link to the central store, probed once, judged by
/// `FleetDoctorRules` (pure: the tests feed it values).
struct FleetProbe {
    var location: String
    var loopback: Bool
    /// Why the central store could not be opened (unreachable, credentials, schema version).
    var openError: String?
    var schemaVersion = 0
    var encrypted = false
    var excess: [String] = []
    var mappedHost: String?
    var hostName: String
    var role: String
    var keyRegistered = false
    var status: StatusReport?
    var statusError: String?
    var spoolQuota: Int64

    static func probe(_ c: HostConfiguration) -> FleetProbe {
        guard case .postgresql(let location) = c.store else { preconditionFailure("a fleet host's store is PostgreSQL") }
        var p = FleetProbe(location: location.description, loopback: location.isLoopback, hostName: c.host.name, role: location.role,
                           spoolQuota: c.spoolQuota)
        do {
            let sync = try FleetSync(c)
            p.status = StatusReport(try sync.status(), config: c, now: Int64(Date().timeIntervalSince1970 * 1_000_000))
        } catch {
            p.statusError = "\(error)"
        }
        do {
            let store = try StoreOpening.openPostgres(c, migrate: false)
            p.schemaVersion = store.schemaChange.to
            p.encrypted = try store.connectionIsEncrypted()
            p.excess = try store.excessPrivileges()
            p.mappedHost = try store.mappedHost()
            if let key = try? SigningKey.load(c.signingKeyPath) {
                p.keyRegistered = try store.hostKey(host: c.host.name, id: key.id) != nil
            }
        } catch {
            p.openError = "\(error)"
        }
        return p
    }
}

enum FleetDoctorRules {
    static func checks(_ p: FleetProbe) -> [DoctorCheck] {
        var out: [DoctorCheck] = []
        if let error = p.openError {
            out.append(.fail("central store", error, fix: "check that \(p.location) is reachable, the password file, and run jitsh init"))
        } else {
            out.append(.ok("central store", "\(p.location) answers, schema version \(p.schemaVersion)"))
            if p.encrypted {
                out.append(.ok("central TLS", "the connection is encrypted"))
            } else if p.loopback {
                out.append(.ok("central TLS", "not encrypted, on loopback"))
            } else {
                out.append(.fail("central TLS", "the connection to \(p.location) is not encrypted", fix: "set store_ca_file: and enable ssl on the server"))
            }
            if !p.excess.isEmpty {
                out.append(.fail("database role", "\(p.role): " + p.excess.joined(separator: "; "),
                                 fix: "connect as a host role of its own: jitsh fleet add-host \(p.hostName)"))
            } else if let mapped = p.mappedHost, mapped != p.hostName {
                out.append(.fail("database role", "\(p.role) writes for host \(mapped), but jitsh.yaml names this host \(p.hostName): the database refuses its rows",
                                 fix: "set host: name: \(mapped), or jitsh fleet add-host \(p.hostName)"))
            } else if p.mappedHost == nil {
                out.append(.fail("database role", "\(p.role) is not mapped to any host: the database refuses its sessions",
                                 fix: "jitsh fleet add-host \(p.hostName) --role \(p.role), run by the database owner"))
            } else {
                out.append(.ok("database role", "\(p.role) inserts rows of host \(p.hostName) only, and cannot update or delete history"))
            }
            out.append(p.keyRegistered
                ? .ok("host key", "this host's signing key is registered centrally: other hosts verify its recordings")
                : .warn("host key", "this host's signing key is not registered centrally: its recordings fail verification elsewhere",
                        fix: "jitsh init (or start jitsh-sync, which registers it)"))
        }
        guard let s = p.status else {
            out.append(.fail("spool", p.statusError ?? "cannot be read", fix: "jitsh init creates it"))
            return out
        }
        let share = Double(s.queuedBytes) / Double(max(1, p.spoolQuota))
        let summary = "\(ByteSize.describe(Int(s.queuedBytes))) queued of the \(ByteSize.describe(Int(p.spoolQuota))) quota, lag \(String(format: "%.1f", s.lagSeconds)) s"
            + (s.lastError.map { ", last error: \($0)" } ?? "")
        if share >= 1 {
            out.append(.fail("spool", summary + ": new sessions are refused", fix: "start jitsh-sync, or see jitsh sync --status"))
        } else if share >= 0.5 || s.lagSeconds > 300 || s.quarantinedSessions > 0 {
            out.append(.warn("spool", summary + (s.quarantinedSessions > 0 ? ", \(s.quarantinedSessions) quarantined" : ""),
                             fix: "jitsh sync --status; systemctl status jitsh-sync"))
        } else {
            out.append(.ok("spool", summary))
        }
        return out
    }
}
