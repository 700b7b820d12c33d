import Foundation

/// A helper process a test starts and leaves running (a sync service, a relay, a session), its
/// standard output and error in one file the test reads, nothing on its standard input.
public enum LoggedProcess {
    public static func start(_ argv: [String], log: String, environment: [String: String]? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        if let environment { p.environment = environment }
        FileManager.default.createFile(atPath: log, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: log)
        p.standardError = FileHandle(forWritingAtPath: log)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }
}
