import Foundation
import GRDB
import Policy

/// How the parts of a grant that are not plain columns are kept, the same in every back end:
/// the approval rule as JSON ('' for none), an approver's groups as a JSON list.
extension ApprovalRule {
    public var stored: String {
        (try? JSONEncoder().encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    public static func stored(_ text: String) -> ApprovalRule? {
        text.isEmpty ? nil : try? JSONDecoder().decode(ApprovalRule.self, from: Data(text.utf8))
    }
}

extension GrantEvent {
    public var storedGroups: String {
        groups.isEmpty ? "" : (try? JSONEncoder().encode(groups)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    public static func groups(_ text: String) -> [String] {
        text.isEmpty ? [] : (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
    }
}

extension Notification {
    /// The notification of a stored grant: its id in the fields, and in the text where a request's
    /// notification (written before the id existed) says `{grant}`.
    public func addressed(to grant: Int64?) -> Notification {
        guard let grant else { return self }
        var n = self
        n.fields["grant"] = String(grant)
        n.text = n.text.replacingOccurrences(of: "{grant}", with: String(grant))
        for (k, v) in n.fields where v.contains("{grant}") { n.fields[k] = v.replacingOccurrences(of: "{grant}", with: String(grant)) }
        return n
    }
}

extension SQLiteStore {
    static func registerApprovalRules(_ m: inout DatabaseMigrator) {
        // Columns added to append-only tables: existing rows keep '' (a count of approvers, as before).
        m.registerMigration("v10 approval rules and approvers' groups") { db in
            try db.execute(sql: """
                ALTER TABLE grants ADD COLUMN approval TEXT NOT NULL DEFAULT '';
                ALTER TABLE grant_events ADD COLUMN groups TEXT NOT NULL DEFAULT '';
                """)
        }
    }
}
