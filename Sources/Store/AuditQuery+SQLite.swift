import GRDB

/// The expression as SQLite's WHERE clause over `audit_events AS a`, values bound, never spliced.
extension AuditQuery {
    public var sql: String { SQLiteCompiler.compile(expression).sql }
    public var statementArguments: StatementArguments { SQLiteCompiler.compile(expression).arguments }

    struct SQLiteCompiler {
        var values: [DatabaseValueConvertible] = []

        static func compile(_ e: Expression) -> (sql: String, arguments: StatementArguments) {
            var c = SQLiteCompiler()
            let sql = c.clause(e)
            return (sql, StatementArguments(c.values))
        }

        /// An event's data as JSON functions may read it: a row that is not JSON (written by hand,
        /// or damaged) has no fields, rather than failing the whole search.
        static let data = "CASE WHEN json_valid(a.data) THEN a.data ELSE '{}' END"
        /// One of its commands, where a command is an object.
        static let command = "CASE WHEN c.type = 'object' THEN c.value ELSE '{}' END"

        mutating func bind(_ v: DatabaseValueConvertible) -> String {
            values.append(v)
            return "?"
        }

        mutating func clause(_ e: Expression) -> String {
            switch e {
            case .all(let parts): return "(" + parts.map { clause($0) }.joined(separator: " AND ") + ")"
            case .any(let parts): return "(" + parts.map { clause($0) }.joined(separator: " OR ") + ")"
            case .not(let inner): return "NOT " + clause(inner)
            case .grant(let id): return "a.session_id IN (SELECT id FROM sessions WHERE grant_id = \(bind(id)))"
            case .since(let t): return "a.at >= \(bind(t))"
            case .until(let t): return "a.at <= \(bind(t))"
            case .matches(let field, let value): return matches(field, value)
            }
        }

        mutating func matches(_ field: Field, _ value: String) -> String {
            switch field {
            case .command:
                // The program as typed (rm) or by path (/bin/rm); the guard's events name a path.
                // A plain name is one the store keeps of each line (audit_programs); a glob or a
                // path asks each command's argv.
                if !value.unicodeScalars.contains(where: { "*?[/".unicodeScalars.contains($0) }) {
                    let (name, p3, p4) = (bind(value), bind(value), bind("*/" + value))
                    return """
                        (a.id IN (SELECT event_id FROM audit_programs WHERE program = \(name)) \
                        OR (a.kind = \(AuditKind.guard.sql) AND (a.line GLOB \(p3) OR a.line GLOB \(p4))))
                        """
                }
                let (p1, p2, p3, p4) = (bind(value), bind("*/" + value), bind(value), bind("*/" + value))
                return """
                    (EXISTS (SELECT 1 FROM json_each(\(Self.data), '$.commands') c \
                    WHERE json_extract(\(Self.command), '$.argv[0]') GLOB \(p1) OR json_extract(\(Self.command), '$.argv[0]') GLOB \(p2)) \
                    OR (a.kind = \(AuditKind.guard.sql) AND (a.line GLOB \(p3) OR a.line GLOB \(p4))))
                    """
            case .user: return "a.identity GLOB \(bind(value))"
            case .host: return "a.host GLOB \(bind(value))"
            case .role: return "a.session_id IN (SELECT id FROM sessions WHERE role GLOB \(bind(value)))"
            case .decision: return "a.decision = \(bind(value))"
            case .kind: return "a.kind GLOB \(bind(value))"
            case .rule: return "a.rule GLOB \(bind(value))"
            case .reason: return "a.reason GLOB \(bind(value))"
            case .line: return "a.line GLOB \(bind(value))"
            case .cwd: return "json_extract(\(Self.data), '$.cwd') GLOB \(bind(value))"
            case .session: return "a.session_id GLOB \(bind(value + "*"))"
            }
        }
    }
}
