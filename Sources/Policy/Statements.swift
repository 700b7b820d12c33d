import ShellSyntax

/// What a database client would do: the kinds of the statements it sends, the files it writes and
/// the programs it runs by its own commands, and why some of what it runs cannot be seen.
public struct StatementAnalysis: Sendable, Equatable {
    public struct Statement: Sendable, Equatable {
        public var kinds: Set<String>
    }

    public var statements: [Statement] = []
    /// Files the client writes (`\o FILE`, `\copy … TO 'FILE'`, mysql `tee FILE`).
    public var writes: [String] = []
    /// Shell commands the client runs (`\! cmd`, `\o |cmd`, mysql `system cmd`).
    public var programs: [String] = []
    /// Why some statements are not known before the line runs (stdin, the prompt, a file, a variable).
    public var unseen: [String] = []

    /// Every kind of every statement, and `unseen` when some are not known.
    public var kinds: Set<String> {
        var all = statements.reduce(into: Set<String>()) { $0.formUnion($1.kinds) }
        if !unseen.isEmpty { all.insert("unseen") }
        return all
    }

    public static let knownKinds: Set<String> = [
        "select", "insert", "update", "update-without-where", "delete", "delete-without-where", "drop", "truncate", "alter",
        "create", "grant", "revoke", "copy", "server-file", "program", "code", "admin", "other", "unseen",
        "read", "flush", "script",
    ]

    /// The tools whose statements are analysed, by program name.
    public static let tools: Set<String> = ["psql", "mysql", "mariadb", "redis-cli"]

    /// The analysis of a command's statements, or nil when it is not a database client.
    public static func of(_ command: ExtractedCommand) -> StatementAnalysis? {
        guard let name = command.name.map(PathName.base), tools.contains(name) else { return nil }
        let args = Array(command.argv.dropFirst())
        switch name {
        case "psql": return ClientArguments.psql(args, stdin: command.stdin)
        case "redis-cli": return RedisCommands.analyze(args, stdin: command.stdin)
        default: return ClientArguments.mysql(args, stdin: command.stdin)
        }
    }

    /// Adds the statements of SQL text.
    mutating func add(sql text: String, _ dialect: SQLLexer.Dialect) {
        var lexer = SQLLexer(text, dialect: dialect)
        for statement in lexer.statements() {
            if case .meta(let name, let rest)? = statement.first, statement.count == 1 {
                clientCommand(name, rest, dialect)
            } else {
                if statement.contains(.variable) { unseen.append("a psql variable is substituted into the SQL") }
                statements.append(Statement(kinds: SQLKinds.of(statement)))
            }
        }
    }

    /// SQL given as an argument or on standard input: static text, or not seen.
    mutating func add(_ field: Field?, _ dialect: SQLLexer.Dialect, what: String) {
        guard let field else { unseen.append(what); return }
        guard let text = field.staticText else {
            unseen.append("the SQL is only known when the line runs (\(field.reason ?? "not static"))")
            return
        }
        add(sql: text, dialect)
    }

    /// psql's backslash commands and mysql's client commands that write, run or read elsewhere.
    mutating func clientCommand(_ name: String, _ rest: String, _ dialect: SQLLexer.Dialect) {
        let words = ClientArguments.words(rest)
        if rest.contains("`") && dialect == .postgres { programs.append(rest); return }
        func target(_ arg: String?) {
            guard let arg else { return }
            if arg.hasPrefix("|") { programs.append(String(rest.drop { $0 != "|" }.dropFirst())) } else { writes.append(arg) }
        }
        switch dialect {
        case .postgres:
            switch name {
            case "!": programs.append(rest.isEmpty ? "an interactive shell" : rest)
            case "o", "out", "w", "write", "s":
                if rest.trimmingLeadingSpaces.hasPrefix("|") { programs.append(String(rest.trimmingLeadingSpaces.dropFirst())) } else {
                    target(words.first)
                }
            case "g", "gx":
                statements.append(Statement(kinds: ["other"]))
                let args = words.first?.hasPrefix("(") == true ? Array(words.drop { !$0.hasSuffix(")") }.dropFirst()) : words
                if rest.contains("|") { programs.append(String(rest.drop { $0 != "|" }.dropFirst())) } else { target(args.first) }
            case "copy":
                statements.append(Statement(kinds: ["copy"]))
                let lower = words.map { $0.lowercased() }
                if lower.contains("program") { programs.append(rest) } else if let to = lower.firstIndex(of: "to"), to + 1 < words.count,
                                                                               !["stdout", "pstdout"].contains(lower[to + 1]) {
                    writes.append(words[to + 1])
                }
            case "lo_export": if words.count > 1 { writes.append(words[1]) }
            case "lo_unlink": statements.append(Statement(kinds: ["delete"]))
            case "i", "include", "ir", "include_relative": unseen.append("psql \\\(name) reads SQL from a file")
            case "gexec": unseen.append("psql \\gexec runs what a query returns as SQL")
            case "e", "edit", "ef", "ev": programs.append("an editor (\\\(name))")
            case "setenv": programs.append("\\setenv (the environment of the programs psql runs)")
            default: break
            }
        case .mysql:
            switch name {
            case "!", "system": programs.append(rest)
            case "T", "tee": target(words.first)
            case "P", "pager": if !rest.trimmingLeadingSpaces.isEmpty { programs.append(rest) }
            case "e", "edit": programs.append("an editor (edit)")
            case ".", "source": unseen.append("mysql source reads SQL from a file")
            case "d", "delimiter": unseen.append("mysql delimiter changes where statements end")
            default: break
            }
        }
    }
}

extension String {
    var trimmingLeadingSpaces: Substring { drop { $0 == " " || $0 == "\t" } }
}

/// A statement's kinds, from its tokens.
enum SQLKinds {
    static func of(_ tokens: [SQLLexer.Token]) -> Set<String> {
        let words = tokens.compactMap { t -> String? in if case .word(let w) = t { return w } else { return nil } }
        guard case .word(let first)? = tokens.first(where: { $0 != .symbol("(") }) else { return tokens.isEmpty ? [] : ["other"] }
        func has(_ w: String) -> Bool { words.contains(w) }
        /// DELETE and UPDATE without a WHERE at their own level touch every row.
        func whereless(_ verb: String) -> Set<String> {
            var depth = 0
            var seenVerb = false
            for t in tokens {
                switch t {
                case .symbol("("): depth += 1
                case .symbol(")"): depth -= 1
                case .word(verb) where depth == 0: seenVerb = true
                case .word("WHERE") where depth == 0 && seenVerb: return [verb.lowercased()]
                default: break
                }
            }
            return [verb.lowercased(), verb.lowercased() + "-without-where"]
        }
        switch first {
        case "DELETE": return whereless("DELETE")
        case "UPDATE": return whereless("UPDATE")
        case "DROP": return ["drop"]
        case "TRUNCATE": return ["truncate"]
        case "ALTER", "RENAME", "REASSIGN", "COMMENT", "SECURITY": return ["alter"]
        case "GRANT": return ["grant"]
        case "REVOKE": return ["revoke"]
        case "CREATE", "IMPORT":
            return has("REPLACE") ? ["create", "alter"] : ["create"]
        case "INSERT":
            return has("UPDATE") ? ["insert", "update"] : ["insert"]
        case "REPLACE": return ["insert", "delete"]
        case "MERGE": return ["insert", "update", "delete"]
        case "COPY":
            var k: Set<String> = ["copy"]
            if has("PROGRAM") { k.insert("program") } else if has("TO"), tokens.contains(where: { if case .string = $0 { return true }; return false }) {
                k.insert("server-file")
            }
            return k
        case "SELECT", "VALUES", "TABLE", "SHOW", "DESCRIBE", "DESC", "HELP", "USE":
            if has("OUTFILE") || has("DUMPFILE") { return ["select", "server-file"] }
            if first == "SELECT", has("INTO") { return ["select", "create"] }
            return ["select"]
        case "EXPLAIN":
            guard has("ANALYZE") || has("ANALYSE") else { return ["select"] }
            // EXPLAIN [ (options) ] [ ANALYZE ] [ VERBOSE ] statement: the statement runs.
            var rest = tokens.dropFirst()
            if rest.first == .symbol("(") { rest = rest.drop { $0 != .symbol(")") }.dropFirst() }
            while case .word(let w)? = rest.first, ["ANALYZE", "ANALYSE", "VERBOSE"].contains(w) { rest = rest.dropFirst() }
            return rest.isEmpty ? ["code"] : of(Array(rest))
        case "WITH":
            var k: Set<String> = ["select"]
            if has("DELETE") { k.formUnion(["delete", "delete-without-where"]) }
            if has("UPDATE") { k.formUnion(["update", "update-without-where"]) }
            if has("INSERT") { k.insert("insert") }
            if has("MERGE") { k.formUnion(["insert", "update", "delete"]) }
            return k
        case "DO", "CALL", "EXECUTE", "EXEC", "PREPARE", "HANDLER", "INSTALL", "UNINSTALL":
            return ["code"]
        case "LOAD":
            return words.dropFirst().first.map { ["DATA", "XML"].contains($0) } == true ? ["insert"] : ["code"]
        case "FLUSH", "PURGE", "KILL", "SHUTDOWN", "RESTART", "CHANGE":
            return ["admin"]
        default:
            return ["other"]
        }
    }
}
