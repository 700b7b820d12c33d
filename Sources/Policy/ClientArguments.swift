import ShellSyntax

/// Where psql and mysql take their SQL from, read from their options as getopt reads them.
enum ClientArguments {
    static let psqlValued: Set<Character> = ["c", "d", "f", "F", "h", "L", "o", "p", "P", "R", "T", "U", "v"]
    static let psqlLongValued: Set<String> = ["--command", "--dbname", "--file", "--field-separator", "--host", "--log-file",
                                              "--output", "--port", "--pset", "--record-separator", "--table-attr", "--username",
                                              "--set", "--variable"]
    /// Options after which psql runs nothing from standard input.
    static let psqlNoInput: Set<String> = ["-l", "--list", "-V", "--version", "-?", "--help"]

    static func psql(_ args: [Field], stdin: Field?) -> StatementAnalysis {
        var a = StatementAnalysis()
        var readsInput = true
        forEachOption(args, short: psqlValued, long: psqlLongValued) { option, value in
            switch option {
            case "-c", "--command":
                readsInput = false
                a.add(value, .postgres, what: "psql -c without its SQL")
            case "-f", "--file":
                readsInput = false
                if value?.staticText == "-" { a.add(stdin, .postgres, what: "psql reads SQL from standard input") } else {
                    a.unseen.append("psql -f reads SQL from a file")
                }
            case "-o", "--output", "-L", "--log-file":
                if let v = value?.staticText { a.writes.append(v) } else { a.unseen.append("psql writes a file named when the line runs") }
            case "?":
                a.unseen.append("an argument of psql is only known when the line runs")
            default:
                if psqlNoInput.contains(option) { readsInput = false }
            }
        }
        if readsInput {
            a.add(stdin, .postgres, what: "psql reads SQL from standard input or the prompt")
        }
        return a
    }

    static let mysqlValued: Set<Character> = ["D", "e", "h", "P", "S", "u", "#", "O"]
    static let mysqlLongValued: Set<String> = ["--execute", "--database", "--host", "--port", "--socket", "--user",
                                               "--default-character-set", "--defaults-file", "--defaults-extra-file",
                                               "--login-path", "--protocol", "--init-command", "--pager", "--tee",
                                               "--connect-timeout", "--max-allowed-packet", "--ssl-ca", "--ssl-cert", "--ssl-key"]
    static let mysqlNoInput: Set<String> = ["-V", "--version", "-?", "--help", "-I"]

    static func mysql(_ args: [Field], stdin: Field?) -> StatementAnalysis {
        var a = StatementAnalysis()
        var readsInput = true
        forEachOption(args, short: mysqlValued, long: mysqlLongValued) { option, value in
            switch option {
            case "-e", "--execute":
                readsInput = false
                a.add(value, .mysql, what: "mysql -e without its SQL")
            case "--tee":
                if let v = value?.staticText { a.writes.append(v) } else { a.unseen.append("mysql writes a file named when the line runs") }
            case "--pager":
                a.programs.append(value?.text ?? "a pager")
            case "--init-command":
                a.add(value, .mysql, what: "mysql --init-command")
            case "?":
                a.unseen.append("an argument of mysql is only known when the line runs")
            default:
                if mysqlNoInput.contains(option) { readsInput = false }
            }
        }
        if readsInput { a.add(stdin, .mysql, what: "mysql reads SQL from standard input or the prompt") }
        return a
    }

    /// Calls `body` with each option and its value (`-cSQL`, `-c SQL`, `--command=SQL`, `--command SQL`,
    /// `-qc SQL`); `?` for a dynamic word that could be any option. Stops at `--`.
    static func forEachOption(_ args: [Field], short: Set<Character>, long: Set<String>, _ body: (String, Field?) -> Void) {
        var k = 0
        while k < args.count {
            let f = args[k]
            k += 1
            guard let a = f.staticText else {
                if f.text.hasPrefix("-") || f.kind == .dynamic { body("?", nil) }
                continue
            }
            if a == "--" { return }
            guard a.hasPrefix("-"), a.count > 1 else { continue }
            if a.hasPrefix("--") {
                if let eq = a.firstIndex(of: "=") {
                    let name = String(a[..<eq])
                    body(expand(name, long), Field(text: String(a[a.index(after: eq)...]), offset: f.offset))
                } else {
                    let name = expand(a, long)
                    if long.contains(name) {
                        body(name, k < args.count ? args[k] : nil)
                        k += 1
                    } else {
                        body(name, nil)
                    }
                }
                continue
            }
            var letters = Substring(a.dropFirst())
            while let c = letters.first {
                letters.removeFirst()
                if short.contains(c) {
                    if !letters.isEmpty {
                        body("-\(c)", Field(text: String(letters), offset: f.offset))
                    } else {
                        body("-\(c)", k < args.count ? args[k] : nil)
                        k += 1
                    }
                    break
                }
                body("-\(c)", nil)
            }
        }
    }

    /// getopt_long accepts an unambiguous prefix (`--comm` is `--command`).
    static func expand(_ name: String, _ long: Set<String>) -> String {
        if long.contains(name) { return name }
        let matches = long.filter { $0.hasPrefix(name) }
        return matches.count == 1 ? matches.first! : name
    }

    /// A client command's arguments: blanks separate, quotes keep together.
    static func words(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        var quote: Character?
        var inWord = false
        for c in text {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
                inWord = true
            } else if c == " " || c == "\t" {
                if inWord { out.append(current); current = ""; inWord = false }
            } else {
                current.append(c)
                inWord = true
            }
        }
        if inWord { out.append(current) }
        return out
    }
}

/// redis-cli: the command it sends (after its options), or the commands it reads.
enum RedisCommands {
    static let valued: Set<String> = ["-h", "-p", "-s", "-a", "-u", "-r", "-i", "-n", "-d", "-D", "-t", "--user", "--pass", "--eval",
                                      "--pattern", "--quoted-pattern", "--count", "--cacert", "--cacertdir", "--cert", "--key",
                                      "--tls-ciphers", "--tls-ciphersuites", "--sni", "--rdb", "--functions-rdb",
                                      "--intrinsic-latency", "--memkeys-samples", "--lru-test", "--cluster", "--show-pushes"]
    /// Modes that send nothing the user typed.
    static let reporting: Set<String> = ["--stat", "--latency", "--latency-history", "--latency-dist", "--bigkeys", "--memkeys",
                                         "--hotkeys", "--scan", "--intrinsic-latency", "--help", "--version", "--lru-test"]
    static let flush: Set<String> = ["FLUSHALL", "FLUSHDB", "SWAPDB"]
    static let delete: Set<String> = ["DEL", "UNLINK", "GETDEL", "HDEL", "SREM", "ZREM", "ZREMRANGEBYRANK", "ZREMRANGEBYSCORE",
                                      "ZREMRANGEBYLEX", "LREM", "LTRIM", "LPOP", "RPOP", "BLPOP", "BRPOP", "LMPOP", "BLMPOP", "SPOP",
                                      "ZPOPMIN", "ZPOPMAX", "BZPOPMIN", "BZPOPMAX", "ZMPOP", "BZMPOP", "XDEL", "XTRIM", "EXPIRE",
                                      "PEXPIRE", "EXPIREAT", "PEXPIREAT", "RENAME", "RENAMENX", "MOVE", "RESTORE", "COPY",
                                      "RPOPLPUSH", "LMOVE", "BLMOVE", "SMOVE"]
    static let admin: Set<String> = ["CONFIG", "SHUTDOWN", "DEBUG", "MODULE", "REPLICAOF", "SLAVEOF", "CLUSTER", "ACL", "FAILOVER",
                                     "SAVE", "BGSAVE", "BGREWRITEAOF", "MIGRATE", "SYNC", "PSYNC", "CLIENT", "MONITOR"]
    static let scripts: Set<String> = ["EVAL", "EVAL_RO", "EVALSHA", "EVALSHA_RO", "FCALL", "FCALL_RO", "FUNCTION", "SCRIPT"]

    static func analyze(_ args: [Field], stdin: Field?) -> StatementAnalysis {
        var a = StatementAnalysis()
        var k = 0
        var report = false
        while k < args.count {
            let f = args[k]
            guard let t = f.staticText else { a.unseen.append("an argument of redis-cli is only known when the line runs"); return a }
            guard t.hasPrefix("-"), t.count > 1 else { break }
            k += 1
            if t == "--pipe" { a.unseen.append("redis-cli --pipe sends what standard input holds") }
            if t == "--eval" { a.unseen.append("redis-cli --eval runs a script from a file") }
            if t == "--cluster" { a.statements.append(.init(kinds: ["admin"])) }
            if t == "--rdb" || t == "--functions-rdb", k < args.count { a.writes.append(args[k].text) }
            if t == "--replica" { a.statements.append(.init(kinds: ["admin"])) }
            if reporting.contains(t) { report = true }
            if valued.contains(t) { k += 1 }
        }
        if k < args.count {
            a.statements.append(.init(kinds: kinds(Array(args[k...]))))
        } else if !report {
            // Without a command it reads commands, one a line, from stdin or the prompt.
            guard let text = stdin?.staticText else {
                a.unseen.append("redis-cli reads commands from standard input or the prompt")
                return a
            }
            for line in text.split(separator: "\n") {
                let words = ClientArguments.words(String(line)).map { Field(text: $0, offset: 0) }
                if !words.isEmpty { a.statements.append(.init(kinds: kinds(words))) }
            }
        }
        return a
    }

    static func kinds(_ command: [Field]) -> Set<String> {
        guard let name = command.first?.staticText?.uppercased() else { return ["script", "flush", "delete", "admin"] }
        if flush.contains(name) { return ["flush"] }
        if delete.contains(name) { return ["delete"] }
        if admin.contains(name) { return ["admin"] }
        if name == "SCRIPT" || name == "FUNCTION" {
            let sub = command.dropFirst().first?.staticText?.uppercased()
            if sub == "FLUSH" { return ["flush"] }
            if sub == "DELETE" { return ["delete"] }
            return sub == "LOAD" ? ["script"] : ["read"]
        }
        if name == "EVAL" || name == "EVAL_RO" {
            guard let script = command.dropFirst().first?.staticText else { return ["script"] }
            return luaCalls(script)
        }
        if scripts.contains(name) { return ["script"] }
        return ["read"]
    }

    /// The commands a Lua script sends: `redis.call("flushall")`, `redis.pcall('DEL', k)`. A call
    /// whose command is not a literal string could send anything.
    static func luaCalls(_ script: String) -> Set<String> {
        var out: Set<String> = ["read"]
        let s = Array(script)
        var k = 0
        while k < s.count {
            let rest = String(s[k..<min(s.count, k + 13)])
            guard let prefix = ["redis.call", "redis.pcall", "server.call", "server.pcall"].first(where: { rest.hasPrefix($0) }) else {
                k += 1
                continue
            }
            k += prefix.count
            while k < s.count, s[k] == " " || s[k] == "(" || s[k] == "\t" { k += 1 }
            guard k < s.count, s[k] == "\"" || s[k] == "'" else { out.insert("script"); continue }
            let q = s[k]
            k += 1
            var name = ""
            while k < s.count, s[k] != q { name.append(s[k]); k += 1 }
            out.formUnion(kinds([Field(text: name, offset: 0)]))
        }
        // `redis` reached any other way (`local r = redis`, `_G["redis"]`) hides its calls.
        func occurrences(_ word: String) -> Int {
            let w = Array(word)
            guard s.count >= w.count else { return 0 }
            return (0...(s.count - w.count)).filter { Array(s[$0..<($0 + w.count)]) == w }.count
        }
        let mentions = occurrences("redis") + occurrences("server")
        let calls = ["redis.call", "redis.pcall", "server.call", "server.pcall"].reduce(0) { $0 + occurrences($1) }
        if mentions > calls || script.contains("loadstring") || script.contains("_G") { out.insert("script") }
        return out
    }
}
