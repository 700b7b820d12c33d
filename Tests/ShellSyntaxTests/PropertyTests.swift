import Testing
@testable import ShellSyntax
import TestSupport

/// Properties that hold for every input: no crash, no hang, work linear in the input's size,
/// limits enforced with an error rather than a crash.
struct PropertyTests {
    static let shellBytes = Array("ab c$`'\"\\(){}[]|&;<>#*?!~=-_:/\n\t0123456789@%^,+.".utf8)

    /// Any outcome but a crash is acceptable: a result, or a syntax error with a position.
    static func survives(_ bytes: [UInt8]) -> Bool {
        do {
            let e = try ShellSyntax.extract(bytes, environment: Corpus.environment)
            return e.commands.allSatisfy { $0.position.line >= 1 && $0.position.column >= 1 }
        } catch {
            return error.position.line >= 1 && error.position.offset <= bytes.count
        }
    }

    @Test func randomShellTextNeverCrashes() {
        var rng = SeededGenerator(state: 1)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...120, using: &rng)
            let bytes = (0..<length).map { _ in Self.shellBytes.randomElement(using: &rng)! }
            #expect(Self.survives(bytes), "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
        }
    }

    @Test func randomBytesNeverCrash() {
        var rng = SeededGenerator(state: 2)
        for _ in 0..<5_000 {
            let bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(Self.survives(bytes))
        }
    }

    @Test func mutatedCorpusLinesNeverCrash() {
        var rng = SeededGenerator(state: 3)
        let seeds = Corpus.load("commands.txt").map(\.input)
        for _ in 0..<20_000 {
            let line = Mutator.mutate(seeds.randomElement(using: &rng)!, &rng)
            #expect(Self.survives(Array(line.utf8)), "\(line.debugDescription)")
        }
    }

    /// Lines built by repeating a unit: parsing 8 times the input takes at most about 8 times
    /// the work (bytes looked at, which is deterministic, unlike a clock).
    @Test(arguments: [
        "a | ", "a; ", "a && b || ", "echo a b c ", "\"$x\" '$y' $'z' ", "$(echo a) ", "`echo a` ", "$((1+2)) ",
        "$( (a) ) ", "${x:-${y:-z}} ", "{a,b} ", "cat <<E\nbody\nE\n", "if a; then b; fi; ", "[[ a == b ]]; ",
        "x=1 ", "a[1]=2 ", "(( i++ )); ", "case a in b) c;; esac; ", "<(a) ", "f=$(a $(b) `c`); ",
        "echo \\\n", "((((a)))); ", "$(( (((1)))+1 )) ",
    ])
    func workIsLinear(unit: String) throws {
        func steps(_ copies: Int) throws -> Int {
            var text = String(repeating: unit, count: copies)
            if unit.hasSuffix("| ") || unit.hasSuffix("|| ") { text += "a" }
            var parser = Parser(Array(text.utf8), limits: Limits(maxBytes: 1 << 20))
            _ = try parser.parseScript()
            return parser.steps
        }
        let small = try steps(200), large = try steps(1600)
        #expect(Double(large) / Double(small) < 8 * 1.25, "\(unit.debugDescription): \(small) → \(large) steps")
    }

    /// `$((` and `((` that turn out not to be arithmetic are parsed again as `$( (`; nested 30
    /// deep that must not mean 2^30 re-parses.
    @Test(arguments: ["$(( ", "(( ", "$(( $( ", "(( $(( "])
    func ambiguousParenthesesDoNotBacktrackExponentially(opener: String) {
        let n = 30
        let line = String(repeating: opener, count: n) + "a" + String(repeating: ") )", count: n * 2)
        var parser = Parser(Array(line.utf8), limits: .default)
        _ = try? parser.parseScript()
        #expect(parser.steps < 100 * line.utf8.count, "\(parser.steps) steps for \(line.utf8.count) bytes")
    }

    @Test func lineOverTheSizeLimitIsAnError() {
        let line = String(repeating: "a ", count: 40_000)
        #expect(throws: SyntaxError.self) { try ShellSyntax.extract(line) }
        let limits = Limits(maxBytes: 100)
        do {
            _ = try ShellSyntax.extract(String(repeating: "a", count: 101), limits: limits)
            Issue.record("accepted a line over the limit")
        } catch {
            #expect(error.message == "the line is 101 bytes; the limit is 100")
        }
    }

    @Test(arguments: ["$(", "( ", "{ ", "`", "${x:-", "if a; then ", "<(", "$(( (", "bash -c '"])
    func nestingDeeperThanTheLimitIsAnError(opener: String) {
        let closers = ["$(": ")", "( ": ")", "{ ": "; }", "`": "`", "${x:-": "}", "if a; then ": "; fi", "<(": ")",
                       "$(( (": ") ))", "bash -c '": "'"]
        let depth = 200
        var line = String(repeating: opener, count: depth) + "a" + String(repeating: closers[opener]!, count: depth)
        if opener == "`" || opener == "bash -c '" { line = opener + "a" + closers[opener]! }
        do {
            let e = try ShellSyntax.extract(line)
            // Backquotes and quotes cannot nest by repetition; those lines are simply valid.
            #expect(opener == "`" || opener == "bash -c '", "\(opener) accepted \(e.commands.count) commands")
        } catch {
            #expect(error.message.contains("nesting deeper than 64"), "\(error)")
        }
    }

    @Test func nestedShellStringsStopAtTheLimit() throws {
        // eval joins its arguments into shell code: 80 of them nest 80 levels deep.
        let e = try ShellSyntax.extract(String(repeating: "eval ", count: 80) + "id")
        #expect(e.commands.contains { $0.dynamicReason?.contains("nested deeper than 64") == true })
        #expect(!e.commands.contains { $0.name == "id" })
    }

    @Test func invalidUTF8IsReportedWithItsPosition() {
        do {
            _ = try ShellSyntax.extract([UInt8]("echo ".utf8) + [0xC3, 0x28])
            Issue.record("accepted invalid UTF-8")
        } catch {
            #expect(error.description == "1:6: invalid UTF-8 (byte 0xc3)")
        }
    }

    @Test func nulIsReportedWithItsPosition() {
        #expect(throws: SyntaxError.self) { try ShellSyntax.extract([UInt8]("ls".utf8) + [0] + [UInt8]("rm".utf8)) }
    }

    @Test func controlCharactersAreRisks() throws {
        let e = try ShellSyntax.extract("ls\u{1B}[2J; echo\u{7F} x\r")
        #expect(e.risks.map(\.kind) == [.controlCharacter, .controlCharacter, .controlCharacter])
        #expect(e.risks.map(\.position.column) == [3, 13, 16])
        let inner = try ShellSyntax.extract("bash -c $'ls\\x01'")
        #expect(inner.risks.map(\.kind) == [.controlCharacter])
    }

    @Test func positionsCountCharactersNotBytes() throws {
        let e = try ShellSyntax.extract("echo é; ls ü")
        #expect(e.commands.map(\.position.description) == ["1:1", "1:9"])
    }

    @Test func incompleteLinesAreMarkedForContinuation() {
        for line in ["echo 'a", "echo \"a", "if true; then", "ls |", "ls &&", "cat <<EOF", "echo $(", "echo \\", "for x in a", "{ ls"] {
            do {
                _ = try ShellSyntax.parse(line)
                #expect(line == "echo \\", "\(line) parsed")
            } catch {
                #expect(error.incomplete, "\(line): \(error)")
            }
        }
        for line in ["ls )", "fi", "echo ${%}", "ls >"] {
            do {
                _ = try ShellSyntax.parse(line)
                Issue.record("\(line) parsed")
            } catch {
                #expect(!error.incomplete, "\(line): \(error)")
            }
        }
    }
}

