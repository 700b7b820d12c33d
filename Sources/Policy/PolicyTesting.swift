import ShellSyntax
import Yams

/// `policies/tests/*.yaml`: expectations ops write before a policy ships.
///
///     - line: "rm -rf /var/log"
///       role: readonly
///       expect: deny
///       rule: roles/readonly.yaml:14      # optional: the rule that must decide
///       host: prod-1                      # optional, with tags: {env: production}
///       at: 2026-11-30T10:00:00Z          # optional, UTC
///       cwd: /home/alice                  # optional
///       files: [/var/log/app/a.log, /srv/] # optional: the files that exist (directories end with /); none by default
public struct PolicyTestCase: Sendable {
    public var ref: SourceRef
    public var line: String
    public var role: String
    public var expect: Verdict
    public var rule: String?
    public var reasonContains: String?
    public var host: HostInfo
    public var epochSeconds: Int64
    public var cwd: String
    public var files: [String] = []
}

public struct PolicyTestResult: Sendable {
    public var testCase: PolicyTestCase
    public var decision: Decision
    public var failure: String?
    public var passed: Bool { failure == nil }
}

public enum PolicyTesting {
    static let keys = ["line", "role", "expect", "rule", "reason", "host", "tags", "at", "cwd", "files"]
    /// 2026-01-05T12:00:00Z, a Monday: the default instant, so tests do not depend on the clock.
    public static let defaultInstant: Int64 = 1_767_614_400

    public static func parse(_ file: PolicyFile) throws(PolicyError) -> [PolicyTestCase] {
        var r = YAMLReader(file: file.path)
        guard let document = r.document(file.text) else { throw PolicyError(diagnostics: r.diagnostics) }
        guard let seq = document.sequence else {
            r.error(document, "a test file is a list of cases (`- line: …`)")
            throw PolicyError(diagnostics: r.diagnostics)
        }
        var cases: [PolicyTestCase] = []
        for item in seq {
            guard let entries = r.mapping(item, "a test case", allowed: keys) else { continue }
            var c = PolicyTestCase(ref: r.ref(item), line: "", role: "", expect: .deny, rule: nil, reasonContains: nil,
                                   host: HostInfo(name: "testhost"), epochSeconds: defaultInstant, cwd: "/home/test")
            var hasExpect = false
            for (key, _, value) in entries {
                switch key {
                case "line": c.line = r.string(value, "line") ?? ""
                case "role": c.role = r.string(value, "role") ?? ""
                case "expect":
                    if let s = r.string(value, "expect"), let v = Verdict(rawValue: s) { c.expect = v; hasExpect = true } else {
                        r.error(value, "expect is allow, deny or confirm")
                    }
                case "rule": c.rule = r.string(value, "rule")
                case "reason": c.reasonContains = r.string(value, "reason")
                case "host": c.host.name = r.string(value, "host") ?? c.host.name
                case "tags":
                    for (k, _, v) in r.mapping(value, "tags", allowed: value.mapping?.keys.compactMap(\.string) ?? []) ?? [] {
                        c.host.tags[k] = r.string(v, k)
                    }
                case "at":
                    if let s = r.string(value, "at"), let t = Timestamp.seconds(s) { c.epochSeconds = t } else {
                        r.error(value, "at must be a time like 2026-11-30T10:00:00Z")
                    }
                case "cwd": c.cwd = r.string(value, "cwd") ?? c.cwd
                case "files": c.files = r.strings(value, "files") ?? []
                default: break
                }
            }
            if c.line.isEmpty || c.role.isEmpty || !hasExpect {
                r.error(item, "a test case needs `line`, `role` and `expect`")
                continue
            }
            cases.append(c)
        }
        if r.diagnostics.contains(where: { $0.severity == .error }) { throw PolicyError(diagnostics: r.diagnostics) }
        return cases
    }

    public static func run(_ cases: [PolicyTestCase], policy: Policy, zones: TimeZoneResolver) -> [PolicyTestResult] {
        let decider = Decider(policy)
        return cases.map { c in
            let environment = ShellEnvironment(variables: ["HOME": "/home/test", "USER": "test", "PWD": c.cwd, "PATH": "/usr/bin:/bin"],
                                               complete: true)
            let context = DecisionContext(host: c.host, epochSeconds: c.epochSeconds, zones: zones, cwd: c.cwd, home: "/home/test",
                                          protectedPaths: ["/var/lib/jitsh", "/etc/jitsh", "/usr/local/bin/jitsh"], files: KnownFiles(c.files))
            let d = decider.decide(line: c.line, environment: environment, role: c.role, context: context)
            var failure: String?
            if d.verdict != c.expect {
                failure = "expected \(c.expect.rawValue), got \(d.verdict.rawValue): \(d.reason)"
            } else if let want = c.rule, d.rule?.description != want {
                failure = "expected rule \(want), decided by \(d.rule?.description ?? "a built-in protection"): \(d.reason)"
            } else if let want = c.reasonContains, !d.reason.contains(want) {
                failure = "expected a reason containing `\(want)`, got: \(d.reason)"
            }
            return PolicyTestResult(testCase: c, decision: d, failure: failure)
        }
    }
}

/// ISO 8601 instants without a calendar library: `2026-11-30T10:00:00Z`, `…+01:00`, or a date.
public enum Timestamp {
    /// An ISO 8601 time (`2026-11-30`, `2026-11-30T10:00`, `…:00Z`, `…+02:00`) in microseconds since the epoch.
    public static func microseconds(_ text: String) -> Int64? { seconds(text).map { $0 * Duration.second } }

    public static func seconds(_ text: String) -> Int64? {
        let s = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= s.count else { return nil }
            var v = 0
            for k in from..<(from + count) {
                guard s[k] >= 48 && s[k] <= 57 else { return nil }
                v = v * 10 + Int(s[k] - 48)
            }
            return v
        }
        guard let year = number(0, 4), s.count >= 10, s[4] == 45, let month = number(5, 2), s[7] == 45, let day = number(8, 2),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        var seconds = 0
        var k = 10
        if k < s.count, s[k] == 84 || s[k] == 32 {
            guard let h = number(k + 1, 2), s.count > k + 3, s[k + 3] == 58, let m = number(k + 4, 2), h < 24, m < 60 else { return nil }
            seconds = h * 3600 + m * 60
            k += 6
            if k < s.count, s[k] == 58 {
                guard let sec = number(k + 1, 2), sec < 61 else { return nil }
                seconds += sec
                k += 3
            }
            if k < s.count, s[k] == 46 { k += 1; while k < s.count, s[k] >= 48 && s[k] <= 57 { k += 1 } }
        }
        if k < s.count {
            if s[k] == 90, k + 1 == s.count {
                k += 1
            } else if s[k] == 43 || s[k] == 45, let oh = number(k + 1, 2), let om = number(k + (s.count > k + 3 && s[k + 3] == 58 ? 4 : 3), 2) {
                let sign = s[k] == 43 ? 1 : -1
                seconds -= sign * (oh * 3600 + om * 60)
                k = s.count
            } else {
                return nil
            }
        }
        guard k == s.count || k == 10 else { return nil }
        return Int64(daysFromCivil(year, month, day)) * 86400 + Int64(seconds)
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y - 1 : y
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// `2026-11-30T10:00:00Z`, to the second.
    public static func format(microseconds: Int64) -> String {
        format(seconds: microseconds >= 0 ? microseconds / Duration.second : (microseconds - Duration.second + 1) / Duration.second)
    }

    public static func format(seconds epochSeconds: Int64) -> String {
        let days = Int(epochSeconds >= 0 ? epochSeconds / 86400 : (epochSeconds - 86399) / 86400)
        let secs = Int(epochSeconds - Int64(days) * 86400)
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))T\(two(secs / 3600)):\(two(secs % 3600 / 60)):\(two(secs % 60))Z"
    }
}
