import Foundation
@testable import Store
import Testing
import TestSupport

/// Whatever bytes a session produced and whatever a reviewer types, review code answers and
/// never traps (a seeded generator, so a failure reproduces).
@Suite struct RobustnessTests {
    typealias Generator = SeededGenerator


    /// Bytes biased towards what terminals see: escapes, CSI parameters, controls, UTF-8 pieces.
    static func terminalBytes(_ g: inout Generator, count: Int) -> [UInt8] {
        let alphabet: [UInt8] = Array("\u{1B}[]?;0123456789hlKCDGJm\r\n\t\u{8}\u{7}\\ abc".utf8) + [0xC3, 0xA9, 0xE2, 0x9C, 0x93, 0xFF, 0x80, 0x00]
        return (0..<count).map { _ in alphabet.randomElement(using: &g)! }
    }

    @Test func renderingAndExportTakeAnyBytes() throws {
        var g = Generator(state: 42)
        let session = SessionRecord(id: "s", identity: "a", login: "a", role: "r", grantID: nil, host: "h", client: "c", mode: "interactive",
                                    command: "", startedAt: 0)
        for round in 0..<300 {
            let bytes = RobustnessTests.terminalBytes(&g, count: Int.random(in: 0...400, using: &g))
            let whole = [Frame(.output, offset: 0, data: bytes)]
            let pieces = stride(from: 0, to: bytes.count, by: 7).map { Frame(.output, offset: UInt64($0), data: Array(bytes[$0..<min($0 + 7, bytes.count)])) }
            // Split anywhere, the text is the same: escapes and characters survive being cut.
            #expect(Transcript.render(whole) == Transcript.render(pieces), "round \(round)")
            for line in Transcript.asciicast(session, pieces + [Frame(.marker, offset: 9, data: bytes)]).split(separator: "\n") {
                #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "round \(round): \(line)")
            }
            _ = Transcript.jsonLines(pieces)
        }
    }

    @Test func searchExpressionsFromAnyWordsParseOrSayWhy() {
        var g = Generator(state: 7)
        let words = AuditQuery.fields + ["and", "or", "not", "!", "(", ")", "'2 hours ago'", "\"", "rm", "*", "7d", "alice", "deny", ""]
        for _ in 0..<2000 {
            let expression = (0..<Int.random(in: 0...8, using: &g)).map { _ in words.randomElement(using: &g)! }
            do {
                let q = try AuditQuery(expression, now: 1_800_000_000)
                #expect(!q.sql.isEmpty)
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
    }
}
