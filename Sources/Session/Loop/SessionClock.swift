import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Time as a session sees it, injected so its timers (grant warnings, expiry, chunk deadlines,
/// the confirmation timeout) are tested by moving a clock, not by sleeping. Microseconds.
protocol SessionClock: AnyObject {
    /// For timers: never jumps back when the wall clock is set.
    var monotonic: Int64 { get }
    /// For grants, recordings and audit events: microseconds since 1970.
    var wall: Int64 { get }
}

final class SystemClock: SessionClock, Sendable {
    static let shared = SystemClock()

    var monotonic: Int64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Int64(t.tv_sec) * 1_000_000 + Int64(t.tv_nsec) / 1000
    }

    var wall: Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }
}

/// A clock that moves only when told to (swift-nio's `EmbeddedEventLoop.advanceTime`).
final class ManualClock: SessionClock {
    private(set) var monotonic: Int64
    private(set) var wall: Int64

    init(wall: Int64 = 1_800_000_000_000_000) {
        self.wall = wall
        monotonic = 1_000_000
    }

    func advance(by microseconds: Int64) {
        monotonic += microseconds
        wall += microseconds
    }
}
