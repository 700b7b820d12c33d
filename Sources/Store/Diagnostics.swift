import Foundation
import GRDB

extension SQLiteStore {
    /// The time of the newest grant or audit event, in microseconds since the epoch (nil: none yet).
    /// `jitsh doctor` compares it with the clock: a clock behind the record breaks expiry.
    public func newestEventTime() throws -> Int64? {
        try database.read { db in
            let grants = try Int64.fetchOne(db, sql: "SELECT MAX(at) FROM grant_events")
            let audit = try Int64.fetchOne(db, sql: "SELECT MAX(at) FROM audit_events")
            return [grants, audit].compactMap { $0 }.max()
        }
    }
}
