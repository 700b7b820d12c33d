@testable import Session
import Testing

/// The line editor fed bytes as a terminal sends them: what lines come out, and what is dropped.
@Suite struct LineEditorTests {
    /// Feeds `input` at once, then whatever is left pending, as the session's loop does.
    static func lines(_ input: [UInt8], skipFirst: Bool = false) -> (lines: [String], dropped: Int, output: [UInt8]) {
        let editor = LineEditor(history: []) { _, _ in [] }
        editor.skippingToLineEnd = skipFirst
        var out: [UInt8] = editor.begin(prompt: "$ ")
        var submitted: [String] = []
        var fresh = input
        repeat {
            let (o, events) = editor.feed(fresh)
            fresh = []
            out += o
            for case .submit(let line) in events {
                submitted.append(line)
                out += editor.begin(prompt: "$ ")
            }
        } while editor.hasPending
        return (submitted, editor.takeDropped(), out)
    }

    static let paste = "\u{1B}[200~", pasteEnd = "\u{1B}[201~"

    /// One input, as typed or pasted → the lines submitted, and how many bytes were dropped.
    static let corpus: [(input: [UInt8], lines: [String], dropped: Int)] = [
        (Array("ls\r".utf8), ["ls"], 0),
        (Array("echo a\recho b\recho c\r".utf8), ["echo a", "echo b", "echo c"], 0),
        (Array("# a comment; true\rtouch x\r".utf8), ["# a comment; true", "touch x"], 0),
        (Array((paste + "echo a\recho b\r" + pasteEnd + "\r").utf8), ["echo a\necho b\n"], 0),
        (Array((paste + "echo a\r\necho b" + pasteEnd + "\r").utf8), ["echo a\necho b"], 0),
        (Array((paste + "for x in 1 2\rdo echo $x\rdone" + pasteEnd + "\r").utf8), ["for x in 1 2\ndo echo $x\ndone"], 0),
        (Array((paste + "a\u{07}b\tc" + pasteEnd + "\r").utf8), ["ab\tc"], 1),
        ([0xFF] + Array("ls\r".utf8), ["ls"], 1),
        ([0xC3] + Array("\r".utf8), [""], 1),
        ([0xC3, 0x03] + Array("ls\r".utf8), ["ls"], 1),
        ([0xE2, 0x82] + Array("x\r".utf8), ["x"], 2),
        ([0xC3, 0xA9] + Array("\r".utf8), ["é"], 0),
        ([0x80, 0x80] + Array("id\r".utf8), ["id"], 2),
    ]

    @Test(arguments: corpus)
    func bytesBecomeWholeLines(_ c: (input: [UInt8], lines: [String], dropped: Int)) {
        let result = LineEditorTests.lines(c.input)
        #expect(result.lines == c.lines, "\(c.input)")
        #expect(result.dropped == c.dropped, "\(c.input)")
    }

    @Test func theRestOfALineWhoseStartWentToAJobIsNotALine() {
        let result = LineEditorTests.lines(Array("cho P1\recho P2\r".utf8), skipFirst: true)
        #expect(result.lines == ["echo P2"])
        #expect(result.dropped == 7)
    }

    @Test func tenThousandPastedLinesAreOneSubmission() {
        let body = (1...10_000).map { "echo P\($0)\r" }.joined()
        let result = LineEditorTests.lines(Array((LineEditorTests.paste + body + LineEditorTests.pasteEnd + "\r").utf8))
        #expect(result.lines.count == 1)
        #expect(result.lines.first?.split(separator: "\n").count == 10_000)
    }

    @Test func pasteModeIsOnAtThePromptAndOffWhenALineRuns() {
        let result = LineEditorTests.lines(Array("ls\r".utf8))
        let text = String(decoding: result.output, as: UTF8.self)
        #expect(text.hasPrefix("\u{1B}[?2004h"))
        #expect(text.contains("ls\u{1B}[K\r\n\u{1B}[?2004l"))
    }

    @Test func aPastedNewlineIsShownNotInterpreted() {
        let result = LineEditorTests.lines(Array((LineEditorTests.paste + "a\rb" + LineEditorTests.pasteEnd).utf8))
        let text = String(decoding: result.output, as: UTF8.self)
        #expect(text.contains("a↵b"))
        #expect(!text.dropFirst(8).contains("\n"))
    }
}
