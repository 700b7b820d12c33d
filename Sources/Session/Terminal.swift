import CSpawn
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The user's terminal (sshd's pseudo-terminal behind jitsh's standard input and output).
final class UserTerminal {
    let input: Int32
    let output: Int32
    private var saved: termios?

    init(input: Int32 = 0, output: Int32 = 1) {
        self.input = input
        self.output = output
    }

    var isTerminal: Bool { isatty(input) == 1 && isatty(output) == 1 }

    /// Raw mode: every key reaches jitsh (Ctrl-C, Ctrl-Z too), nothing is echoed or translated.
    func enterRaw() {
        var t = termios()
        guard tcgetattr(input, &t) == 0 else { return }
        if saved == nil { saved = t }
        cfmakeraw(&t)
        tcsetattr(input, TCSANOW, &t)
    }

    func restore() {
        guard var t = saved else { return }
        tcsetattr(input, TCSANOW, &t)
    }

    func size() -> (rows: Int, cols: Int) {
        var rows: UInt16 = 0, cols: UInt16 = 0
        guard jitsh_get_winsize(output, &rows, &cols) == 0, rows > 0, cols > 0 else { return (24, 80) }
        return (Int(rows), Int(cols))
    }

    /// Takes what was typed but not yet read (keys typed while a job ran must not become a
    /// line); the caller records it, so it is dropped, not lost.
    func takeTypeAhead() -> [UInt8] {
        var taken: [UInt8] = []
        while taken.count < 1 << 20 {
            var p = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 0) > 0, p.revents & Int16(POLLIN) != 0, let bytes = readSome(input), !bytes.isEmpty else { break }
            taken += bytes
        }
        tcflush(input, TCIFLUSH)
        return taken
    }
}

/// Writes all of `bytes` to `fd`, waiting while the descriptor would block.
@discardableResult
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    // A reader that takes nothing for this long is gone for the writer's purposes: nothing may
    // hold the session forever (the relays buffer and poll instead of calling this).
    var stalledSince: Double?
    while offset < bytes.count {
        let n = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n > 0 { offset += n; stalledSince = nil; continue }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && errno == EAGAIN {
            let now = monotonicSeconds()
            if let since = stalledSince, now - since > 10 { return false }
            stalledSince = stalledSince ?? now
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, 1000)
            continue
        }
        return false
    }
    return true
}

/// Reads what is available now (up to `max`); nil at end of file or on error.
func readSome(_ fd: Int32, max: Int = 65536) -> [UInt8]? {
    while true {
        // Read straight into the array's storage: no zero-filling, no second copy (output relays at line rate).
        var result = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: max) { buffer, count in
            result = read(fd, buffer.baseAddress, max)
            count = Swift.max(0, result)
        }
        if result > 0 { return bytes }
        if result < 0 && errno == EINTR { continue }
        if result < 0 && errno == EAGAIN { return [] }
        return nil
    }
}

func setNonBlocking(_ fd: Int32) {
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
}

/// A pipe whose both ends close on exec.
func makePipe() -> (read: Int32, write: Int32)? {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { return nil }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return (fds[0], fds[1])
}
