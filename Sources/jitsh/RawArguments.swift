#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Command-line arguments as the exact bytes the kernel passed: Swift's `String` view repairs
/// invalid UTF-8, and a line must be checked as it will run, not as it was repaired.
enum RawArguments {
    static func bytes(matching argument: String) -> [UInt8] {
        for k in 1..<Int(CommandLine.argc) {
            guard let p = CommandLine.unsafeArgv[k] else { continue }
            let raw = Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
            if String(decoding: raw, as: UTF8.self) == argument { return raw }
        }
        return Array(argument.utf8)
    }

    /// Everything on standard input, for lines that hold newlines or arbitrary bytes.
    static func standardInput(limit: Int) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while out.count <= limit {
            let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }
}
