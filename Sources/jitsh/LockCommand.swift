import ArgumentParser
import Foundation
import Policy
import Session
import Store

/// `jitsh lock`: an admin cuts a person, role, host or session off at once, everywhere the store
/// reaches (on a fleet host, every host: each sync mirrors the lock within a round trip).
struct LockGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Lock a user, role, host or session: refuse new sessions and requests, end live ones (admins).",
        discussion: """
            A lock on a user, role or host refuses the new sessions and grant requests it matches and ends \
            the matching live sessions within 5 s (a message to the user, SIGHUP, SIGKILL 3 s later, exit \
            reason `locked`), on every host of a fleet. It holds until removed or until --for runs out. \
            Locks are never changed or deleted: a removal is a row of its own, and both are audit events.

            Examples:
              jitsh lock --user alice --reason "laptop reported stolen"
              jitsh lock --host prod-3 --reason "INC-88 compromised" --for 2h
              jitsh lock --session 3f2a --reason "ran something odd"
              jitsh lock list
              jitsh lock remove 4 --reason "laptop found"
            """,
        subcommands: [Add.self, List.self, Remove.self],
        defaultSubcommand: Add.self)

    /// Root and the admins group only; the store `store:` names.
    struct Context {
        let boot: Bootstrap
        let store: any Store
        let actor: String

        init(_ options: HostOptions) throws {
            boot = try Bootstrap.verb(options)
            guard boot.requester.isAdmin else {
                Console.error("\(boot.requester.identity) may not lock: only root and the admins group may")
                throw ExitCode(1)
            }
            store = try boot.store()
            actor = boot.requester.identity
        }

        /// Every lock and removal is an audit event of the admin who made it.
        func audit(_ kind: AuditKind, _ what: String, reason: String, data: [String: Any]) throws {
            let json = String(decoding: try JSONSerialization.data(withJSONObject: data, options: [.sortedKeys]), as: UTF8.self)
            try (store as? any AuditLog)?.appendAudit([AuditEvent(at: Clock.now, sessionID: nil, identity: actor,
                                                                  host: boot.configuration.host.name, kind: kind, line: what,
                                                                  reason: reason, data: json)])
        }

        func audit(_ kind: AuditKind, _ lock: Lock, reason: String) throws {
            try audit(kind, lock.target.description, reason: reason,
                      data: ["lock": lock.id, "kind": lock.target.kind, "value": lock.target.value, "until": lock.until ?? NSNull()])
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Lock (the default: jitsh lock --user NAME --reason …).")
        @OptionGroup var common: HostOptions
        @Option(help: "Lock this identity.") var user: String?
        @Option(help: "Lock this role.") var role: String?
        @Option(help: "Lock this host (its host: name:).") var host: String?
        @Option(help: "End this live session (its id or first characters).") var session: String?
        @Option(help: "Why: shown to whoever is locked out, and kept in the audit log.") var reason: String
        @Option(name: .customLong("for"), help: "Lift by itself after this long (1h, 30m); default: until removed.") var duration: String?

        func validate() throws {
            if [user, role, host, session].compactMap({ $0 }).count != 1 { throw ValidationError("give exactly one of --user, --role, --host, --session") }
            if reason.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--reason must say why") }
            if let duration, Duration.seconds(duration) == nil { throw ValidationError("--for \(duration): give a duration like 1h or 30m") }
            if session != nil && duration != nil { throw ValidationError("a session lock ends the session: it takes no --for") }
        }

        func run() throws {
            let ctx = try Context(common)
            let now = Clock.now
            try Bootstrap.failing {
                if let session {
                    let id = try sessionID(session, ctx)
                    try ctx.store.lockSession(SessionLock(sessionID: id, actor: ctx.actor, reason: reason, at: now))
                    try ctx.audit(.lock, "session \(id)", reason: reason, data: ["kind": "session", "value": id])
                    Console.line("locked session \(id): it ends within 5 s")
                    return
                }
                let target: Lock.Target = user.map { .user($0) } ?? role.map { .role($0) } ?? .host(host!)
                let until = duration.flatMap(Duration.seconds).map { now + Duration.microseconds(seconds: $0) }
                let lock = try ctx.store.addLock(Lock(target: target, actor: ctx.actor, reason: reason, at: now, until: until))
                try ctx.audit(.lock, lock, reason: reason)
                Console.line("locked \(target.description.visible) (lock \(lock.id))\(until.map { " until \(Timestamp.format(microseconds: $0))" } ?? ""): "
                             + "new sessions and requests are refused, live ones end within 5 s")
            }
        }

        func sessionID(_ prefix: String, _ ctx: Context) throws -> String {
            guard let review = ctx.store as? any ReviewStore else { throw StoreError(.other, "this store cannot look sessions up") }
            let ids = try review.sessionIDs(matching: prefix)
            guard ids.count == 1 else {
                throw StoreError(.missing, ids.isEmpty ? "no session \(prefix.visible)" : "\(prefix.visible) names more than one session; give more of its id")
            }
            return ids[0]
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The locks that hold now (--all: every lock, lifted and expired too).")
        @OptionGroup var common: HostOptions
        @OptionGroup var output: OutputOptions
        @Flag(help: "Every lock, lifted and expired too.") var all = false

        func run() throws {
            let ctx = try Context(common)
            let now = Clock.now
            let locks = try Bootstrap.failing { try ctx.store.locks(holdingAt: all ? nil : now) }
            for l in locks {
                let state = l.removal.map { "removed by \($0.actor) \(Timestamp.format(microseconds: $0.at)): \($0.reason)" }
                    ?? (l.holds(at: now) ? "holds" + (l.until.map { " until \(Timestamp.format(microseconds: $0))" } ?? "") : "expired")
                if output.json {
                    Console.json(JSONOutput.string(["id": String(l.id), "kind": l.target.kind, "value": l.target.value, "actor": l.actor,
                                                    "reason": l.reason, "at": Timestamp.format(microseconds: l.at), "state": state]))
                } else {
                    Console.line("\(l.id)  \(l.target.description.visible)  by \(l.actor.visible) \(Timestamp.format(microseconds: l.at))  \(state.visible)  \(l.reason.visible)")
                }
            }
            if !output.json { Console.line("\(locks.count) lock\(locks.count == 1 ? "" : "s")") }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a lock (it stays in the log, with who lifted it and why).")
        @OptionGroup var common: HostOptions
        @Argument(help: "The lock's number (jitsh lock list).") var id: Int64
        @Option(help: "Why it is lifted.") var reason: String

        func run() throws {
            let ctx = try Context(common)
            try Bootstrap.failing {
                guard let lock = try ctx.store.removeLock(id, Lock.Removal(actor: ctx.actor, reason: reason, at: Clock.now)) else {
                    throw StoreError(.missing, "there is no lock \(id)")
                }
                try ctx.audit(.lockRemoved, lock, reason: reason)
                Console.line("lifted lock \(id) on \(lock.target.description.visible)")
            }
        }
    }
}
