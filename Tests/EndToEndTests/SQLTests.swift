import Foundation
import Testing
import TestSupport

/// A private PostgreSQL 15, owned by the test user, on a socket in a temporary directory.
final class PrivatePostgres {
    static let bin = "/usr/lib/postgresql/15/bin"
    let dir: String
    let port: Int

    init() throws {
        dir = "/tmp/jitsh-pg-\(UUID().uuidString.prefix(8))"
        port = try Loopback.freePort()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Harness.run("/bin/chown", [Harness.user, dir])
        try PrivatePostgres.asUser("\(PrivatePostgres.bin)/initdb", ["-D", dir + "/data", "-A", "trust", "-U", Harness.user])
        try PrivatePostgres.asUser("\(PrivatePostgres.bin)/pg_ctl", ["-D", dir + "/data", "-l", dir + "/log", "-w", "-o",
                                                                    "-k \(dir) -p \(port) -c listen_addresses=", "start"])
    }

    /// Runs a server program as the test user; its output goes to a file, because the server it
    /// starts would hold a pipe open past the program's end.
    /// (posix_spawn and waitpid: Foundation's Process did not see the end of a runuser whose grandchild stays.)
    static func asUser(_ path: String, _ arguments: [String]) throws {
        let quoted = ([path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let argv = ["/usr/sbin/runuser", "-u", Harness.user, "--", "/bin/sh", "-c", quoted + " >/dev/null 2>&1 </dev/null"]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        // The server must not inherit this process's descriptors: a build lock among them would
        // stay held by a server that outlived a killed test run.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
        for fd in open where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        var pid: pid_t = 0
        guard posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ) == 0 else { throw Harness.Failure(description: "cannot run \(path)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else { throw Harness.Failure(description: "\(path) \(arguments.joined(separator: " ")) exited with status \(status)") }
    }

    /// The connection options a line uses.
    var options: String { "-h \(dir) -p \(port) -d postgres -X" }

    /// Runs SQL as the owner, outside jitsh: what the tests check with.
    func query(_ sql: String) throws -> String {
        try Harness.run("\(PrivatePostgres.bin)/psql", ["-h", dir, "-p", String(port), "-U", Harness.user, "-d", "postgres", "-X", "-tAc", sql])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop() {
        _ = try? PrivatePostgres.asUser("\(PrivatePostgres.bin)/pg_ctl", ["-D", dir + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: dir)
    }
}

extension SessionTests {
    /// Every spelling of a destructive statement asks first; nothing is dropped before the phrase.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: PrivatePostgres.bin + "/postgres")))
    func destructiveSQLIsConfirmedHoweverItIsSpelled() throws {
        let pg = try PrivatePostgres()
        defer { pg.stop() }
        _ = try pg.query("create table t (id int); insert into t values (1), (2)")
        try h.grant(role: "dba")
        let (client, c) = try shell()
        _ = client
        for line in ["psql \(pg.options) -c $'DROP\\tTABLE t'", "psql \(pg.options) -c 'DROP/**/TABLE t'",
                     "psql \(pg.options) -c 'DELETE  FROM t'", "psql \(pg.options) <<< 'DROP TABLE t'",
                     "psql \(pg.options) -c 'select 1; drop table t'"] {
            let shown = type(c, line, expect: SessionTests.phrasePrompt)
            #expect(shown.contains("destructive SQL needs confirmation"), "\(line): \(shown)")
            #expect(shown.contains("Type the host name \"e2e-host\""), "\(line): \(shown)")
            #expect(answer(c, "no").contains("nothing ran"), "\(line)")
            #expect(try pg.query("select count(*) from t") == "2", "\(line) changed the table")
        }
        let allowed = type(c, "psql \(pg.options) -tAc 'select count(*) from t'")
        #expect(allowed.contains("2"), "Debian's psql runs in the dba role: \(allowed)")
        let confirmed = type(c, "psql \(pg.options) -c 'DELETE  FROM t'", expect: SessionTests.phrasePrompt)
        #expect(confirmed.contains("needs confirmation"))
        let ran = answer(c, "e2e-host")
        #expect(try pg.query("select count(*) from t") == "0", "\(ran)")
        let written = type(c, "psql \(pg.options) -c '\\o /etc/jitsh-e2e-sql'")
        #expect(written.contains("denied") && !FileManager.default.fileExists(atPath: "/etc/jitsh-e2e-sql"), "\(written)")
        c.write("exit\r")
        c.drain(timeout: 5)

        // SQL on exec-mode stdin cannot be seen before it runs: refused.
        let piped = try h.connect().exec("psql \(pg.options)", input: "DROP TABLE t;\n")
        #expect(piped.exitStatus == 126, "\(piped.text) \(piped.errorText)")
        #expect(piped.errorText.contains("cannot see before it runs"), "\(piped.errorText)")
        #expect(try pg.query("select count(*) from pg_tables where tablename = 't'") == "1")
    }
}
