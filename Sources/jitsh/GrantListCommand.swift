import ArgumentParser
import Foundation
import Policy
import PostgresStore
import Session
import Store

/// Reading grants (`list`, `show`) and looking back at break-glass ones (`review`).
extension GrantGroup {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List grants: all, pending, active, your own, or the ones waiting for you.",
            discussion: """
                --mine-to-approve is an approver's inbox: pending requests and extensions you did not make, \
                may approve, and have not approved yet, with what each still needs.

                Examples:
                  jitsh grant list --pending
                  jitsh grant list --pending --mine-to-approve
                """)
        @OptionGroup var who: HostOptions
        @OptionGroup var output: OutputOptions
        @Flag(help: "Only grants waiting for approval.") var pending = false
        @Flag(help: "Only grants in force now.") var active = false
        @Flag(help: "Only your grants.") var mine = false
        @Flag(help: "Only requests waiting for your approval.") var mineToApprove = false
        @Flag(help: "Only break-glass grants nobody has reviewed yet.") var unreviewed = false

        func run() throws {
            let ctx = try GrantContext(who)
            let now = Clock.now
            let grants = try ctx.perform { () throws -> [Grant] in
                try ctx.service.sweep(now: now)
                let all = mineToApprove ? try ctx.service.awaitingApproval(by: ctx.requester, now: now)
                    : try ctx.service.store.grants(identity: mine ? ctx.requester.identity : nil)
                return all.filter { g in
                    let s = g.state(at: now)
                    if pending && !(s == .pending || g.pendingExtension != nil) { return false }
                    if active && s != .active { return false }
                    if unreviewed && !g.awaitsReview { return false }
                    return true
                }
            }
            if output.json { Console.json(JSONOutput.string(grants.map { GrantJSON($0, now: now) })); return }
            if mineToApprove {
                if grants.isEmpty { Console.line("nothing waits for your approval"); return }
                Console.line(TextOutput.table([["ID", "WHO", "ROLE", "HOSTS", "DURATION", "NEEDS", "REASON"]] + grants.map { g in
                    let ext = g.pendingExtension
                    return ["\(g.id)", g.identity.visible, g.role.visible, g.hostPattern.visible,
                            ext.map { "+\(Duration.describe(microseconds: $0.extra))" } ?? Duration.describe(microseconds: g.totalDuration),
                            g.outstanding(since: ext?.index).visible, g.reason.visible]
                }))
                Console.line("approve with: jitsh grant approve ID (or deny with: jitsh grant deny ID --comment …)")
                return
            }
            Console.line(TextOutput.table([["ID", "STATE", "WHO", "ROLE", "HOST", "DURATION", "REASON"]]
                                          + grants.map { GrantText.cells($0, now: now) }))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a grant with its events.",
                                                        discussion: "Example:\n  jitsh grant show 17")
        @OptionGroup var who: HostOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The grant id.") var id: Int64

        func run() throws {
            let ctx = try GrantContext(who)
            let now = Clock.now
            guard let g = try ctx.perform({ try ctx.service.store.grant(id) }) else {
                Console.error("there is no grant \(id)")
                throw ExitCode(1)
            }
            if output.json { Console.json(JSONOutput.string(GrantJSON(g, now: now))); return }
            Console.line("grant \(g.id): \(g.identity.visible) as \(g.role.visible) on \(g.hostPattern.visible) — \(GrantText.status(g, now: now))")
            Console.line("  contract \(g.contract.visible)\(g.breakGlass ? " (BREAK-GLASS\(g.awaitsReview ? ", not reviewed yet" : ", reviewed"))" : ""), reason: \(g.reason.visible)")
            if let rule = g.approval { Console.line("  approval by \(rule.description.visible)") }
            Console.line("  requested \(GrantText.time(g.requestedAt)), starts \(GrantText.time(g.startsAt)), ends \(GrantText.time(g.endsAt))")
            if let covers = try GrantText.coverage(g, ctx) { Console.line("  " + covers) }
            for e in g.events {
                let extra = e.extra > 0 ? " +\(Duration.describe(microseconds: e.extra))" : ""
                let groups = e.groups.isEmpty ? "" : " (\(e.groups.joined(separator: ", ").visible))"
                Console.line("  \(GrantText.time(e.at))  \(e.kind.rawValue)\(extra) by \(e.actor.visible)\(groups)\(e.comment.isEmpty ? "" : ": \(e.comment.visible)")")
            }
        }
    }

    struct Review: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Review a break-glass grant after the fact (an admin who neither made nor held it).",
            discussion: """
                Break-glass grants skip approval; the review is where someone else looks at what was done and \
                says whether it was needed. Unreviewed ones: jitsh grant list --unreviewed.

                Example:
                  jitsh grant review 31 --note "INC-9: needed, db was down; sessions 3f2a, 77c1 checked"
                """)
        @OptionGroup var who: HostOptions
        @Argument(help: "The grant id.") var id: Int64
        @Option(help: "What you found: what was done, whether it was needed.") var note: String

        func run() throws {
            let ctx = try GrantContext(who)
            let g = try ctx.perform { try ctx.service.review(id, by: ctx.requester, note: note, now: Clock.now) }
            Console.line("break-glass grant \(g.id) of \(g.identity.visible) reviewed")
        }
    }
}

struct GrantJSON: Encodable {
    var id: Int64, identity: String, role: String, contract: String, host: String, reason: String, state: String
    var requested_at: String, starts_at: String, ends_at: String, break_glass: Bool
    var approval: String?, needs: String?, reviewed: Bool?
    var events: [[String: String]]

    init(_ g: Grant, now: Int64) {
        id = g.id; identity = g.identity; role = g.role; contract = g.contract; host = g.hostPattern; reason = g.reason
        state = "\(g.state(at: now))"
        requested_at = Timestamp.format(microseconds: g.requestedAt); starts_at = Timestamp.format(microseconds: g.startsAt)
        ends_at = Timestamp.format(microseconds: g.endsAt)
        break_glass = g.breakGlass
        approval = g.approval?.description
        let outstanding = g.outstanding(since: g.pendingExtension?.index)
        needs = g.state(at: now) == .pending || g.pendingExtension != nil ? outstanding : nil
        reviewed = g.breakGlass ? !g.awaitsReview : nil
        events = g.events.map { ["kind": $0.kind.rawValue, "actor": $0.actor, "at": Timestamp.format(microseconds: $0.at), "comment": $0.comment,
                                 "seconds": String($0.extra / Duration.second), "groups": $0.groups.joined(separator: ",")] }
    }
}
