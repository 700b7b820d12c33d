import ArgumentParser
import Foundation
import Policy
import PostgresStore
import Session
import Store

/// What a grant verb needs: configuration, policy, who is asking, the store.
struct GrantContext {
    var installation: Installation
    var policy: Policy
    var requester: Requester
    var service: GrantService
    var outbox: Outbox

    init(_ options: HostOptions) throws {
        let boot = try Bootstrap.verb(options)
        (installation, policy, requester) = (boot.installation, boot.policy, boot.requester)
        let store = try boot.store()
        service = GrantService(store: store, policy: policy, host: installation.configuration.host, zones: SystemZones())
        outbox = Outbox(store: store, webhook: installation.configuration.webhook)
    }

    /// Runs a grant change; a refusal or store failure is one line and exit status 1 or 3.
    func perform<T>(_ body: () throws -> T) throws -> T {
        do {
            let result = try body()
            outbox.deliver(now: Clock.now)
            return result
        } catch let refusal as GrantRefusal {
            Console.error(refusal.message)
            throw ExitCode(1)
        } catch {
            Console.error("\(error)")
            throw ExitCode(ExitStatus.error)
        }
    }
}

enum GrantText {
    static func time(_ t: Int64) -> String { Timestamp.format(microseconds: t).replacingOccurrences(of: "T", with: " ") }

    static func status(_ g: Grant, now: Int64) -> String {
        switch g.state(at: now) {
        case .active: return "active, \(Duration.describe(microseconds: g.endsAt - now)) left (until \(time(g.endsAt)))"
        case .scheduled: return "approved, starts \(time(g.startsAt))"
        case .pending:
            let have = g.approvers(since: nil).count
            return "pending: \(have) approval\(have == 1 ? "" : "s"), needs \(g.outstanding(since: nil))"
        default: return "\(g.state(at: now))"
        }
    }

    /// In a fleet: the hosts a grant covers today, of those that reported to the central store.
    static func coverage(_ g: Grant, _ ctx: GrantContext) throws -> String? {
        guard let central = ctx.service.store as? PostgresStore else { return nil }
        let hosts = try ctx.perform { try central.fleetHosts() }.filter { g.covers(HostInfo(name: $0.name, tags: $0.tags)) }.map(\.name)
        return "covers today: " + (hosts.isEmpty ? "no host that reported to the central store" : hosts.map(\.visible).joined(separator: ", "))
    }

    static func cells(_ g: Grant, now: Int64) -> [String] {
        ["\(g.id)", "\(g.state(at: now))", g.identity.visible, g.role.visible, g.hostPattern.visible,
         Duration.describe(microseconds: g.totalDuration), g.reason.visible]
    }
}

struct GrantGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant",
        abstract: "Request, approve and inspect just-in-time grants.",
        discussion: """
            A grant lets one person hold one role on matching hosts for a limited time. Access contracts \
            (policies/contracts) say who may request what, and who approves.

            Example:
              ssh prod-1 grant request --role readonly --reason "INC-1234 checking nginx errors"
            """,
        subcommands: [Request.self, Approve.self, Deny.self, Revoke.self, Extend.self, List.self, Show.self, Create.self, Review.self, Notify.self]
    )
}

extension GrantGroup {
    struct Request: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask for a role on this host (or the hosts --host or --hosts names) for a while.",
            discussion: """
                The first contract that allows the request decides: it may approve at once, or wait for \
                approvers. Durations: 90s, 30m, 2h, 1h30m.

                In a fleet one request covers many hosts: --host 'prod-*' by name, --hosts env=production by tag \
                (hosts that report the tags later are covered too). A contract with an on-call plug-in asks it at once.

                Examples:
                  jitsh grant request --role operator --duration 1h --reason "CHG-88 rotate nginx logs"
                  jitsh grant request --role deployer --hosts env=production --reason "CHG-90 release 4.2"
                """
        )
        @OptionGroup var who: HostOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "The role to hold.") var role: String
        @Option(help: ArgumentHelp("Host name or glob (default: this host).", valueName: "glob")) var host: String?
        @Option(help: ArgumentHelp("Hosts by tag, every tag matching: env=production or env=production,tier=web.", valueName: "tags"))
        var hosts: String?
        @Option(help: ArgumentHelp("How long (default: the contract's).", valueName: "duration")) var duration: String?
        @Option(help: ArgumentHelp("When it starts (ISO 8601, default now).", valueName: "time")) var start: String?
        @Option(help: "Why: the incident or change, as the contract asks.") var reason: String = ""

        func validate() throws {
            if let duration, Duration.seconds(duration) == nil { throw ValidationError("--duration \(duration): write 90s, 30m, 2h or 1h30m") }
            if host != nil && hosts != nil { throw ValidationError("give --host (names) or --hosts (tags), not both") }
            if let hosts, !hosts.contains("=") || HostSet(hosts) == nil {
                throw ValidationError("--hosts \(hosts): write tags like env=production or env=production,tier=web (names go in --host)")
            }
            if let host, host.contains("=") { throw ValidationError("--host \(host): tags go in --hosts \(host)") }
            if let start, Timestamp.microseconds(start) == nil { throw ValidationError("--start \(start): write a time like 2026-11-30T10:00:00Z") }
        }

        func run() throws {
            let ctx = try GrantContext(who)
            let now = Clock.now
            var g = try ctx.perform {
                try ctx.service.request(.init(role: role, hostPattern: host ?? hosts, duration: duration.flatMap(Duration.seconds),
                                              start: start.flatMap(Timestamp.microseconds), reason: reason), by: ctx.requester, now: now)
            }
            var onCall: String?
            if g.state(at: now) == .pending, let check = ctx.policy.contracts.first(where: { $0.name == g.contract })?.approval.onCall {
                switch OnCallApproval(service: ctx.service, audit: ctx.service.store as? any AuditLog).ask(check, about: g, now: { Clock.now }) {
                case .approved(let approved): g = approved
                case .pending(let why): onCall = why
                }
                ctx.outbox.deliver(now: Clock.now)
            }
            if output.json { Console.json(JSONOutput.string(GrantJSON(g, now: now))); return }
            Console.line("grant \(g.id): \(g.role.visible) on \(g.hostPattern.visible) for \(Duration.describe(microseconds: g.duration)) — \(GrantText.status(g, now: now))")
            if let onCall { Console.line("on-call check: \(onCall.visible); people decide") }
            if let covers = try GrantText.coverage(g, ctx) { Console.line(covers) }
            if g.state(at: now) == .pending {
                Console.line("ask an approver of contract \(g.contract.visible) to run: ssh \(ctx.installation.configuration.host.name) grant approve \(g.id)")
            }
        }
    }

    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a pending grant (or its extension).",
                                                        discussion: "Example:\n  jitsh grant approve 17 --comment \"ok for INC-1234\"")
        @OptionGroup var who: HostOptions
        @Argument(help: "The grant id.") var id: Int64
        @Option(help: "A comment for the record.") var comment: String = ""

        func run() throws {
            let ctx = try GrantContext(who)
            let now = Clock.now
            let g = try ctx.perform { try ctx.service.approve(id, by: ctx.requester, comment: comment, now: now) }
            Console.line("grant \(g.id) of \(g.identity.visible): \(GrantText.status(g, now: now))")
        }
    }

    struct Deny: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deny a pending grant (or its extension).",
                                                        discussion: "Example:\n  jitsh grant deny 17 --comment \"use readonly\"")
        @OptionGroup var who: HostOptions
        @Argument(help: "The grant id.") var id: Int64
        @Option(help: "Why, for the requester and the record.") var comment: String = ""

        func run() throws {
            let ctx = try GrantContext(who)
            let g = try ctx.perform { try ctx.service.deny(id, by: ctx.requester, comment: comment, now: Clock.now) }
            Console.line("grant \(g.id) of \(g.identity.visible) denied")
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a grant now; its sessions are ended within seconds.",
                                                        discussion: "Example:\n  jitsh grant revoke 17 --reason \"incident closed\"")
        @OptionGroup var who: HostOptions
        @Argument(help: "The grant id.") var id: Int64
        @Option(help: "Why.") var reason: String = ""

        func run() throws {
            let ctx = try GrantContext(who)
            let g = try ctx.perform { try ctx.service.revoke(id, by: ctx.requester, reason: reason, now: Clock.now) }
            Console.line("grant \(g.id) of \(g.identity.visible) revoked")
        }
    }

    struct Extend: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask for more time on a grant (approved like a request).",
                                                        discussion: "Example:\n  jitsh grant extend 17 --by 30m")
        @OptionGroup var who: HostOptions
        @Argument(help: "The grant id.") var id: Int64
        @Option(help: ArgumentHelp("How much longer.", valueName: "duration")) var by: String

        func validate() throws {
            if Duration.seconds(by) == nil { throw ValidationError("--by \(by): write 90s, 30m, 2h or 1h30m") }
        }

        func run() throws {
            let ctx = try GrantContext(who)
            let now = Clock.now
            let g = try ctx.perform { try ctx.service.extend(id, by: ctx.requester, seconds: Duration.seconds(by) ?? 0, now: now) }
            if g.pendingExtension != nil {
                Console.line("grant \(g.id): extension by \(by) waits for approval (ssh \(ctx.installation.configuration.host.name) grant approve \(g.id))")
            } else {
                Console.line("grant \(g.id): \(GrantText.status(g, now: now))")
            }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Break glass: grant a role at once, without approval (root or admins).",
            discussion: "Recorded as break-glass and sent as an alert.\n\nExample:\n  jitsh grant create --for alice --role operator --duration 1h --reason \"INC-9 db down, leads unreachable\"")
        @OptionGroup var who: HostOptions
        @Option(name: .customLong("for"), help: "Who receives the grant.") var holder: String
        @Option(help: "The role.") var role: String
        @Option(help: ArgumentHelp("Host name or glob (default: this host).", valueName: "glob")) var host: String?
        @Option(help: "How long.") var duration: String = "1h"
        @Option(help: "Why.") var reason: String

        func validate() throws {
            if Duration.seconds(duration) == nil { throw ValidationError("--duration \(duration): write 90s, 30m, 2h or 1h30m") }
        }

        func run() throws {
            let ctx = try GrantContext(who)
            let now = Clock.now
            let g = try ctx.perform {
                try ctx.service.createBreakGlass(for: holder, role: role, hostPattern: host, seconds: Duration.seconds(duration) ?? 3600,
                                                 reason: reason, by: ctx.requester, now: now)
            }
            Console.line("break-glass grant \(g.id): \(g.identity.visible) as \(g.role.visible) on \(g.hostPattern.visible) — \(GrantText.status(g, now: now))")
        }
    }

    struct Notify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deliver waiting webhook notifications and record expired grants (for a timer).",
            discussion: "Example (systemd timer, every minute):\n  jitsh grant notify")
        @OptionGroup var who: HostOptions
        @Option(help: "Seconds to spend delivering.") var budget: Double = 10

        func run() throws {
            let ctx = try GrantContext(who)
            let now = Clock.now
            let expired = try ctx.perform { try ctx.service.sweep(now: now) }
            let report = ctx.outbox.deliver(now: now, budget: budget)
            Console.line("\(expired) grants expired, \(report.delivered) notifications delivered, \(report.failed) failed\(report.lastError.map { " (\($0))" } ?? "")")
        }
    }
}
