import CSpawn
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts programs for the user: a new session, the job's terminal as controlling terminal, a
/// clean environment, and the jitsh group dropped before exec (C does the part after fork).
struct Spawner {
    struct Spec {
        var path: String
        var arguments: [String]
        var environment: [String: String]
        var directory: String?
        var stdin: Int32 = -1
        var stdout: Int32 = -1
        var stderr: Int32 = -1
        var controllingTerminal: Int32 = -1
        var extra: Int32 = -1
        var newSession = true
        var trace = false
        var landlock: Int32 = -1
    }

    struct SpawnError: Error, CustomStringConvertible {
        var errno: Int32
        var what: String
        var description: String { "cannot start \(what): \(String(cString: strerror(errno)))" }
    }

    /// The child's pid; with `trace`, also the descriptor that reports whether exec happened.
    static func spawn(_ spec: Spec) throws -> (pid: pid_t, pendingReport: Int32) {
        var cArgs = (spec.arguments.map { strdup($0) } + [nil])
        var cEnv = (spec.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil])
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var error: Int32 = 0
        var pending: Int32 = -1
        let pid: pid_t = spec.path.withCString { path in
            (spec.directory ?? "/").withCString { cwd in
                cArgs.withUnsafeMutableBufferPointer { argv in
                    cEnv.withUnsafeMutableBufferPointer { envp in
                        var s = jitsh_spawn_spec(path: path, argv: argv.baseAddress, envp: envp.baseAddress,
                                                 cwd: spec.directory == nil ? nil : cwd,
                                                 stdin_fd: spec.stdin, stdout_fd: spec.stdout, stderr_fd: spec.stderr,
                                                 ctty_fd: spec.controllingTerminal, extra_fd: spec.extra,
                                                 new_session: spec.newSession ? 1 : 0, trace: spec.trace ? 1 : 0,
                                                 landlock_fd: spec.landlock)
                        return jitsh_spawn(&s, &error, &pending)
                    }
                }
            }
        }
        guard pid > 0 else { throw SpawnError(errno: error, what: spec.path) }
        return (pid, pending)
    }
}
