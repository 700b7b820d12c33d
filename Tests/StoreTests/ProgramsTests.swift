import Foundation
import GRDB
import Testing
@testable import Store

/// Lines recorded before the store kept each line's programs (schema v12) are found by program
/// after the upgrade, as new ones are; what is not a command list is left alone.
struct ProgramsTests {
    @Test func linesFromBeforeTheUpgradeAreFoundByProgram() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-programs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("jitsh.db").path
        let old = try DatabaseQueue(path: path)
        try Database.migrator.migrate(old, upTo: "v12 one time unit: microseconds")
        try old.write { db in
            for (line, data) in [("rm -rf /tmp/x", #"{"commands":[{"argv":["rm","-rf","/tmp/x"]}]}"#),
                                 ("/usr/bin/rm a | sort", #"{"commands":[{"argv":["/usr/bin/rm","a"]},{"argv":["sort"]}]}"#),
                                 ("odd", #"{"commands":"rm"}"#), ("none", "{}"), ("broken", "not json")] {
                try db.execute(sql: "INSERT INTO audit_events (at, identity, host, kind, line, data) VALUES (1, 'alice', 'h', 'line', ?, ?)",
                               arguments: [line, data])
            }
        }
        try old.close()
        let store = try SQLiteStore(path: path)
        func lines(_ query: String) throws -> [String] {
            try store.auditEvents(matching: try AuditQuery([query], now: 0)).map(\.line)
        }
        #expect(try lines("command rm") == ["rm -rf /tmp/x", "/usr/bin/rm a | sort"])
        #expect(try lines("command sort") == ["/usr/bin/rm a | sort"])
        #expect(try lines("command /usr/bin/rm") == ["/usr/bin/rm a | sort"])
        try store.appendAudit([AuditEvent(at: 2, sessionID: nil, identity: "alice", host: "h", kind: .line, line: "/bin/rm new",
                                          data: #"{"commands":[{"argv":["/bin/rm","new"]}]}"#)])
        #expect(try lines("command rm") == ["rm -rf /tmp/x", "/usr/bin/rm a | sort", "/bin/rm new"])
        let kept = try DatabaseQueue(path: path).read { db in
            try String.fetchAll(db, sql: "SELECT program || ':' || event_id FROM audit_programs ORDER BY event_id, program")
        }
        #expect(kept == ["rm:1", "/usr/bin/rm:2", "rm:2", "sort:2", "/bin/rm:6", "rm:6"])
        #expect(throws: (any Error).self) { try DatabaseQueue(path: path).write { db in try db.execute(sql: "DELETE FROM audit_programs") } }
    }

    /// What the searches reviewers run most read: an index, never the whole table.
    @Test(arguments: [("command rm and user alice", "audit_programs"), ("decision deny and since '2 hours ago'", "audit_decision"),
                      ("user bob and kind line", "audit_identity")])
    func aSearchReadsAnIndex(_ query: String, _ index: String) throws {
        let t = try TemporaryStore()
        let q = try AuditQuery([query], now: 1_767_614_400 * second)
        let plan = try DatabaseQueue(path: t.path).read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT a.* FROM audit_events a WHERE \(q.sql) ORDER BY a.id DESC LIMIT 1000",
                             arguments: q.statementArguments).map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains(index) }, "\(plan)")
        #expect(!plan.contains("SCAN a"), "\(plan)")
    }
}
