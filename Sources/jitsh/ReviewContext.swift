import ArgumentParser
import Crypto
import Foundation
import Policy
import Session
import Store

/// The options of every review verb: the host's, and where to read on a fleet host.
struct ReviewOptions: ParsableArguments {
    @OptionGroup var host: HostOptions

    @Flag(help: "On a fleet host, read this host's spool instead of the central store (when the database cannot be reached).")
    var spool = false
}

/// What review commands share: the store, the host key, and the check that the caller may review.
/// Recordings hold what engineers saw and typed: only root, `admins` and `auditors` read them.
/// On a fleet host the store is the central one (every host's sessions); on a lone host, its file.
struct ReviewContext {
    var installation: Installation
    var store: any ReviewStore
    var requester: Requester

    init(_ options: ReviewOptions) throws {
        // Reading recordings as someone else is root's alone, shared accounts included.
        if options.host.identity != nil && !Account.isRoot {
            Console.error("--as in review commands is for root; you review as yourself")
            throw ExitCode(ExitStatus.error)
        }
        let boot = try Bootstrap.verb(options.host)
        (installation, requester) = (boot.installation, boot.requester)
        guard ReviewAccess.mayReview(requester) else {
            Console.error("\(requester.identity) may not review sessions: only root and the groups admins and auditors may (policy.yaml people, or Unix groups)")
            throw ExitCode(1)
        }
        if installation.configuration.isFleet && !options.spool {
            do { store = try StoreOpening.openPostgres(installation.configuration, migrate: false) } catch {
                Console.error("\(error); --spool reviews this host's own sessions from its spool")
                throw ExitCode(ExitStatus.error)
            }
        } else {
            store = try boot.sqliteStore(for: "review")
        }
    }

    /// This host's own SQLite file: a lone host's store, a fleet host's spool.
    func local() throws -> SQLiteStore {
        try Bootstrap.failing { try SQLiteStore(path: installation.configuration.storePath, create: false) }
    }

    var publicKey: Curve25519.Signing.PublicKey {
        get throws {
            do { return try SigningKey.load(installation.configuration.signingKeyPath).publicKey } catch {
                Console.error("the host signing key cannot be read: \(error)")
                throw ExitCode(ExitStatus.error)
            }
        }
    }

    /// A session id from its first characters; one line and exit 1 when none or several match.
    func sessionID(_ prefix: String) throws -> String {
        let ids = (try? store.sessionIDs(matching: prefix)) ?? []
        guard ids.count == 1 else {
            Console.error(ids.isEmpty ? "no session \(prefix.visible)" : "\(prefix.visible) names more than one session; give more of its id")
            throw ExitCode(1)
        }
        return ids[0]
    }

    func run<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ExitCode { throw e } catch {
            Console.error("\(error)")
            throw ExitCode(ExitStatus.error)
        }
    }

    /// `7d`, `2 hours ago`, an ISO time; microseconds.
    static func time(_ text: String?, option: String) throws -> Int64? {
        guard let text else { return nil }
        guard let t = AuditQuery.time(text, now: Clock.now) else {
            Console.error("--\(option) \(text.visible): give a time like 7d, \"2 hours ago\" or 2026-11-27T10:00Z")
            throw ExitCode(ExitStatus.error)
        }
        return t
    }

    static func time(_ microseconds: Int64) -> String {
        Timestamp.format(microseconds: microseconds).replacingOccurrences(of: "T", with: " ")
    }

    static func duration(_ microseconds: Int64) -> String {
        let s = Int(microseconds / 1_000_000)
        return s < 60 ? "\(s)s" : s < 3600 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s / 3600)h\(String(format: "%02d", s / 60 % 60))m"
    }
}
