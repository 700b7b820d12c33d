import Foundation
@testable import Store
import Testing
import TestSupport

/// What replay lets through to a reviewer's terminal: one recorded output, what passes, and
/// what was left out. Each row is also fed one byte at a time and cut at every position, as
/// frames and chunks cut sequences.
struct TerminalFilterTests {
    static let rows: [(String, String, [String])] = [
        ("plain text\r\n", "plain text\r\n", []),
        ("é ✓ 漢\r\n", "é ✓ 漢\r\n", []),
        // Drawing passes: colour, cursor moves, erase, scroll region, alternate screen, cursor style.
        ("\u{1B}[1;31mred\u{1B}[0m \u{1B}[2J\u{1B}[H\u{1B}[10;5H\u{1B}[K\u{1B}[2K\u{1B}[3A\u{1B}[1;24r",
         "\u{1B}[1;31mred\u{1B}[0m \u{1B}[2J\u{1B}[H\u{1B}[10;5H\u{1B}[K\u{1B}[2K\u{1B}[3A\u{1B}[1;24r", []),
        ("\u{1B}[?1049h\u{1B}[?25l\u{1B}[?25h\u{1B}[?1049l\u{1B}(0q\u{1B}(B\u{1B}7\u{1B}8\u{1B}[2 q",
         "\u{1B}[?1049h\u{1B}[?25l\u{1B}[?25h\u{1B}[?1049l\u{1B}(0q\u{1B}(B\u{1B}7\u{1B}8\u{1B}[2 q", []),
        // The clipboard, titles and other OSC writes, with either terminator.
        ("a\u{1B}]52;c;cm0gLXJmIH4=\u{7}b", "ab", ["clipboard write (OSC 52)"]),
        ("a\u{1B}]52;c;cm0gLXJmIH4=\u{1B}\\b", "ab", ["clipboard write (OSC 52)"]),
        ("\u{1B}]0;owned\u{7}\u{1B}]2;owned\u{1B}\\x", "x", ["window title (OSC 0)", "window title (OSC 2)"]),
        ("\u{1B}]8;;http://x\u{1B}\\link\u{1B}]8;;\u{1B}\\", "link", ["hyperlink (OSC 8)", "hyperlink (OSC 8)"]),
        ("\u{1B}]11;?\u{7}", "", ["colour change or query (OSC 11)"]),
        // Strings of other kinds: none passes.
        ("\u{1B}P$qm\u{1B}\\", "", ["setting request (DECRQSS)"]),
        ("\u{1B}Pq#0;2;0;0;0\u{1B}\\", "", ["device control string (DCS)"]),
        ("\u{1B}_Gf=100;AAAA\u{1B}\\", "", ["application program command (APC)"]),
        ("\u{1B}^secret\u{1B}\\", "", ["privacy message (PM)"]),
        ("\u{1B}Xsos\u{1B}\\", "", ["start of string (SOS)"]),
        // Requests the terminal would answer into the reviewer's input.
        ("\u{1B}[6n\u{1B}[5n\u{1B}[?6n", "", ["device status request (DSR, CPR)", "device status request (DSR, CPR)",
                                             "device status request (DSR, CPR)"]),
        ("\u{1B}[c\u{1B}[>c\u{1B}[=c", "", ["device attributes request (DA)", "device attributes request (DA)", "device attributes request (DA)"]),
        ("\u{1B}[14t\u{1B}[21t", "", ["window operation or report", "window operation or report"]),
        ("\u{1B}[?2026$p", "", ["mode or state request"]),
        ("\u{1B}Z", "", ["identification request (DECID)"]),
        ("\u{1B}c", "", ["terminal reset (RIS)"]),
        // Modes that would send mouse or focus reports, or change the keyboard.
        ("\u{1B}[?1000h\u{1B}[?1049;1004h\u{1B}[>1u", "",
         ["terminal mode change (mouse, focus or other reports)", "terminal mode change (mouse, focus or other reports)",
          "terminal query or keyboard mode"]),
        // Controls without a sequence: C0 answerback, C1 in UTF-8 and bare 8-bit.
        ("a\u{5}b\u{0}c\u{7F}", "abc", ["control character", "control character", "control character"]),
        ("a\u{9B}6nb\u{9D}52;c;x\u{7}", "a6nb52;c;x\u{7}", ["C1 control", "C1 control"]),
        // A control inside a sequence ends it; an unfinished one at the end is left out.
        ("\u{1B}[31\nx", "\nx", ["malformed control sequence"]),
        ("x\u{1B}]52;c;abc", "x", ["clipboard write (OSC 52)"]),
    ]

    static func run(_ pieces: [[UInt8]]) -> ([UInt8], [String: Int]) {
        var f = TerminalFilter()
        var out: [UInt8] = []
        for p in pieces { out += f.feed(p) }
        out += f.finish()
        return (out, f.dropped)
    }

    @Test(arguments: rows)
    func replayPassesOnlyWhatDraws(_ recorded: String, _ passed: String, _ dropped: [String]) {
        let bytes = Array(recorded.utf8)
        var expected: [String: Int] = [:]
        for d in dropped { expected[d, default: 0] += 1 }
        let whole = TerminalFilterTests.run([bytes])
        #expect(whole.0 == Array(passed.utf8), "\(String(decoding: whole.0, as: UTF8.self).debugDescription)")
        #expect(whole.1 == expected)
        let single = TerminalFilterTests.run(bytes.map { [$0] })
        #expect(single.0 == whole.0 && single.1 == whole.1)
        for cut in 0...bytes.count {
            let split = TerminalFilterTests.run([Array(bytes[..<cut]), Array(bytes[cut...])])
            #expect(split.0 == whole.0 && split.1 == whole.1, "cut at \(cut)")
        }
    }

    @Test func theSummaryNamesWhatWasLeftOut() {
        var f = TerminalFilter()
        _ = f.feed(Array("\u{1B}]52;c;eA==\u{7}\u{1B}]52;c;eA==\u{7}\u{1B}[6n".utf8))
        #expect(f.summary == "left out 3 terminal sequences that could act on your terminal: clipboard write (OSC 52) ×2, device status request (DSR, CPR) ×1")
        #expect(TerminalFilter().summary == nil)
    }

    /// Hostile output: whatever the bytes, no string sequence, no request and no C1 control
    /// passes, wherever the stream is cut.
    @Test func anyBytesLeaveNoDangerousSequence() {
        var g = RobustnessTests.Generator(state: 99)
        let alphabet: [UInt8] = Array("\u{1B}[]P_^X?>=;0123456789nchlqtm$ \u{7}\\abc\r\n".utf8) + [0xC2, 0x9B, 0x9D, 0x90, 0x05, 0x00, 0x7F]
        for round in 0..<500 {
            let bytes = (0..<Int.random(in: 0...300, using: &g)).map { _ in alphabet.randomElement(using: &g)! }
            let step = Int.random(in: 1...9, using: &g)
            let cuts = stride(from: 0, to: bytes.count, by: step).map { Array(bytes[$0..<min(bytes.count, $0 + step)]) }
            let (out, _) = TerminalFilterTests.run([bytes])
            #expect(TerminalFilterTests.run(cuts).0 == out || cuts.isEmpty, "round \(round)")
            #expect(!TerminalFilterTests.hasDangerousSequence(out), "round \(round): \(String(decoding: out, as: UTF8.self).debugDescription)")
        }
    }

    /// An independent check of the filter's output: every ESC starts a sequence from the safe
    /// list, and no other control byte but BEL, BS, HT, LF, CR is there.
    static func hasDangerousSequence(_ out: [UInt8]) -> Bool {
        var k = 0
        while k < out.count {
            let b = out[k]
            if b == 0xC2, k + 1 < out.count, (0x80...0x9F).contains(out[k + 1]) { return true }
            if b < 0x20 && ![0x07, 0x08, 0x09, 0x0A, 0x0D, 0x1B].contains(b) || b == 0x7F { return true }
            if b == 0x1B {
                guard k + 1 < out.count else { return true }
                let next = out[k + 1]
                if "]P_^XcZ".utf8.contains(next) { return true }
                if next == UInt8(ascii: "[") {
                    var j = k + 2
                    while j < out.count && !(0x40...0x7E).contains(out[j]) { j += 1 }
                    guard j < out.count else { return true }
                    if "nctx".utf8.contains(out[j]) { return true }
                    if out[(k + 2)..<j].contains(UInt8(ascii: ">")) || out[(k + 2)..<j].contains(UInt8(ascii: "$")) { return true }
                    k = j
                }
            }
            k += 1
        }
        return false
    }
}
