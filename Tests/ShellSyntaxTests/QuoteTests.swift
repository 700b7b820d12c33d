import ShellSyntax
import Testing

/// Whatever jitsh quotes, bash (here: jitsh's own reading of bash) reads back as the same words.
@Suite struct QuoteTests {
    static let cases: [(word: String, ifNeeded: String)] = [
        ("plain/path.txt", "plain/path.txt"),
        ("a b", "'a b'"),
        ("it's", "'it'\\''s'"),
        ("$HOME", "'$HOME'"),
        ("*", "'*'"),
        ("", "''"),
        ("日本語", "日本語"),
        ("--flag=x,y", "--flag=x,y"),
        ("~", "'~'"),
        ("a\nb", "'a\nb'"),
    ]

    @Test(arguments: cases)
    func aWordIsQuotedOnlyWhenItMustBe(_ c: (word: String, ifNeeded: String)) {
        #expect(Quote.ifNeeded(c.word) == c.ifNeeded)
    }

    @Test func anAssignmentShapedCommandIsQuoted() {
        #expect(Quote.line(["a=b", "c=d"]) == "'a=b' c=d")
    }

    /// Random words from characters bash treats specially: each quoting reads back exactly.
    @Test func everyQuotingReadsBackAsTheSameWords() throws {
        var seed: UInt64 = 0xC0FFEE
        func next(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        // By scalar, so that a combining mark can follow a quote.
        let alphabet = Array("ab \u{301}'\"\\$`!*?[]{}()<>|&;#~=%,\t\néß漢".unicodeScalars)
        for _ in 0..<500 {
            let words = (0..<(1 + next(4))).map { _ in String(String.UnicodeScalarView((0..<next(8)).map { _ in alphabet[next(alphabet.count)] })) }
            for line in [Quote.line(["printf"] + words), "printf " + words.map(Quote.always).joined(separator: " ")] {
                let e = try ShellSyntax.extract(line)
                let argv = e.commands.first?.argv ?? []
                #expect(e.commands.count == 1 && argv.allSatisfy(\.isStatic) && argv.dropFirst().map(\.text) == words,
                        "\(words.map(\.debugDescription)) as \(line.debugDescription)")
            }
        }
    }
}
