import ArgumentParser
import Foundation
import Policy
import Session
import ShellSyntax
import Store

struct SessionsGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "Review recorded sessions: list, show, replay, export, verify, prune (root, admins, auditors).",
        discussion: """
            Session ids may be shortened to their first characters.

            Examples:
              jitsh sessions list --user alice --since 7d --denied
              jitsh sessions show 3f2a
              jitsh sessions replay 3f2a --speed 2 --idle-limit 2s
              jitsh sessions export 3f2a --format asciicast -o 3f2a.cast && asciinema play 3f2a.cast
              jitsh sessions verify --all
            """,
        subcommands: [List.self, Show.self, ReplayCommand.self, Export.self, Verify.self, Prune.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line a session: who, role, grant, host, start, duration, lines, denied, confirmed, end.")
        @OptionGroup var common: ReviewOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "Only this identity (a glob).") var user: String?
        @Option(help: "Only this host (a glob).") var host: String?
        @Option(help: "Only this role (a glob).") var role: String?
        @Option(help: "Started since: 7d, \"2 hours ago\", an ISO time.") var since: String?
        @Option(help: "Started until (as --since).") var until: String?
        @Flag(help: "Only sessions with a denied line or program.") var denied = false
        @Option(help: "Only sessions that ran this command (a glob on the program name).") var command: String?
        @Option(help: "Only sessions under this grant.") var grant: Int64?

        func run() throws {
            let ctx = try ReviewContext(common)
            var f = SessionFilter()
            f.user = user; f.host = host; f.role = role; f.deniedOnly = denied; f.command = command; f.grant = grant
            f.since = try ReviewContext.time(since, option: "since")
            f.until = try ReviewContext.time(until, option: "until")
            let sessions = try ctx.run { try ctx.store.sessionSummaries(f) }
            if output.json {
                for s in sessions { Console.json(JSONOutput.string(SessionJSON(s))) }
                return
            }
            Console.line("SESSION   IDENTITY      ROLE        GRANT  HOST          STARTED              DURATION  LINES  DENIED  CONFIRMED  END")
            for s in sessions {
                let r = s.session
                let duration = s.end.map { ReviewContext.duration($0.endedAt - r.startedAt) } ?? "-"
                let end = s.pruned ? "pruned" : s.end?.exitReason.visible ?? "no end (killed or running)"
                let cells = [String(r.id.prefix(8)), pad(r.identity.visible, 12), pad(r.role.visible, 10), pad(r.grantID.map(String.init) ?? "-", 5),
                             pad(r.host.visible, 12), ReviewContext.time(r.startedAt), pad(duration, 8), pad(String(s.lines), 5),
                             pad(String(s.denied + s.blocked), 6), pad(String(s.confirmed), 9), end]
                Console.line(cells.joined(separator: "  "))
            }
        }

        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A session's metadata, its grant with reason and approvers, and its timeline.")
        @OptionGroup var common: ReviewOptions
        @Argument(help: "The session id (or its first characters).") var session: String

        func run() throws {
            let ctx = try ReviewContext(common)
            let id = try ctx.sessionID(session)
            try ctx.run {
                guard let r = try ctx.store.session(id) else { return }
                let end = try ctx.store.sessionEnd(id)
                Console.line("session \(r.id)")
                Console.line("  \(r.identity.visible) (login \(r.login.visible)) as \(r.role.visible) on \(r.host.visible) from \(r.client.visible), \(r.mode.visible)\(r.command.isEmpty ? "" : ": \(r.command.visible)")")
                Console.line("  started \(ReviewContext.time(r.startedAt))"
                      + (end.map { ", ended \(ReviewContext.time($0.endedAt)) (\($0.exitReason)\($0.exitStatus.map { ", status \($0)" } ?? ""))" }
                         ?? ", no end recorded"))
                let frames = try ctx.store.chunks(session: id).flatMap { $0.decodedFrames() ?? [] }
                let piped = frames.reduce(0) { $0 + ($1.kind == .stdin ? $1.data.count : 0) }
                if piped > 0 || r.mode == "exec" {
                    Console.line("  standard input: \(piped) bytes\(piped > 0 ? " (recorded; replay and export show it)" : "")")
                }
                if let gid = r.grantID, let g = try ctx.store.grant(gid) {
                    Console.line("grant \(g.id): \(g.role.visible) via contract \(g.contract.visible)\(g.breakGlass ? " (BREAK-GLASS)" : ""), reason: \(g.reason.visible)")
                    for e in g.events {
                        Console.line("  \(ReviewContext.time(e.at))  \(e.kind.rawValue) by \(e.actor.visible)\(e.comment.isEmpty ? "" : ": \(e.comment.visible)")")
                    }
                }
                Console.line("timeline:")
                var statuses = exitStatuses(frames)
                var diffs = Transcript.snapshotDiffs(frames)
                var n = 0
                for e in try ctx.store.auditEvents(session: id) where e.kind != "session-start" && e.kind != "session-end" {
                    var text = "  \(ReviewContext.time(e.at))  "
                    if e.kind == "line" {
                        n += 1
                        text += "#\(n) \(e.decision.visible.padding(toLength: 7, withPad: " ", startingAt: 0)) \(e.line.visible)"
                        if !e.rule.isEmpty { text += "  [\(e.rule.visible)]" }
                        if e.decision != "allow" && e.decision != "builtin" { text += "  \(e.reason.visible)" }
                        if e.decision == "allow" || e.decision == "confirm", let status = statuses[e.line]?.first {
                            text += "  → exit \(status)"
                            statuses[e.line]?.removeFirst()
                        }
                    } else if e.kind == "snapshot" {
                        // What the line changed in watched files, and the diff at that moment.
                        text += "snapshot: \(e.reason.visible)"
                        let diff = diffs.isEmpty ? "" : diffs.removeFirst()
                        if !diff.isEmpty { text += diff.split(separator: "\n", omittingEmptySubsequences: false).map { "\n      " + String($0).visible }.joined() }
                    } else {
                        text += "\(e.kind.visible) \(e.decision.visible) \(e.line.visible)\(e.reason.isEmpty ? "" : " — \(e.reason.visible)")"
                    }
                    Console.line(text)
                }
            }
        }

        /// The exit status of each started line, in order, from the recording's markers.
        func exitStatuses(_ frames: [Frame]) -> [String: [Int]] {
            var result: [String: [Int]] = [:]
            var running: String?
            for frame in frames where frame.kind == .marker {
                guard let o = try? JSONSerialization.jsonObject(with: Data(frame.data)) as? [String: Any] else { continue }
                if o["event"] as? String == "started" { running = o["line"] as? String }
                if o["event"] as? String == "exited", let line = running, let status = o["status"] as? Int {
                    result[line, default: []].append(status)
                    running = nil
                }
            }
            return result
        }
    }

    struct ReplayCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay",
            abstract: "Play a session back in the terminal with its timing: space pause, +/- speed, . step, n next command, q quit.")
        @OptionGroup var common: ReviewOptions
        @Argument(help: "The session id (or its first characters).") var session: String
        @Option(help: "Playback speed.") var speed: Double = 1
        @Option(name: .customLong("idle-limit"), help: "Cut pauses longer than this (2s, 500ms).") var idleLimit: String?
        @Option(help: "Start this far in (5m, 90s).") var from: String?
        @Option(name: .customLong("from-event"), help: "Start at the Nth line of `sessions show`.") var fromEvent: Int?
        @Flag(help: "Watch a live session as it is recorded.") var follow = false

        func run() throws {
            let ctx = try ReviewContext(common)
            let id = try ctx.sessionID(session)
            var replay = Replay()
            replay.speed = max(speed, 0.01)
            replay.idleLimit = try idleLimit.map(seconds)
            replay.from = try from.map(seconds) ?? 0
            replay.fromEvent = fromEvent
            replay.follow = follow
            let status = try ctx.run { try replay.run(ctx.store, session: id) }
            if status != 0 { throw ExitCode(status) }
        }

        func seconds(_ text: String) throws -> Double {
            if text.hasSuffix("ms"), let n = Double(text.dropLast(2)) { return n / 1000 }
            if let n = Double(text) { return n }
            guard let s = Duration.seconds(text) else {
                Console.error("\(text.visible) is not a duration (2s, 500ms, 5m)")
                throw ExitCode(ExitStatus.error)
            }
            return Double(s)
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a session as asciicast v2 (asciinema play), rendered text, or JSON lines.")
        enum Format: String, ExpressibleByArgument, CaseIterable { case asciicast, text, json }
        @OptionGroup var common: ReviewOptions
        @Argument(help: "The session id (or its first characters).") var session: String
        @Option(help: "asciicast, text or json.") var format: Format = .asciicast
        @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file")) var output: String?

        func run() throws {
            let ctx = try ReviewContext(common)
            let id = try ctx.sessionID(session)
            let text: String = try ctx.run {
                guard let record = try ctx.store.session(id) else { return "" }
                let frames = try ctx.store.chunks(session: id).flatMap { $0.decodedFrames() ?? [] }
                switch format {
                case .asciicast: return Transcript.asciicast(record, frames)
                case .text: return Transcript.render(frames)
                case .json: return Transcript.jsonLines(frames)
                }
            }
            if let output {
                // With the reviewer's own rights, and never onto the store, key or configuration:
                // the export must not be a way to write with jitsh's group.
                do {
                    let file = try UserFiles.create(output, protected: UserFiles.Protected(ctx.installation))
                    try file.write(contentsOf: Data(text.utf8))
                    try file.close()
                } catch let refusal as UserFiles.Refusal {
                    Console.error(refusal.description)
                    throw ExitCode(ExitStatus.error)
                } catch {
                    Console.error("cannot write \(output.visible): \(error.localizedDescription)")
                    throw ExitCode(ExitStatus.error)
                }
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-compute each recording's hash chain and check its signature; exit 1 on any failure.")
        @OptionGroup var common: ReviewOptions
        @Argument(help: "The session id (or its first characters).") var session: String?
        @Flag(help: "Every session in the store.") var all = false
        @Option(help: "With --all, only the sessions of these hosts (a glob: 'prod-*').") var host: String?

        func validate() throws {
            if (session == nil) == !all { throw ValidationError("give a session id or --all") }
            if host != nil && !all { throw ValidationError("--host goes with --all") }
        }

        func run() throws {
            let ctx = try ReviewContext(common)
            let key = try ctx.publicKey
            let ids = all ? try ctx.run { try ctx.store.allSessionIDs(host: host) } : [try ctx.sessionID(session!)]
            var failed = 0
            for id in ids {
                // A session whose pages cannot be read fails alone; the others are still checked.
                let v: Verification
                do { v = try ctx.store.verify(id, key: key) } catch {
                    failed += 1
                    Console.line("\(id) FAILED: it cannot be read: \(Visible.text("\(error)"))")
                    continue
                }
                if v.ok {
                    Console.line("\(id) ok: \(v.summary)")
                } else {
                    failed += 1
                    for p in v.problems { Console.line("\(id) FAILED: \(p.visible)") }
                }
            }
            if all { Console.line("\(ids.count - failed) of \(ids.count) sessions verified") }
            if failed > 0 { throw ExitCode(1) }
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove recordings past retention, leaving a signed tombstone for each (root or admins); on a fleet host, from its spool once shipped.")
        @OptionGroup var common: ReviewOptions
        @Option(name: .customLong("older-than"), help: "Sessions started longer ago than this (180d).") var olderThan: String
        @Flag(name: .customLong("dry-run"), help: "Only list what would be pruned.") var dryRun = false

        func run() throws {
            let ctx = try ReviewContext(common)
            guard ctx.requester.isRoot || ctx.requester.groups.contains("admins") else {
                Console.error("only root or an admin may prune recordings")
                throw ExitCode(1)
            }
            guard let seconds = Duration.seconds(olderThan) else {
                Console.error("--older-than \(olderThan.visible): give a duration like 180d")
                throw ExitCode(ExitStatus.error)
            }
            // In µs from now, as sessions count time: from the whole second, `1s` could take two.
            let cutoff = Clock.now - Int64(seconds) * 1_000_000
            // A fleet host prunes its spool, and only what reached the central store whole.
            let fleet = ctx.installation.configuration.isFleet
            let store = try ctx.local()
            let ids = try ctx.run { try store.prunable(before: cutoff, shippedOnly: fleet) }
            if dryRun {
                for id in ids { Console.line("would prune \(id)") }
                Console.line("\(ids.count) recordings would be pruned")
                return
            }
            let key: SigningKey
            do { key = try SigningKey.load(ctx.installation.configuration.signingKeyPath) } catch {
                Console.error("the host signing key cannot be read: \(error)")
                throw ExitCode(ExitStatus.error)
            }
            for id in ids {
                let t = try ctx.run { try store.prune(id, actor: ctx.requester.identity, key: key, now: Clock.now) }
                Console.line("pruned \(id): \(t.chunks) chunks, tombstone signed (key \(t.keyID))")
            }
            Console.line("\(ids.count) recordings pruned\(fleet ? " from this host's spool; the central store keeps them" : "")")
            // A lone host has no sync to sweep the rooms killed sessions left.
            let swept = EndNote.sweep(store: store.location)
            if !swept.isEmpty { Console.line("removed the empty end-note rooms of \(swept.count) killed sessions") }
        }
    }
}

struct SessionJSON: Encodable {
    var id, identity, login, role, host, client, mode, command: String
    var grant: Int64?
    var started_at: String
    var ended_at: String?
    var exit_reason: String?
    var lines, denied, confirmed, blocked: Int
    var pruned: Bool

    init(_ s: SessionSummary) {
        let r = s.session
        id = r.id; identity = r.identity; login = r.login; role = r.role; host = r.host; client = r.client; mode = r.mode
        command = r.command; grant = r.grantID
        started_at = Timestamp.format(microseconds: r.startedAt)
        ended_at = s.end.map { Timestamp.format(microseconds: $0.endedAt) }
        exit_reason = s.end?.exitReason
        lines = s.lines; denied = s.denied; confirmed = s.confirmed; blocked = s.blocked; pruned = s.pruned
    }
}
