import Foundation
@testable import Session
import Testing

/// The confirmation phrase as typed: one row per case, keys in, what is echoed and the answer out
/// (`…` while no answer yet). `^H` is Backspace's rub-out on the screen.
@Suite struct PhraseInputTests {
    static let table: [(keys: String, echo: String, answer: String)] = [
        ("prod-1\r", "prod-1", "typed prod-1"),
        ("prod-1\n", "prod-1", "typed prod-1"),
        ("\r", "", "typed "),
        ("prod-X\u{7f}1\r", "prod-X^H1", "typed prod-1"),
        ("ab\u{8}\u{8}\u{8}c\r", "ab^H^Hc", "typed c"),
        ("café\u{7f}e\r", "café^He", "typed cafe"),
        ("日本\u{7f}\r", "日本^H", "typed 日"),
        ("wrong\u{15}prod\r", "wrong^H^H^H^H^Hprod", "typed prod"),
        ("日本\u{15}\r", "日本^H^H", "typed "),
        ("pro\u{3}d\r", "pro", "interrupted"),
        ("\u{4}", "", "interrupted"),
        ("a\u{1b}[31mb\r", "a[31mb", "typed a[31mb"),
        ("a\tb\u{0}c\r", "abc", "typed abc"),
        ("prod", "prod", "…"),
    ]

    @Test(arguments: table) func row(_ row: (keys: String, echo: String, answer: String)) {
        var phrase = PhraseInput()
        var echo: [UInt8] = []
        var answer = "…"
        for b in Array(row.keys.utf8) {
            let (shown, done) = phrase.feed(b)
            echo += shown
            if let done {
                switch done {
                case .typed(let text): answer = "typed \(text)"
                case .interrupted: answer = "interrupted"
                case .timedOut, .ended: answer = "\(done)"
                }
                break
            }
        }
        let screen = String(decoding: echo, as: UTF8.self).replacingOccurrences(of: "\u{8} \u{8}", with: "^H")
        #expect(screen == row.echo, "keys \(row.keys.debugDescription)")
        #expect(answer == row.answer, "keys \(row.keys.debugDescription)")
    }
}
