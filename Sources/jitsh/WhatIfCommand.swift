import ArgumentParser
import Foundation
import Policy
import PostgresStore
import Session
import Store

extension PolicyGroup {
    struct WhatIfCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "whatif",
            abstract: "Re-decide every recorded line under a candidate policy and show what would change.",
            discussion: """
                Each line recorded since --since is decided under this host's current policy and under the \
                candidate, with the same role, time, host and working directory; the differences are printed \
                (newly denied, newly allowed, newly confirmed) with counts per rule. Exit status 0.

                Example:
                  jitsh policy whatif --policy-dir ./policies --since 30d
                """
        )

        @Option(name: .customLong("policy-dir"), help: ArgumentHelp("The candidate policy directory.", valueName: "dir"))
        var policyDirectory: String
        @Option(help: "Lines recorded since: 30d, \"2 weeks ago\", an ISO time.") var since = "30d"
        @Option(help: "Show at most this many changed lines.") var show = 50
        @Option(help: "Only lines recorded on these hosts (a glob: 'prod-*').") var host: String?
        @OptionGroup var common: ReviewOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let ctx = try ReviewContext(common)
            let current: Policy, candidate: Policy
            do {
                current = try ctx.installation.loadPolicy()
                candidate = try PolicyDirectoryReader.loadNamed(policyDirectory)
            } catch {
                Console.error("policy error: \(error)")
                throw ExitCode(ExitStatus.error)
            }
            let from = try ReviewContext.time(since, option: "since") ?? 0
            let here = ctx.installation.configuration.host
            // Each line is re-decided on the host it ran on, with the tags that host reported.
            let tags = try ctx.run { try (ctx.store as? PostgresStore)?.hostTags() ?? [:] }
            let recorded = try ctx.run { try ctx.store.decidedLines(since: from) }.filter { line in
                host.map { StoreGlob.matches($0, line.host) } ?? true
            }.map {
                RecordedLine(line: $0.line, role: $0.role, host: $0.host == here.name ? here : HostInfo(name: $0.host, tags: tags[$0.host] ?? [:]),
                             at: $0.at / 1_000_000, cwd: $0.cwd)
            }
            let result = WhatIf(recorded, current: current, candidate: candidate, zones: SystemZones())
            if output.json {
                for c in result.changes {
                    Console.json(JSONOutput.string(["change": WhatIf.kind(c), "line": c.line.line, "role": c.line.role,
                                             "before": c.before.verdict.rawValue, "after": c.after.verdict.rawValue,
                                             "rule": c.after.rule?.description ?? "", "reason": c.after.reason]))
                }
                return
            }
            Console.line("\(result.lines) recorded lines since \(since); \(result.changes.count) would be decided differently")
            for row in result.counts { Console.line("  \(row.kind): \(row.count)  \(row.rule)") }
            for c in result.changes.prefix(show) {
                Console.line("\(WhatIf.kind(c)): [\(c.line.role.visible)] \(c.line.line.visible)")
                Console.line("    was \(c.before.verdict.rawValue), would be \(c.after.headline(line: c.line.line))")
            }
            if result.changes.count > show { Console.line("… and \(result.changes.count - show) more (--show N)") }
        }
    }
}
