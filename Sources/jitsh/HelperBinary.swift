import ArgumentParser
import Foundation
import Posix
import Session

/// The servers installed beside jitsh (jitsh-serve, jitsh-sync). jitsh execs them, so the setgid
/// binary started on every SSH connection links none of their libraries.
enum HelperBinary {
    /// `name`, in the directory this jitsh runs from.
    static func path(_ name: String) -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/usr/local/bin/jitsh"
        return (me as NSString).deletingLastPathComponent + "/" + name
    }

    /// The servers reach the store with jitsh's group: root may start them, and an account that
    /// holds the group itself; the setgid bit alone gives no one a server.
    static func requireOwnGroup(_ command: String, unit: String) throws {
        guard Privilege.isElevated && getuid() != 0 && !holdsOwnGroup(JitshGroup.gid) else { return }
        Console.error("jitsh \(command) runs as root or as an account in group jitsh (examples/systemd/\(unit)), not through the setgid bit")
        throw ExitCode(ExitStatus.error)
    }

    static func holdsOwnGroup(_ gid: gid_t) -> Bool {
        var groups = [gid_t](repeating: 0, count: 256)
        let n = getgroups(Int32(groups.count), &groups)
        return n > 0 && groups.prefix(Int(n)).contains(gid)
    }

    /// Replaces this process with `argv` (what runs has this process's own rights); one line
    /// and exit status 3 when it is missing or cannot start.
    static func exec(_ argv: [String]) throws -> Never {
        guard access(argv[0], X_OK) == 0 else {
            Console.error("\(argv[0]) is missing: install it beside jitsh (make install does)")
            throw ExitCode(ExitStatus.error)
        }
        let cArgs = argv.map { strdup($0) } + [nil]
        execv(argv[0], cArgs)
        Console.error("cannot start \(argv[0]): \(String(cString: strerror(errno)))")
        throw ExitCode(ExitStatus.error)
    }
}
