import Foundation
import Posix
import ShellSyntax
import Store
#if canImport(Glibc)
import Glibc
#endif

/// Plays a recording back in the terminal with its original timing (tlog-play and `tsh play`
/// style): space pauses, + and - change the speed, `.` steps while paused, n skips to the next
/// command, q quits. With `follow`, a live session is watched as it is recorded.
///
/// The recording is the reviewed person's bytes: they reach the reviewer's terminal only through
/// `TerminalFilter` (no clipboard writes, titles or requests the terminal would answer), and
/// what was left out is said on standard error at the end. Exec mode's standard input is shown
/// as text, between markers.
public struct Replay {
    public var speed = 1.0
    /// Pauses longer than this (seconds) are cut to it.
    public var idleLimit: Double?
    /// Start this many seconds in (everything before is shown at once).
    public var from: Double = 0
    /// Start at the Nth decided line (1-based), as `sessions show` numbers them.
    public var fromEvent: Int?
    public var follow = false
    public var output: Int32 = 1
    public var input: Int32 = 0
    /// Where the note on left-out sequences goes.
    public var notes: Int32 = 2

    public init() {}

    public func run(_ store: any RecordingSink, session id: String) throws -> Int32 {
        let keys = isatty(input) == 1
        var saved = termios()
        if keys {
            tcgetattr(input, &saved)
            var raw = saved
            cfmakeraw(&raw)
            raw.c_oflag |= tcflag_t(OPOST | ONLCR)
            tcsetattr(input, TCSANOW, &raw)
        }
        defer { if keys { tcsetattr(input, TCSANOW, &saved) } }
        var filter = TerminalFilter()
        var inInput = false
        defer {
            _ = filter.finish()
            if let summary = filter.summary { writeAll(notes, Array("\r\njitsh: replay \(summary)\r\n".utf8)) }
        }
        var speed = self.speed
        var paused = false
        var skipToCommand = false
        var lastSeq: Int64 = -1
        var lastOffset: UInt64?
        var decided = 0
        var startAt = from
        while true {
            let chunks = try store.chunks(session: id, after: lastSeq)
            for chunk in chunks {
                lastSeq = chunk.seq
                for frame in chunk.decodedFrames() ?? [] {
                    let at = Double(frame.offset) / 1_000_000
                    if frame.kind == .marker, Transcript.markerLabel(frame.data).hasPrefix("decided") {
                        decided += 1
                        if let n = fromEvent, decided == n { startAt = at }
                        if skipToCommand { skipToCommand = false; lastOffset = frame.offset }
                    }
                    let catchingUp = at < startAt || (fromEvent.map { decided < $0 } ?? false) || skipToCommand
                    if !catchingUp, let previous = lastOffset {
                        var wait = Double(frame.offset &- min(previous, frame.offset)) / 1_000_000
                        if let limit = idleLimit { wait = min(wait, limit) }
                        var remaining = wait / speed
                        var stepping = false
                        while (remaining > 0.0005 || paused) && !stepping && !skipToCommand {
                            let started = monotonic()
                            switch key(timeout: paused ? 1.0 : min(remaining, 0.2), enabled: keys) {
                            case UInt8(ascii: "q"), 0x03: return 0
                            case UInt8(ascii: " "): paused.toggle()
                            case UInt8(ascii: "+"), UInt8(ascii: "="): speed = min(speed * 2, 1024)
                            case UInt8(ascii: "-"): speed = max(speed / 2, 1.0 / 64)
                            case UInt8(ascii: "."): stepping = paused
                            case UInt8(ascii: "n"): skipToCommand = true; paused = false
                            default: break
                            }
                            if !paused { remaining -= monotonic() - started }
                        }
                    }
                    lastOffset = frame.offset
                    if frame.kind == .output || frame.kind == .stderr {
                        if inInput { writeOut(Array("\r\n── end of standard input ──\r\n".utf8)); inInput = false }
                        writeOut(filter.feed(frame.data))
                    } else if frame.kind == .stdin {
                        if !inInput { writeOut(Array("── standard input ──\r\n".utf8)); inInput = true }
                        let text = Visible.lines(String(decoding: frame.data, as: UTF8.self))
                        writeOut(Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8))
                    }
                }
            }
            if try store.sessionEnd(id) != nil && (try store.chunks(session: id, after: lastSeq)).isEmpty { return 0 }
            guard follow else { return 0 }
            if key(timeout: 0.25, enabled: keys) == UInt8(ascii: "q") { return 0 }
        }
    }

    private func writeOut(_ bytes: [UInt8]) {
        var rest = bytes[...]
        while !rest.isEmpty {
            let n = rest.withUnsafeBytes { write(output, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR || errno == EAGAIN { continue }; return }
            rest = rest.dropFirst(n)
        }
    }

    private func key(timeout: Double, enabled: Bool) -> UInt8? {
        guard enabled else {
            if timeout > 0 { usleep(useconds_t(timeout * 1_000_000)) }
            return nil
        }
        guard Posix.ready(input, POLLIN, milliseconds: Int32(timeout * 1000)) else { return nil }
        var b: UInt8 = 0
        return read(input, &b, 1) == 1 ? b : nil
    }

    private func monotonic() -> Double { monotonicSeconds() }
}
