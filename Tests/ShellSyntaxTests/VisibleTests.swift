import Foundation
@testable import ShellSyntax
import Testing
import TestSupport

/// User text shown to a person: a table of what each control becomes, and properties over any
/// bytes (no control survives; a field stays on one line; JSON stays the same value).
struct VisibleTests {
    static let rows: [(String, String)] = [
        ("plain text, é ✓ 漢", "plain text, é ✓ 漢"),
        ("\u{1B}]52;c;cm0gLXJm\u{7}", "\\e]52;c;cm0gLXJm\\x07"),
        ("\u{1B}[2J\u{1B}[2K\rgrant ok", "\\e[2J\\e[2K\\rgrant ok"),
        ("INC-1\n17\tactive\talice", "INC-1⏎17\\tactive\\talice"),
        ("nul\u{0} del\u{7F} c1\u{9B}31m", "nul\\x00 del\\x7f c1\\u009b31m"),
        ("ls \u{202E}txt.exe", "ls \\u202etxt.exe"),
        ("line\u{2028}sep", "line\\u2028sep"),
    ]

    @Test(arguments: rows)
    func controlsAreShownNotActedOn(_ text: String, _ shown: String) {
        #expect(Visible.text(text) == shown)
    }

    @Test func linesKeepTheirOwnBreaksOnly() {
        #expect(Visible.lines("a\nb\u{1B}[H\r\n") == "a\nb\\e[H\\r\n")
    }

    /// Any scalars at all (controls weighted in): the text shows none of them, a field is one
    /// line, and `lines` keeps exactly the newlines it was given.
    @Test func anyTextShowsNoControlCharacter() {
        var rng = SeededGenerator(state: 16)
        let pool: [Unicode.Scalar] = (0...0x20).compactMap(Unicode.Scalar.init) + (0x7F...0xA0).compactMap(Unicode.Scalar.init)
            + ["a", "é", "漢", "\u{202E}", "\u{2066}", "\u{2028}", "\u{1F600}", "\\"]
        for _ in 0..<5_000 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...40, using: &rng) { s.append(pool.randomElement(using: &rng)!) }
            let text = String(s)
            let field = Visible.text(text)
            #expect(!field.unicodeScalars.contains(where: Visible.isControl), "\(text.debugDescription)")
            #expect(!field.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }))
            let lines = Visible.lines(text)
            #expect(!lines.unicodeScalars.contains { Visible.isControl($0) && $0 != "\n" })
            #expect(lines.filter { $0 == "\n" }.count == text.unicodeScalars.filter { $0 == "\n" }.count)
            // JSON of the text, made printable, is still JSON of the same text.
            let data = try! JSONSerialization.data(withJSONObject: ["t": text])
            let json = Visible.json(String(decoding: data, as: UTF8.self))
            #expect(!json.unicodeScalars.contains(where: Visible.isControl))
            let back = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
            #expect(back?["t"] == text, "\(text.debugDescription)")
        }
    }
}
