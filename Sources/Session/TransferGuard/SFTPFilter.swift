/// Reads the SFTP requests a client sends to sftp-server and refuses, on the server's behalf,
/// those that would change a file that must not change (login files): the request is answered
/// with SSH_FX_PERMISSION_DENIED and never reaches the server. Everything else passes as is.
/// Pure: bytes in, bytes for the server and replies for the client out.
struct SFTPFilter {
    /// Why a path may not be changed, or nil; called with the path as the client sent it, and
    /// whether a directory above a protected file counts too (a rename or link onto it would
    /// put another tree in its place).
    let forbidden: (_ path: String, _ ancestors: Bool) -> String?
    private var buffer: [UInt8] = []
    /// Requests refused so far: (request, path, why).
    private(set) var refused: [(request: String, path: String, why: String)] = []
    /// The stream could not be read as SFTP (a packet longer than any real one).
    private(set) var broken = false

    static let maximumPacket = 1 << 20

    init(forbidden: @escaping (_ path: String, _ ancestors: Bool) -> String?) { self.forbidden = forbidden }

    /// Takes bytes from the client: what to pass to the server, and what to answer the client.
    mutating func feed(_ bytes: [UInt8]) -> (toServer: [UInt8], toClient: [UInt8]) {
        guard !broken else { return ([], []) }
        buffer += bytes
        var toServer: [UInt8] = [], toClient: [UInt8] = []
        var start = 0
        while buffer.count - start >= 4 {
            let length = Int(SFTPFilter.u32(buffer, start))
            guard length >= 1, length <= SFTPFilter.maximumPacket else {
                broken = true
                buffer = []
                return (toServer, toClient)
            }
            guard buffer.count - start >= 4 + length else { break }
            let packet = Array(buffer[start + 4 ..< start + 4 + length])
            if let (id, request, path, why) = check(packet) {
                refused.append((request, path, why))
                toClient += SFTPFilter.status(id: id, code: 3, message: "jitsh: \(path): \(why)")
            } else {
                toServer += buffer[start ..< start + 4 + length]
            }
            start += 4 + length
        }
        buffer.removeFirst(start)
        return (toServer, toClient)
    }

    // SSH_FXP_* request types that change files, and their path arguments.
    static let open: UInt8 = 3, setstat: UInt8 = 9, remove: UInt8 = 13, mkdir: UInt8 = 14, rmdir: UInt8 = 15, rename: UInt8 = 18
    static let symlink: UInt8 = 20, extended: UInt8 = 200
    // SSH_FXF_WRITE | APPEND | CREAT | TRUNC
    static let writingFlags: UInt32 = 0x02 | 0x04 | 0x08 | 0x10

    private func check(_ p: [UInt8]) -> (UInt32, String, String, String)? {
        guard p.count >= 5 else { return nil }
        let type = p[0]
        let id = SFTPFilter.u32(p, 1)
        var reader = Reader(bytes: p, at: 5)
        var paths: [String] = []
        var name = ""
        var ancestors = false
        switch type {
        case SFTPFilter.open:
            guard let path = reader.string(), let flags = reader.u32() else { return nil }
            guard flags & SFTPFilter.writingFlags != 0 else { return nil }
            name = "open for writing"
            paths = [path]
        case SFTPFilter.setstat, SFTPFilter.remove, SFTPFilter.mkdir, SFTPFilter.rmdir:
            guard let path = reader.string() else { return nil }
            name = [9: "setstat", 13: "remove", 14: "mkdir", 15: "rmdir"][type] ?? "request"
            paths = [path]
        case SFTPFilter.rename, SFTPFilter.symlink:
            // OpenSSH's SYMLINK sends its two paths in the other order than the draft: check both.
            guard let a = reader.string(), let b = reader.string() else { return nil }
            name = type == SFTPFilter.rename ? "rename" : "symlink"
            paths = [a, b]
            ancestors = true
        case SFTPFilter.extended:
            guard let request = reader.string() else { return nil }
            switch request {
            case "posix-rename@openssh.com", "hardlink@openssh.com":
                guard let a = reader.string(), let b = reader.string() else { return nil }
                paths = [a, b]
                ancestors = true
            case "lsetstat@openssh.com":
                guard let a = reader.string() else { return nil }
                paths = [a]
            default:
                return nil
            }
            name = request
        default:
            return nil
        }
        for path in paths {
            if let why = forbidden(path, ancestors) { return (id, name, path, why) }
        }
        return nil
    }

    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    /// SSH_FXP_STATUS: id, code, message, language.
    static func status(id: UInt32, code: UInt32, message: String) -> [UInt8] {
        let text = Array(message.utf8)
        let body: [UInt8] = [101] + be32(id) + be32(code) + be32(UInt32(text.count)) + text + be32(0)
        return be32(UInt32(body.count)) + body
    }

    struct Reader {
        var bytes: [UInt8]
        var at: Int

        mutating func u32() -> UInt32? {
            guard at + 4 <= bytes.count else { return nil }
            defer { at += 4 }
            return SFTPFilter.u32(bytes, at)
        }

        mutating func string() -> String? {
            guard let n = u32(), at + Int(n) <= bytes.count else { return nil }
            defer { at += Int(n) }
            return String(decoding: bytes[at ..< at + Int(n)], as: UTF8.self)
        }
    }
}

/// Splits a stream of SFTP packets (the server's answers) so that only whole packets are passed
/// on: the filter's own answers can then go between two of them.
struct SFTPFramer {
    private var buffer: [UInt8] = []

    mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
        buffer += bytes
        var end = 0
        while buffer.count - end >= 4 {
            let length = Int(SFTPFilter.u32(buffer, end))
            guard buffer.count - end >= 4 + length else { break }
            end += 4 + length
        }
        defer { buffer.removeFirst(end) }
        return Array(buffer[..<end])
    }

    /// Bytes of an unfinished packet, passed on as they are when the server ends.
    mutating func rest() -> [UInt8] {
        defer { buffer = [] }
        return buffer
    }
}
