import Foundation
@testable import Serve
import Store
import Testing

/// The web app's pure pieces, as tables: escaping, forms, redirects, the player's JSON, the limiter.
struct PieceTests {
    @Test(arguments: [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("a \"q\" & 'b'", "a &quot;q&quot; &amp; &#39;b&#39;"),
        ("\u{1b}[31mred", "\\e[31mred"),
        ("two\nlines", "two⏎lines"),
        ("\u{202e}txt.exe", "\\u202etxt.exe"),
        ("plain", "plain"),
    ])
    func interpolatedStringsAreEscaped(input: String, shown: String) {
        let html: HTML = "<td>\(input)</td>"
        #expect(html.text == "<td>\(shown)</td>")
    }

    @Test func markupGoesInOnlyAsHTML() {
        let inner: HTML = "<b>\("<i>")</b>"
        let outer: HTML = "<p>\(inner)</p>"
        #expect(outer.text == "<p><b>&lt;i&gt;</b></p>")
    }

    @Test(arguments: [
        ("user=alice&host=prod-*", ["user": "alice", "host": "prod-*"]),
        ("q=DROP+TABLE&x=%3Cb%3E", ["q": "DROP TABLE", "x": "<b>"]),
        ("a=1&a=2&b", ["a": "1", "b": ""]),
        ("bad=%zz%4", ["bad": "%zz%4"]),
        ("", [:]),
    ])
    func formsParse(text: String, expected: [String: String]) {
        #expect(FormData.parse(text) == expected)
    }

    @Test(arguments: [
        ("/sessions/3f2a?autoplay=1", "/sessions/3f2a?autoplay=1"),
        ("//evil.example/", nil), ("https://evil.example/", nil), ("/\\evil", nil), ("/a b", nil), (nil, nil),
    ] as [(String?, String?)])
    func signInRedirectsStayOnTheSite(next: String?, expected: String?) {
        #expect(WebApp.localPath(next) == expected)
    }

    @Test(arguments: [
        ("a\"b\\c", "\"a\\\"b\\\\c\""),
        ("<script>&", "\"\\u003cscript\\u003e\\u0026\""),
        ("\u{1b}[0m\r\n\t", "\"\\u001b[0m\\r\\n\\t\""),
        ("\u{2028}\u{85}é", "\"\\u2028\\u0085é\""),
    ])
    func playerJSONStringsCarryNoMarkupOrControl(input: String, json: String) {
        var out = ""
        PlayerFeed.appendJSONString(input, to: &out)
        #expect(out == json)
        let decoded = try? JSONSerialization.jsonObject(with: Data("[\(out)]".utf8)) as? [String]
        #expect(decoded == [input])
    }

    @Test func thePlayerFeedFiltersOutputAndCompletesSplitCharacters() {
        var raw: [UInt8] = []
        FrameCodec.encode([Frame(.output, offset: 1_500_000, data: Array("hi \u{1b}]52;c;ZXZpbA==\u{07}".utf8) + [0xC3]),
                           Frame(.output, offset: 1_600_000, data: [0xA9]),
                           Frame(.input, offset: 2_000_000, data: Array("ls\r".utf8))], into: &raw)
        let chunk = Chunk(sessionID: "s", seq: 0, startedAt: 0, frames: 3, rawBytes: raw.count, data: Deflate.compress(raw), previousHash: [])
        var feed = PlayerFeed()
        let line = feed.line(chunk)
        #expect(line == "{\"seq\":0,\"frames\":[[1.500000,\"o\",\"hi \"],[1.600000,\"o\",\"é\"],[2.000000,\"i\",\"ls\\r\"]]}\n")
        #expect(feed.dropped?.contains("clipboard") == true)
    }

    @Test func failedSignInsAreLimitedPerAddressAndWindow() {
        var limiter = SignInLimiter(perWindow: 3, window: 60)
        for t in [0, 1, 2] as [Int64] {
            #expect(limiter.allows("a", now: t))
            limiter.failed("a", now: t)
        }
        #expect(!limiter.allows("a", now: 3))
        #expect(limiter.allows("b", now: 3))
        #expect(limiter.allows("a", now: 61))
    }
}
