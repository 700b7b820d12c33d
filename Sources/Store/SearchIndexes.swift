import GRDB

/// `command rm` asked every line event's JSON for its argv. The programs each line ran are kept
/// beside it, as run (/bin/rm) and by name (rm): written by a trigger in the insert's own
/// statement (so no writer can forget them), append-only, and keyed for lookup by program.
extension SQLiteStore {
    /// The statements that add the programs of events `e` (from `source`, or the trigger's NEW):
    /// argv[0] of each command, and its name after the last `/`. Data that is not JSON has none
    /// (asked inside json_each's argument: SQLite may read the join before any WHERE).
    static func programRows(_ e: String, source: String = "") -> String {
        let argv0 = """
            SELECT json_extract(c.value, '$.argv[0]') AS p, \(e).id AS id FROM \(source)json_each(CASE WHEN json_valid(\(e).data) THEN \(e).data ELSE '{}' END, '$.commands') c
            WHERE json_type(CASE WHEN c.type = 'object' THEN c.value ELSE '{}' END, '$.argv[0]') = 'text'
            """
        return """
            INSERT OR IGNORE INTO audit_programs (program, event_id) SELECT p, id FROM (\(argv0));
            INSERT OR IGNORE INTO audit_programs (program, event_id)
                SELECT substr(p, length(rtrim(p, replace(p, '/', ''))) + 1), id FROM (\(argv0));
            """
    }

    static func registerPrograms(_ m: inout DatabaseMigrator) {
        m.registerMigration("v13 programs of each line, indexed") { db in
            try db.execute(sql: """
                CREATE TABLE audit_programs (
                    program TEXT NOT NULL,
                    event_id INTEGER NOT NULL,
                    PRIMARY KEY (program, event_id)
                ) WITHOUT ROWID;
                CREATE TRIGGER audit_programs_insert AFTER INSERT ON audit_events WHEN json_valid(NEW.data) BEGIN
                \(programRows("NEW"))
                END;
                """)
            try db.execute(sql: Database.appendOnlyTriggers("audit_programs"))
            // The events recorded before, in one pass.
            try db.execute(sql: programRows("e", source: "audit_events e, "))
        }
    }

    /// `decision deny and since "2 hours ago"` read the whole table newest first: no index led
    /// with the decision. With one, the window of denials is a range.
    static func registerDecisionIndex(_ m: inout DatabaseMigrator) {
        m.registerMigration("v14 audit decisions by time") { db in
            try db.execute(sql: "CREATE INDEX audit_decision ON audit_events(decision, at)")
        }
    }
}
