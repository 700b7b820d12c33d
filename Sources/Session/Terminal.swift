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

    /// Drops what was typed but not yet read (keys typed while a job ran must not become a line).
    func discardTypeAhead() {
        tcflush(input, TCIFLUSH)
    }
}

/// Writes all of `bytes` to `fd`, waiting while the descriptor would block.
@discardableResult
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n > 0 { offset += n; continue }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && errno == EAGAIN {
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
