// Time windows (`Mon-Fri 09:00-18:00 Europe/Berlin`, `Fri 16:00-Mon 08:00 Europe/Berlin`).
// The policy takes no clock: the instant comes in as a value, and turning it into local time
// is the job of a resolver the caller provides (the executable's reads the zone database).

public struct LocalTime: Sendable, Equatable {
    /// 0 = Monday … 6 = Sunday.
    public var weekday: Int
    /// Minutes since local midnight.
    public var minute: Int

    public init(weekday: Int, minute: Int) {
        self.weekday = weekday
        self.minute = minute
    }

    var minuteOfWeek: Int { weekday * 1440 + minute }
}

public protocol TimeZoneResolver: Sendable {
    /// Local time of `epochSeconds` in the IANA zone `zone`; nil for an unknown zone.
    func localTime(epochSeconds: Int64, zone: String) -> LocalTime?
}

/// Zones as fixed offsets from UTC: UTC itself, and what tests need.
public struct FixedOffsetZones: TimeZoneResolver {
    public var offsetsInMinutes: [String: Int]

    public init(_ offsetsInMinutes: [String: Int] = [:]) {
        var all = ["UTC": 0, "Etc/UTC": 0, "GMT": 0]
        for (k, v) in offsetsInMinutes { all[k] = v }
        self.offsetsInMinutes = all
    }

    public func localTime(epochSeconds: Int64, zone: String) -> LocalTime? {
        guard let offset = offsetsInMinutes[zone] else { return nil }
        let minutes = epochSeconds / 60 + Int64(offset)
        // 1970-01-01 was a Thursday (weekday 3 when Monday is 0).
        let days = minutes >= 0 ? minutes / 1440 : (minutes - 1439) / 1440
        let weekday = Int(((days + 3) % 7 + 7) % 7)
        let minute = Int(((minutes % 1440) + 1440) % 1440)
        return LocalTime(weekday: weekday, minute: minute)
    }
}

public struct TimeWindow: Sendable, CustomStringConvertible {
    public let text: String
    public let zone: String
    /// Minutes of the week, start inclusive, end exclusive; an end past the week wraps to Monday.
    let intervals: [(start: Int, end: Int)]

    public var description: String { text }

    static let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    static let week = 7 * 1440

    public struct FormatError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) throws(FormatError) {
        self.text = text
        var tokens = text.split(separator: " ").map(String.init)
        func fail(_ why: String) -> FormatError {
            FormatError(description: "time window `\(text)`: \(why) (write `Mon-Fri 09:00-18:00 Europe/Berlin` or `Fri 16:00-Mon 08:00 UTC`)")
        }
        guard tokens.count >= 2 else { throw fail("too short") }
        var zone = "UTC"
        if let last = tokens.last, last.contains("/") || last == "UTC" || last == "GMT" {
            zone = last
            tokens.removeLast()
        }
        self.zone = zone
        if tokens.count == 3 {
            // Fri 16:00-Mon 08:00: one span across days.
            let middle = tokens[1].split(separator: "-", maxSplits: 1).map(String.init)
            guard middle.count == 2, let d1 = TimeWindow.day(tokens[0]), let d2 = TimeWindow.day(middle[1]),
                  let s = TimeWindow.clock(middle[0]), let e = TimeWindow.clock(tokens[2]) else { throw fail("cannot read it") }
            let start = d1 * 1440 + s
            var end = d2 * 1440 + e
            if end <= start { end += TimeWindow.week }
            intervals = [(start, end)]
            return
        }
        guard tokens.count == 2 else { throw fail("cannot read it") }
        var days: [Int] = []
        if tokens[0] == "*" || tokens[0].lowercased() == "daily" {
            days = Array(0..<7)
        } else {
            for item in tokens[0].split(separator: ",") {
                let ends = item.split(separator: "-").map(String.init)
                guard let a = ends.first.flatMap(TimeWindow.day), let b = ends.last.flatMap(TimeWindow.day), ends.count <= 2 else {
                    throw fail("`\(item)` is not a day or a range of days")
                }
                var d = a
                days.append(d)
                while d != b { d = (d + 1) % 7; days.append(d) }
            }
        }
        let clocks = tokens[1].split(separator: "-").map(String.init)
        guard clocks.count == 2, let s = TimeWindow.clock(clocks[0]), let e = TimeWindow.clock(clocks[1]) else {
            throw fail("`\(tokens[1])` is not HH:MM-HH:MM")
        }
        intervals = days.map { d in
            let start = d * 1440 + s
            return (start, start + (e > s ? e - s : e + 1440 - s))
        }
    }

    static func day(_ s: String) -> Int? {
        days.firstIndex(of: String(s.lowercased().prefix(3)))
    }

    static func clock(_ s: String) -> Int? {
        let parts = s.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0...24).contains(h), (0..<60).contains(m),
              h * 60 + m <= 1440 else { return nil }
        return h * 60 + m
    }

    public func contains(_ t: LocalTime) -> Bool {
        let m = t.minuteOfWeek
        return intervals.contains { (m >= $0.start && m < $0.end) || (m + TimeWindow.week >= $0.start && m + TimeWindow.week < $0.end) }
    }

    /// nil when the zone is unknown to the resolver.
    public func contains(epochSeconds: Int64, zones: TimeZoneResolver) -> Bool? {
        zones.localTime(epochSeconds: epochSeconds, zone: zone).map(contains)
    }
}

/// `when: {not: [...]}` and `when: {only: [...]}`.
public struct TimeCondition: Sendable {
    public var only: [TimeWindow]
    public var not: [TimeWindow]

    /// nil when a window's zone is unknown, so the caller can fail closed.
    public func holds(epochSeconds: Int64, zones: TimeZoneResolver) -> Bool? {
        for w in not {
            guard let inside = w.contains(epochSeconds: epochSeconds, zones: zones) else { return nil }
            if inside { return false }
        }
        if only.isEmpty { return true }
        var any = false
        for w in only {
            guard let inside = w.contains(epochSeconds: epochSeconds, zones: zones) else { return nil }
            any = any || inside
        }
        return any
    }

    public var description: String {
        var parts: [String] = []
        if !only.isEmpty { parts.append("only " + only.map(\.text).joined(separator: ", ")) }
        if !not.isEmpty { parts.append("not " + not.map(\.text).joined(separator: ", ")) }
        return parts.joined(separator: "; ")
    }
}

/// Durations as people write them: `90s`, `30m`, `2h`, `1h30m`, `7d`. Policies speak in seconds;
/// every time jitsh keeps or compares (grants, locks, sessions, audit, outbox) is in microseconds,
/// instants since the epoch and lengths alike, so a policy's length becomes one at the edge.
public enum Duration {
    /// Microseconds in a second.
    public static let second: Int64 = 1_000_000

    public static func microseconds(seconds: Int) -> Int64 { Int64(seconds) * second }

    /// A length in microseconds as people read it, to the second (`1h30m`, `0s`).
    public static func describe(microseconds: Int64) -> String { describe(Int(microseconds / second)) }

    public static func seconds(_ text: String) -> Int? {
        var total = 0
        var number = 0
        var sawDigit = false
        for c in text {
            if let d = c.wholeNumberValue {
                number = number * 10 + d
                sawDigit = true
                if number > 100_000_000 { return nil }
                continue
            }
            guard sawDigit else { return nil }
            switch c {
            case "s": total += number
            case "m": total += number * 60
            case "h": total += number * 3600
            case "d": total += number * 86400
            case "w": total += number * 7 * 86400
            default: return nil
            }
            number = 0
            sawDigit = false
        }
        guard !sawDigit, total > 0 else { return nil }
        return total
    }

    public static func describe(_ seconds: Int) -> String {
        if seconds % 86400 == 0 { return "\(seconds / 86400)d" }
        var out = ""
        if seconds >= 3600 { out += "\(seconds / 3600)h" }
        if seconds % 3600 >= 60 { out += "\(seconds % 3600 / 60)m" }
        if seconds % 60 != 0 || out.isEmpty { out += "\(seconds % 60)s" }
        return out
    }
}
