#if canImport(Glibc)
import Glibc
#endif

/// System calls on descriptors and time, errno kept for the caller. A session's event loop
/// (Session/Loop) is the one place it waits; `Posix.ready` is for the short, bounded waits of a
/// blocking write to a slow reader and of the replay's key reads.
public enum Posix {
    /// Whether `fd` is ready for `events` within `milliseconds` (0: now, without waiting).
    public static func ready(_ fd: Int32, _ events: Int32, milliseconds: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(events), revents: 0)
        return poll(&p, 1, milliseconds) > 0 && p.revents & Int16(events | POLLHUP | POLLERR) != 0
    }

    /// Waits for any of `fds`, at most `milliseconds` (-1: no limit).
    public static func wait(_ fds: inout [pollfd], milliseconds: Int32) -> Int32 {
        poll(&fds, nfds_t(fds.count), milliseconds)
    }
}

/// Writes all of `bytes` to `fd`, waiting while the descriptor would block.
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
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
            _ = Posix.ready(fd, POLLOUT, milliseconds: 1000)
            continue
        }
        return false
    }
    return true
}

/// Reads what is available now (up to `max`); nil at end of file or on error.
public func readSome(_ fd: Int32, max: Int = 65536) -> [UInt8]? {
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

public func setNonBlocking(_ fd: Int32) {
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
}

/// A pipe whose both ends close on exec.
public func makePipe() -> (read: Int32, write: Int32)? {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { return nil }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return (fds[0], fds[1])
}

public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
