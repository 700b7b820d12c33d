import Foundation
import Testing
@testable import ShellSyntax
import TestSupport

/// Soundness against the real bash: whatever program bash runs for a line, extraction must have
/// listed (by name, and with the same arguments where it claims to know them all). Lines that
/// extraction refuses (a syntax error, a dynamic command, a risk) are denied by policy and skipped.
@Suite(.serialized)
struct DifferentialTests {
    static func mismatches(_ line: String, in sandbox: BashSandbox) throws -> [String] {
        guard let e = try? ShellSyntax.extract(line, environment: Corpus.environment),
              e.risks.isEmpty, e.commands.allSatisfy({ $0.name != nil }) else { return [] }
        // A shell given a script file runs that file: what it does is the exec guard's to see.
        if e.commands.contains(where: { c in
            c.name.map { Wrappers.shells.contains(Wrappers.basename($0)) } == true && Wrappers.unwrap(c.argv, stdinScript: nil).isEmpty && c.argv.count > 1
        }) { return [] }
        let run = try sandbox.run(line)
        let names = Set(e.commands.compactMap { $0.name.map(Wrappers.basename) })
        var problems: [String] = []
        for invocation in run.invocations {
            let name = invocation[0], args = Array(invocation.dropFirst())
            guard names.contains(name) else {
                problems.append("bash ran `\(invocation.joined(separator: " "))`, extraction has \(names.sorted())")
                continue
            }
            let candidates = e.commands.filter { $0.name.map(Wrappers.basename) == name }
            guard candidates.allSatisfy({ $0.argv.allSatisfy(\.isStatic) }) else { continue }
            if !candidates.contains(where: { $0.argv.dropFirst().map(\.text) == args }) {
                problems.append("bash ran `\(name)` with \(args), extraction has \(candidates.map { $0.argv.map(\.text) })")
            }
        }
        for name in run.notFound where !names.contains(Wrappers.basename(name)) && !name.hasPrefix("$'") {
            problems.append("bash looked up `\(name)`, extraction has \(names.sorted())")
        }
        return problems
    }

    /// The harness itself: it sees what bash runs and what bash fails to find.
    @Test func sandboxObservesWhatBashRuns() throws {
        let sandbox = try BashSandbox.shared.get()
        let run = try sandbox.run("ls -la 'a b'; bash -c 'cat x'; nosuchcommand; /usr/bin/rm -f y")
        #expect(run.invocations == [["ls", "-la", "a b"], ["cat", "x"], ["rm", "-f", "y"]])
        #expect(run.notFound == ["nosuchcommand"])
    }

    @Test func corpusLinesRunWhatExtractionFound() throws {
        let sandbox = try BashSandbox.shared.get()
        var checked = 0
        for c in Corpus.load("commands.txt") + Corpus.load("contexts.txt") + Corpus.load("effects.txt") {
            let problems = try Self.mismatches(c.input, in: sandbox)
            #expect(problems.isEmpty, "\(c.testDescription): \(problems)")
            checked += 1
        }
        #expect(checked > 600)
    }

    /// Mutated corpus lines (fixed seed, bounded count): the parser must agree with bash on
    /// inputs nobody wrote by hand.
    @Test func mutatedLinesRunWhatExtractionFound() throws {
        let sandbox = try BashSandbox.shared.get()
        let seeds = Corpus.load("commands.txt").map(\.input)
        // JITSH_DIFFERENTIAL_COUNT and _SEED run a longer hunt by hand; CI keeps the bounded default.
        let environment = ProcessInfo.processInfo.environment
        let count = environment["JITSH_DIFFERENTIAL_COUNT"].flatMap(Int.init) ?? 1500
        var rng = SeededGenerator(state: environment["JITSH_DIFFERENTIAL_SEED"].flatMap(UInt64.init) ?? 0x6A69_7473_68)
        for _ in 0..<count {
            let line = Mutator.mutate(seeds.randomElement(using: &rng)!, &rng)
            let problems = try Self.mismatches(line, in: sandbox)
            #expect(problems.isEmpty, "\(line.debugDescription): \(problems)")
        }
    }
}
