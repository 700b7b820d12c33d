import CLibssh
import Foundation

/// A real SSH client (libssh): connects to the test sshd, authenticates with a key, and opens
/// exec or shell channels with a pseudo-terminal, as a person's ssh would.
final class SSHClient {
    struct Failure: Error, CustomStringConvertible { var description: String }

    let session: ssh_session

    init(port: Int, user: String, keyFile: String) throws {
        guard let s = ssh_new() else { throw Failure(description: "ssh_new failed") }
        session = s
        var p = UInt32(port)
        var verbosity: Int32 = 0
        var strict: Int32 = 0
        ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1")
        ssh_options_set(s, SSH_OPTIONS_PORT, &p)
        ssh_options_set(s, SSH_OPTIONS_USER, user)
        ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity)
        ssh_options_set(s, SSH_OPTIONS_STRICTHOSTKEYCHECK, &strict)
        ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null")
        ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &strict)
        guard ssh_connect(s) == SSH_OK else { throw Failure(description: "connect: \(String(cString: ssh_get_error(UnsafeMutableRawPointer(s))))") }
        var key: ssh_key?
        guard ssh_pki_import_privkey_file(keyFile, nil, nil, nil, &key) == SSH_OK, let key else {
            throw Failure(description: "cannot read the client key \(keyFile)")
        }
        defer { ssh_key_free(key) }
        guard ssh_userauth_publickey(s, nil, key) == SSH_AUTH_SUCCESS.rawValue else {
            throw Failure(description: "authentication failed: \(String(cString: ssh_get_error(UnsafeMutableRawPointer(s))))")
        }
    }

    deinit {
        ssh_disconnect(session)
        ssh_free(session)
    }

    func channel() throws -> Channel {
        guard let c = ssh_channel_new(session), ssh_channel_open_session(c) == SSH_OK else {
            throw Failure(description: "cannot open a channel")
        }
        return Channel(c, client: self)
    }

    /// `ssh host 'command'`, optionally with a terminal (`ssh -t`) and input.
    func exec(_ command: String, terminal: Bool = false, input: String? = nil, timeout: Double = 20) throws -> Channel {
        try exec(command, terminal: terminal, bytes: input.map { Array($0.utf8) }, timeout: timeout)
    }

    /// `ssh host 'command' < file`: `bytes` as the command's standard input, then end of input.
    func exec(_ command: String, terminal: Bool = false, bytes input: [UInt8]?, timeout: Double = 20) throws -> Channel {
        let c = try channel()
        if terminal { try c.requestTerminal(rows: 24, cols: 80) }
        guard ssh_channel_request_exec(c.channel, command) == SSH_OK else { throw Failure(description: "exec request refused") }
        if let input { c.write(input) }
        if input != nil || !terminal { ssh_channel_send_eof(c.channel) }
        c.drain(timeout: timeout)
        return c
    }

    /// `ssh -t host`: an interactive shell on a terminal of the given size.
    func shell(rows: Int = 24, cols: Int = 80) throws -> Channel {
        let c = try channel()
        try c.requestTerminal(rows: rows, cols: cols)
        guard ssh_channel_request_shell(c.channel) == SSH_OK else { throw Failure(description: "shell request refused") }
        return c
    }
}

final class Channel {
    let channel: ssh_channel
    /// Keeps the connection alive as long as the channel: libssh frees channels with their session.
    let client: SSHClient
    /// Everything received on standard output, in order.
    private(set) var output: [UInt8] = []
    private(set) var errors: [UInt8] = []

    init(_ c: ssh_channel, client: SSHClient) {
        channel = c
        self.client = client
    }

    deinit {
        ssh_channel_close(channel)
        ssh_channel_free(channel)
    }

    func requestTerminal(rows: Int, cols: Int) throws {
        guard ssh_channel_request_pty_size(channel, "xterm", Int32(cols), Int32(rows)) == SSH_OK else {
            throw SSHClient.Failure(description: "pty request refused")
        }
    }

    func write(_ text: String) { write(Array(text.utf8)) }

    func write(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBufferPointer { ssh_channel_write(channel, $0.baseAddress, UInt32($0.count)) }
    }

    func resize(rows: Int, cols: Int) { ssh_channel_change_pty_size(channel, Int32(cols), Int32(rows)) }

    var text: String { String(decoding: output, as: UTF8.self) }
    var errorText: String { String(decoding: errors, as: UTF8.self) }
    var isClosed: Bool { ssh_channel_is_eof(channel) != 0 || ssh_channel_is_closed(channel) != 0 }
    var exitStatus: Int { Int(ssh_channel_get_exit_status(channel)) }

    /// Reads what arrives within `milliseconds`.
    @discardableResult
    func pump(_ milliseconds: Int32 = 100) -> Int {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var total = 0
        for stream: Int32 in [0, 1] {
            let n = buffer.withUnsafeMutableBufferPointer {
                ssh_channel_read_timeout(channel, $0.baseAddress, UInt32($0.count), stream, stream == 0 ? milliseconds : 1)
            }
            if n > 0 {
                if stream == 0 { output += buffer.prefix(Int(n)) } else { errors += buffer.prefix(Int(n)) }
                total += Int(n)
            }
        }
        return total
    }

    /// Reads until `needle` appears in the output after `from` (or the time runs out).
    @discardableResult
    func wait(for needle: String, from: Int = 0, timeout: Double = 10) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if String(decoding: output.dropFirst(from), as: UTF8.self).contains(needle) { return true }
            if isClosed && pump(10) == 0 { return String(decoding: output.dropFirst(from), as: UTF8.self).contains(needle) }
            pump(50)
        }
        return false
    }

    /// Reads until the channel ends.
    func drain(timeout: Double) {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            pump(100)
            if isClosed {
                while pump(20) > 0 {}
                return
            }
        }
    }
}
