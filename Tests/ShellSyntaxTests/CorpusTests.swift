import Testing
@testable import ShellSyntax

// Table-driven cases: adding a case is adding one line to a file in Corpus/.

@Test(arguments: Corpus.load("commands.txt"))
func commands(_ c: CorpusCase) {
    let actual = Corpus.renderCommands(c.input)
    if c.expected.hasPrefix("error") {
        #expect(actual.hasPrefix(c.expected), "\(c.testDescription)")
    } else {
        #expect(actual == c.expected, "\(c.testDescription)")
    }
}

@Test(arguments: Corpus.load("contexts.txt"))
func contexts(_ c: CorpusCase) {
    #expect(Corpus.renderContexts(c.input) == c.expected, "\(c.testDescription)")
}

@Test(arguments: Corpus.load("effects.txt"))
func effects(_ c: CorpusCase) {
    #expect(Corpus.renderEffects(c.input) == c.expected, "\(c.testDescription)")
}
