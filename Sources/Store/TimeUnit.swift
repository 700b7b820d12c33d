import GRDB

/// One time unit in the store: microseconds, for instants since the epoch and lengths alike.
/// Sessions, chunks and audit events always were; grants, their events, locks, the outbox,
/// tombstones and review tokens counted seconds until SQLite schema v12 and PostgreSQL's
/// version 7, which move them.
public enum TimeUnit {
    /// The columns that counted seconds, by table, and whether the table is append-only.
    public static let secondColumns: [(table: String, columns: [String], appendOnly: Bool)] = [
        ("grants", ["requested_at", "starts_at", "duration", "max_duration", "pending_ttl"], true),
        ("grant_events", ["at", "seconds"], true),
        ("locks", ["at", "until"], true),
        ("lock_removals", ["at"], true),
        ("tombstones", ["pruned_at"], true),
        ("outbox", ["created_at", "next_attempt_at", "delivered_at"], false),
        ("review_tokens", ["issued_at", "expires_at", "used_at"], false),
    ]

    /// The UPDATE that moves `columns` of `table` to microseconds. A value past 10¹¹ is one
    /// already (an audit alert's outbox row was stamped with its event's microseconds); no time
    /// or length in seconds comes near it (10¹¹ s is the year 5138).
    public static func update(_ table: String, _ columns: [String]) -> String {
        "UPDATE \(table) SET " + columns.map { "\($0) = CASE WHEN \($0) < 100000000000 THEN \($0) * 1000000 ELSE \($0) END" }
            .joined(separator: ", ")
    }
}

extension SQLiteStore {
    /// Append-only tables refuse UPDATE by trigger, the owner included; the migration runs once,
    /// in the transaction that records it, lifts each table's triggers for its own UPDATE and
    /// puts them back, so no other writer ever sees the table changeable.
    static func registerMicroseconds(_ m: inout DatabaseMigrator) {
        m.registerMigration("v12 one time unit: microseconds") { db in
            for (table, columns, appendOnly) in TimeUnit.secondColumns {
                if appendOnly {
                    try db.execute(sql: "DROP TRIGGER \(table)_append_only_update; DROP TRIGGER \(table)_append_only_delete")
                }
                try db.execute(sql: TimeUnit.update(table, columns))
                if appendOnly { try db.execute(sql: Database.appendOnlyTriggers(table)) }
            }
            // An extension's length is no longer in seconds: the column says what it holds.
            try db.execute(sql: "ALTER TABLE grant_events RENAME COLUMN seconds TO extra")
        }
    }
}
