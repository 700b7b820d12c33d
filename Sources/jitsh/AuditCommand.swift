import ArgumentParser
import Foundation
import Policy
import Session
import Store

struct AuditGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Search audit events and recordings, or stream events as JSON lines (root, admins, auditors).",
        discussion: """
            Expressions (sudoreplay-like): FIELD VALUE terms joined by and, or, not, parentheses. Fields:
            command, user, host, role, decision, kind, rule, reason, line, cwd, session, grant, since, until.
            Values are globs; times are 2 hours ago, 30m, 7d or ISO 8601.

            Examples:
              jitsh audit search command rm and user alice
              jitsh audit search 'decision deny and since "2 hours ago"'
              jitsh audit search cwd '/var/lib/*'
              jitsh audit search --text 'DROP TABLE'
              jitsh audit tail --follow --json
              jitsh audit search --host 'prod-*' decision deny

            On a fleet host these read the central store: every host's events and recordings.
            """,
        subcommands: [Search.self, Tail.self]
    )

    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find audit events by expression, or (--text) what was typed and shown in recordings.")
        @OptionGroup var common: ReviewOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "Full-text search of recordings: words (rm -rf), prefix*, AND/OR/NOT; FTS5 syntax with quotes or NEAR.") var text: String?
        @Option(help: "At most this many results.") var limit = 1000
        @Option(help: "Only events and recordings of these hosts (a glob: 'prod-*').") var host: String?
        @Argument(help: "The expression.") var expression: [String] = []

        func validate() throws {
            if text == nil && expression.isEmpty { throw ValidationError("give an expression, or --text WORDS") }
        }

        func run() throws {
            let ctx = try ReviewContext(common)
            if let text {
                let hits = try ctx.run { () throws -> [TextHit] in
                    try ctx.store.indexRecordings()
                    guard let host else { return try ctx.store.searchRecordings(text, limit: limit) }
                    // Hits are few next to sessions: the host is checked on each hit's session.
                    let all = try ctx.store.searchRecordings(text, limit: max(limit * 4, 1000))
                    let sessions = try ctx.store.sessions(Array(Set(all.map(\.sessionID))))
                    return Array(all.filter { sessions[$0.sessionID].map { StoreGlob.matches(host, $0.host) } ?? false }.prefix(limit))
                }
                for h in hits {
                    let at = String(format: "%.1fs", Double(h.offset) / 1_000_000)
                    if output.json {
                        Console.json(JSONOutput.string(["session": h.sessionID, "chunk": String(h.seq), "offset": at, "snippet": h.snippet]))
                    } else {
                        Console.line("\(h.sessionID.prefix(8)) at \(at): \(h.snippet.replacingOccurrences(of: "\n", with: " ⏎ ").visible)")
                        Console.line("  jitsh sessions replay \(h.sessionID.prefix(8)) --from \(max(0, Int(h.offset / 1_000_000) - 2))s")
                    }
                }
                if !output.json { Console.line("\(hits.count) hit\(hits.count == 1 ? "" : "s")") }
                return
            }
            var query: AuditQuery
            do { query = try AuditQuery(expression, now: Clock.now) } catch {
                Console.error("search: \(error.description)")
                throw ExitCode(ExitStatus.error)
            }
            if let host { query = query.and(.matches(.host, host)) }
            let events = try ctx.run { try ctx.store.auditEvents(matching: query, limit: limit) }
            for e in events {
                if output.json { Console.json(AuditLine.json(e)) } else { Console.line(AuditLine.text(e)) }
            }
            if !output.json { Console.line("\(events.count) event\(events.count == 1 ? "" : "s")") }
        }
    }

    struct Tail: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The newest audit events; --follow keeps printing new ones (JSON lines for SIEMs with --json).")
        @OptionGroup var common: ReviewOptions
        @OptionGroup var output: OutputOptions
        @Option(name: .short, help: "Start with this many of the newest events.") var n = 20
        @Flag(help: "Keep printing events as they are recorded.") var follow = false
        @Option(help: "Only events of these hosts (a glob: 'prod-*').") var host: String?

        func run() throws {
            let ctx = try ReviewContext(common)
            var last = try ctx.run { max(0, try ctx.store.lastAuditID() - Int64(n)) }
            repeat {
                let events = try ctx.run { try ctx.store.auditEvents(after: last, limit: 1000) }
                for e in events {
                    last = e.id
                    if let host, !StoreGlob.matches(host, e.host) { continue }
                    if output.json { Console.json(AuditLine.json(e)) } else { Console.line(AuditLine.text(e)) }
                }
                fflush(nil)
                if follow && events.isEmpty { usleep(500_000) }
            } while follow
        }
    }
}

/// One audit event as a line of text, or as JSON with stable field names (README, Interfaces).
enum AuditLine {
    static func text(_ e: AuditEvent) -> String {
        var s = "\(ReviewContext.time(e.at))  \(e.identity.visible)@\(e.host.visible)  \(e.kind.visible)"
        if !e.decision.isEmpty { s += " \(e.decision.visible)" }
        if !e.line.isEmpty { s += ": \(e.line.visible)" }
        if !e.rule.isEmpty { s += "  [\(e.rule.visible)]" }
        if !e.reason.isEmpty && e.decision != "allow" { s += "  \(e.reason.visible)" }
        if let session = e.sessionID { s += "  (session \(session.prefix(8)))" }
        return s
    }

    static func json(_ e: AuditEvent) -> String {
        let data = (try? JSONSerialization.jsonObject(with: Data(e.data.utf8))) ?? [:]
        var object: [String: Any] = ["id": e.id, "time": Timestamp.format(microseconds: e.at), "at_us": e.at, "identity": e.identity,
                                     "host": e.host, "kind": e.kind, "line": e.line, "decision": e.decision, "rule": e.rule,
                                     "reason": e.reason, "data": data]
        object["session"] = e.sessionID ?? NSNull()
        guard let out = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
        return String(decoding: out, as: UTF8.self)
    }
}
