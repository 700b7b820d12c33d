import ShellSyntax
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Built two ways: with `-D JITSH_FUZZ -sanitize=fuzzer` it is a libFuzzer target (make fuzz);
// otherwise it replays the files named on the command line, so a crash input can be rerun.
#if JITSH_FUZZ
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? ShellSyntax.extract(bytes, environment: ShellEnvironment(variables: ["HOME": "/home/u"], complete: true))
    return 0
}
#else
@main
struct Replay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let bytes = readFile(path) else { print("\(path): cannot read"); continue }
            let outcome: String
            do {
                let e = try ShellSyntax.extract(bytes)
                outcome = "\(e.commands.count) commands, \(e.risks.count) risks"
            } catch {
                outcome = "syntax error \(error)"
            }
            print("\(path): \(outcome)")
        }
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }
}
#endif
