import CSpawn
import Foundation
import Posix
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
            guard Posix.ready(input, POLLIN, milliseconds: 0), let bytes = readSome(input), !bytes.isEmpty else { break }
            taken += bytes
        }
        tcflush(input, TCIFLUSH)
        return taken
    }
}
