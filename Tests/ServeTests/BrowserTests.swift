import Foundation
import Testing

/// A real browser (Debian's chromium, headless) signs in with a one-time link, opens a session
/// page, plays the recording in the xterm.js player and the screen shows what was typed.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// chromium with a profile of its own; virtual time runs the player's timers without waiting.
    func chromium(_ bed: Bed, _ arguments: [String]) throws -> String {
        let chromium = try #require(Self.chromium, "chromium is missing: scripts/prerequisites.sh installs it")
        let profile = bed.root + "/chromium-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let (_, output) = try Bed.execute("/usr/bin/timeout", ["-k", "5", "90", chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                                               "--no-first-run", "--disable-dev-shm-usage", "--user-data-dir=" + profile,
                                                               "--hide-scrollbars"] + arguments, timeout: 100)
        return output
    }

    func url(_ bed: Bed, _ link: String) -> String { "http://127.0.0.1:\(bed.port)" + link }

    @Test func theBrowserPlaysTheRecordingAndShowsTheTypedCommand() throws {
        let bed = try Bed.instance
        let id = bed.sessions["interactive"]!
        let link = try bed.signInLink("rita", next: "/sessions/\(id)?autoplay=1")
        let dom = try chromium(bed, ["--virtual-time-budget=30000", "--dump-dom", url(bed, link)])
        let screen = try #require(dom.firstMatch(of: /<pre id="screen-text">([^<]*)<\/pre>/)?.1, "no player screen in: \(dom.prefix(2000))")
        #expect(screen.contains(Bed.typedCommand), "the screen shows: \(screen)")
        #expect(screen.contains("player-check-42\n") || screen.contains("player-check-42"), "and its output")
        #expect(dom.contains("id=\"status\">end"), "the player reached the end")
    }

    @Test func screenshotsOfTheListAndTheSessionPage() throws {
        let bed = try Bed.instance
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/serve-screenshots").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let id = bed.sessions["interactive"]!
        for (name, next) in [("sessions", "/sessions"), ("session", "/sessions/\(id)?autoplay=1")] {
            let file = "\(directory)/\(name).png"
            try? FileManager.default.removeItem(atPath: file)
            let link = try bed.signInLink("rita", next: next)
            _ = try chromium(bed, ["--virtual-time-budget=30000", "--window-size=1360,900", "--screenshot=" + file, url(bed, link)])
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            #expect(size > 10_000, "\(file) is \(size) bytes")
        }
    }
}
