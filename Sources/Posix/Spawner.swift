import CSpawn
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts programs for the user: a new session, the job's terminal as controlling terminal, a
/// clean environment, and the jitsh group dropped before exec (C does the part after fork).
public struct Spawner {
    public struct Spec {
        public var path: String
        public var arguments: [String]
        public var environment: [String: String]
        public var directory: String?
        public var stdin: Int32 = -1
        public var stdout: Int32 = -1
        public var stderr: Int32 = -1
        public var controllingTerminal: Int32 = -1
        public var extra: Int32 = -1
        /// Becomes descriptor 4: the script a job's bash sources.
        public var script: Int32 = -1
        public var newSession = true
        public var trace = false
        public var landlock: Int32 = -1

        public init(path: String, arguments: [String], environment: [String: String], directory: String? = nil, stdin: Int32 = -1,
                    stdout: Int32 = -1, stderr: Int32 = -1, controllingTerminal: Int32 = -1, extra: Int32 = -1) {
            self.path = path
            self.arguments = arguments
            self.environment = environment
            self.directory = directory
            self.stdin = stdin
            self.stdout = stdout
            self.stderr = stderr
            self.controllingTerminal = controllingTerminal
            self.extra = extra
        }
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public var errno: Int32
        public var what: String
        public var description: String { "cannot start \(what): \(String(cString: strerror(errno)))" }

        public init(errno: Int32, what: String) {
            self.errno = errno
            self.what = what
        }
    }

    /// The child's pid; with `trace`, also the descriptor that reports whether exec happened.
    public static func spawn(_ spec: Spec) throws -> (pid: pid_t, pendingReport: Int32) {
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
                                                 ctty_fd: spec.controllingTerminal, extra_fd: spec.extra, script_fd: spec.script,
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
