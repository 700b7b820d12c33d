import Testing
@testable import Policy
import ShellSyntax

/// Argument patterns, options, command names, globs: one case a line.
struct MatchingTests {
    static func fields(_ line: String) -> [Field] {
        (try? ShellSyntax.extract(line, environment: Fixtures.environment).commands.first?.argv.dropFirst()).map(Array.init) ?? []
    }

    @Test(arguments: [
        // pattern, arguments as typed, certain (allow), possible (deny/confirm)
        ("status ...", "status nginx", true, true),
        ("status ...", "status", true, true),
        ("status ...", "restart nginx", false, false),
        ("status *", "status nginx", true, true),
        ("status *", "status a b", false, false),
        ("status *", "status", false, false),
        ("status *", "status $(id)", false, true),
        ("status *", "status \"$(id)\"", true, true),
        ("status ...", "status $(id)", true, true),
        ("restart *", "$(id) nginx", false, true),
        ("restart *", "$(id)", false, true),
        ("restart ...", "*", false, true),
        ("-n * get ...", "-n prod get pods", true, true),
        ("-n * get ...", "-n prod delete pods", false, false),
        ("'a b' *", "'a b' c", true, true),
        ("'a b' *", "a b c", false, false),
        ("... --delete ...", "-a --delete x y", true, true),
        ("... --delete ...", "-a x y", false, false),
        ("... --delete ...", "-a $(id) y", false, true),
        ("", "", true, true),
        ("", "x", false, false),
        ("[a-c]*", "beta", true, true),
        ("[!a-c]*", "beta", false, false),
    ])
    func argumentPatterns(pattern: String, arguments: String, certain: Bool, possible: Bool) throws {
        let p = try ArgumentPattern(pattern)
        let f = Self.fields("cmd " + arguments)
        #expect(p.matches(f[...], mode: .certain) == certain, "certain: \(pattern) vs \(arguments)")
        #expect(p.matches(f[...], mode: .possible) == possible, "possible: \(pattern) vs \(arguments)")
    }

    @Test(arguments: [
        ("-i", "-i", true), ("-i", "-ni", true), ("-i", "-n", false), ("-i", "--in-place", false), ("-i", "-i.bak", true),
        ("--in-place", "--in-place", true), ("--in-place", "--in-place=.bak", true), ("--in-place", "--in-pl", true),
        ("--in-place", "--in", true), ("--in-place", "--inx", false), ("--in-place", "-i", false), ("--in-place", "--", false),
        ("-delete", "-delete", true), ("-delete", "-delete=x", true), ("-delete", "-d", false), ("-delete", "-deletex", false),
        ("-exec", "-execdir", false),
    ])
    func options(option: String, argument: String, matches: Bool) throws {
        #expect(try OptionMatcher(option).matches(argument) == matches, "\(option) vs \(argument)")
    }

    @Test func optionsStopAtDoubleDash() throws {
        let m = [try OptionMatcher("-i")]
        #expect(OptionMatcher.firstMatch(m, in: Self.fields("sed -n -- -i")[...], mode: .possible) == nil)
        #expect(OptionMatcher.firstMatch(m, in: Self.fields("sed -n $(id) x")[...], mode: .possible) != nil)
        #expect(OptionMatcher.firstMatch(m, in: Self.fields("sed -n $(id) x")[...], mode: .certain) == nil)
    }

    @Test(arguments: [
        ("/tmp/**", "/tmp/a", true), ("/tmp/**", "/tmp/a/b/c", true), ("/tmp/**", "/tmpx/a", false), ("/tmp/*", "/tmp/a/b", false),
        ("/tmp/*", "/tmp/a", true), ("/var/log/*.log", "/var/log/x.log", true), ("/var/log/*.log", "/var/log/a/x.log", false),
        ("/home/*/notes", "/home/bob/notes", true), ("/a/?", "/a/b", true), ("/a/?", "/a//", false),
    ])
    func pathGlobs(pattern: String, path: String, matches: Bool) throws {
        #expect(try Glob(pattern, path: true).matches(path) == matches, "\(pattern) vs \(path)")
    }

    @Test func globsStayFastOnHostileInput() throws {
        let g = try Glob(String(repeating: "*a", count: 30) + "b", path: true)
        #expect(!g.matches(String(repeating: "a", count: 200)))
    }

    @Test(arguments: [
        ("ls", ["ls"], true), ("/usr/bin/ls", ["ls", "/usr/bin/ls"], true), ("//usr//bin/./ls", ["ls", "/usr/bin/ls"], true),
        ("/tmp/ls", ["/tmp/ls"], false), ("./ls", ["./ls"], false), ("bin/ls", ["bin/ls"], false),
        ("/usr/bin/../../tmp/ls", ["/usr/bin/../../tmp/ls"], false), ("/opt/app/bin/tool", ["/opt/app/bin/tool"], false),
    ])
    func commandNames(name: String, keys: [String], trusted: Bool) throws {
        let d = Decider(try Fixtures.policy(["roles/r.yaml": "role: r\n"]))
        let k = d.keys(for: name)
        #expect(k.keys == keys && k.trusted == trusted, "\(name): \(k)")
    }
}

struct TimeTests {
    /// 2026-01-05 is a Monday.
    static func at(_ iso: String) -> Int64 { Timestamp.seconds(iso)! }

    @Test(arguments: [
        ("Mon-Fri 09:00-18:00 UTC", "2026-01-05T10:00:00Z", true),
        ("Mon-Fri 09:00-18:00 UTC", "2026-01-05T18:00:00Z", false),
        ("Mon-Fri 09:00-18:00 UTC", "2026-01-10T10:00:00Z", false),
        ("Mon-Fri 09:00-18:00 Europe/Berlin", "2026-01-05T08:30:00Z", true),
        ("Mon-Fri 09:00-18:00 Europe/Berlin", "2026-01-05T17:30:00Z", false),
        ("Fri 16:00-Mon 08:00 UTC", "2026-01-09T17:00:00Z", true),
        ("Fri 16:00-Mon 08:00 UTC", "2026-01-11T23:00:00Z", true),
        ("Fri 16:00-Mon 08:00 UTC", "2026-01-12T07:59:00Z", true),
        ("Fri 16:00-Mon 08:00 UTC", "2026-01-12T08:00:00Z", false),
        ("Fri 16:00-Mon 08:00 UTC", "2026-01-08T17:00:00Z", false),
        ("Sat,Sun 00:00-24:00 UTC", "2026-01-10T12:00:00Z", true),
        ("Sat,Sun 00:00-24:00 UTC", "2026-01-09T23:59:00Z", false),
        ("daily 22:00-06:00 UTC", "2026-01-06T02:00:00Z", true),
        ("daily 22:00-06:00 UTC", "2026-01-06T12:00:00Z", false),
        ("Sun 22:00-02:00 UTC", "2026-01-12T01:00:00Z", true),
    ])
    func windows(window: String, instant: String, inside: Bool) throws {
        let w = try TimeWindow(window)
        #expect(w.contains(epochSeconds: Self.at(instant), zones: FixedOffsetZones(["Europe/Berlin": 60])) == inside, "\(window) at \(instant)")
    }

    @Test func unknownZonesAreUnknownNotFalse() throws {
        let w = try TimeWindow("Mon 09:00-10:00 Mars/Olympus")
        #expect(w.contains(epochSeconds: 0, zones: FixedOffsetZones()) == nil)
    }

    @Test(arguments: [
        ("2026-01-05T12:00:00Z", Int64(1_767_614_400)), ("2026-01-05T13:00:00+01:00", Int64(1_767_614_400)),
        ("2026-01-05", Int64(1_767_571_200)), ("1970-01-01T00:00:00Z", Int64(0)), ("2024-02-29T00:00:00Z", Int64(1_709_164_800)),
    ])
    func timestamps(text: String, epoch: Int64) {
        #expect(Timestamp.seconds(text) == epoch)
        if text.hasSuffix("Z") { #expect(Timestamp.format(seconds: epoch) == text && Timestamp.format(microseconds: epoch * 1_000_000) == text) }
    }

    @Test(arguments: ["2026-13-01T00:00:00Z", "yesterday", "2026-01-05T25:00:00Z", "2026-01-05T12:00:00Zjunk"])
    func badTimestamps(text: String) {
        #expect(Timestamp.seconds(text) == nil)
    }

    @Test(arguments: [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("7d", 604_800)])
    func durations(text: String, seconds: Int) {
        #expect(Duration.seconds(text) == seconds)
        #expect(Duration.seconds(Duration.describe(seconds)) == seconds)
    }

    @Test(arguments: ["", "30", "m", "1x", "-5m", "0m"])
    func badDurations(text: String) {
        #expect(Duration.seconds(text) == nil)
    }
}
