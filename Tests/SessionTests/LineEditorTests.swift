@testable import Session
import Store
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
        #expect(text.contains("ls\r\n\u{1B}[?2004l"))
    }

    @Test func aPastedNewlineIsShownNotInterpreted() {
        let result = LineEditorTests.lines(Array((LineEditorTests.paste + "a\rb" + LineEditorTests.pasteEnd).utf8))
        let text = String(decoding: result.output, as: UTF8.self)
        #expect(text.contains("a↵b"))
        #expect(!text.dropFirst(8).contains("\n"))
    }

    // MARK: What the terminal shows

    /// Keys fed one read each, from a fresh prompt `$ ` → what the terminal shows, rendered by
    /// the recordings' own terminal (cursor moves, erasing, backspaces).
    static let left = "\u{1B}[D", right = "\u{1B}[C", home = "\u{1}", end = "\u{5}", backspace = "\u{7F}", delete = "\u{1B}[3~"
    static let screens: [(keys: [String], screen: String)] = [
        (["l", "s", " ", "-", "l"], "$ ls -l"),
        (["abc", left, left, "X"], "$ aXbc"),
        (["abc", backspace], "$ ab"),
        (["abc", backspace, backspace, backspace, "z"], "$ z"),
        (["abc", home, delete], "$ bc"),
        (["abc", home, "\u{B}"], "$"),
        (["abc def", "\u{17}"], "$ abc"),
        (["abc def", "\u{17}", "\u{19}", "\u{19}"], "$ abc defdef"),
        (["abc def", home, right, right, "\u{B}", end, "!"], "$ ab!"),
        (["abc", "\u{15}", "x"], "$ x"),
        (["a\u{1B}[Z", "c"], "$ ac"),
        (["a\u{1B}b", "c"], "$ ca"),
        (["long line here", home, "\u{1B}f", "\u{B}"], "$ long"),
        (["é", "x", left, backspace], "$ x"),
    ]

    @Test(arguments: screens)
    func editsShowTheLineAsItIs(_ c: (keys: [String], screen: String)) {
        let editor = LineEditor(history: []) { _, _ in [] }
        var out = editor.begin(prompt: "$ ")
        for k in c.keys { out += editor.feed(Array(k.utf8)).output }
        #expect(Transcript.searchableText([Frame(.output, offset: 0, data: out)]) == c.screen, "\(c.keys)")
    }

    /// Typing at the end of the line echoes each key and nothing else, as readline does; a
    /// backspace at the end costs 4 bytes, not a redraw.
    @Test func typingAtTheEndEchoesOnlyTheKey() {
        let editor = LineEditor(history: []) { _, _ in [] }
        _ = editor.begin(prompt: "user@prod-1:~$ ")
        let typed = "journalctl -u nginx --since today"
        let echoed = typed.unicodeScalars.flatMap { editor.feed(Array(String($0).utf8)).output }
        #expect(String(decoding: echoed, as: UTF8.self) == typed)
        #expect(editor.feed([0x7F]).output == Array("\u{8}\u{1B}[K".utf8))
    }

    /// The cursor moves by the columns a character takes: two for 漢, none for a combining mark.
    @Test func theCursorMovesByColumns() {
        let editor = LineEditor(history: []) { _, _ in [] }
        _ = editor.begin(prompt: "$ ")
        _ = editor.feed(Array("漢字".utf8))
        #expect(String(decoding: editor.feed(Array(LineEditorTests.left.utf8)).output, as: UTF8.self) == "\u{1B}[2D")
        #expect(String(decoding: editor.feed(Array("a".utf8)).output, as: UTF8.self) == "a字\u{1B}[2D")
        _ = editor.feed(Array(LineEditorTests.end.utf8))
        _ = editor.feed(Array("e\u{301}".utf8))
        #expect(String(decoding: editor.feed(Array(LineEditorTests.left.utf8)).output, as: UTF8.self) == "")
    }

    /// Any sequence of edits and history moves leaves the terminal showing the editor's line.
    @Test func randomEditsKeepTheScreenAndTheLineTheSame() {
        var seed: UInt64 = 0x5EED
        func next(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        let keys = ["a", "b", " ", "xy z", LineEditorTests.left, LineEditorTests.right, LineEditorTests.home, LineEditorTests.end,
                    LineEditorTests.backspace, LineEditorTests.delete, "\u{B}", "\u{15}", "\u{17}", "\u{19}", "\u{1B}b", "\u{1B}f",
                    "\u{1B}[A", "\u{1B}[B", "\u{7}"]
        for round in 0..<200 {
            let editor = LineEditor(history: ["ls -la /var/log", "echo one two"]) { _, _ in [] }
            var out = editor.begin(prompt: "$ ")
            var fed: [String] = []
            for _ in 0..<30 {
                let k = keys[next(keys.count)]
                fed.append(k)
                out += editor.feed(Array(k.utf8)).output
                let screen = Transcript.searchableText([Frame(.output, offset: 0, data: out)])
                let expected = ("$ " + editor.text).trimmingCharacters(in: .whitespaces)
                guard screen == expected else {
                    Issue.record("round \(round): \(fed.map { $0.debugDescription }) shows \(screen.debugDescription), the line is \(expected.debugDescription)")
                    return
                }
            }
        }
    }
}
