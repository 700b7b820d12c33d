// Constructs that make bash execute code taken from data, and builtins that change what runs later.

extension Extractor {
    func parameterRisks(_ p: ParameterExpansion, context: [ContextKind]) {
        if p.indirect {
            risk(.indirectExpansion, "`${!\(p.name)}` expands the variable named by $\(p.name); a subscript in that name runs as code", p.offset)
        }
        if case .transform("P")? = p.op {
            risk(.promptExpansion, "`${\(p.name)@P}` expands $\(p.name) as a prompt, which runs its command substitutions", p.offset)
        }
        if case .index(let w)? = p.index { subscriptRisk(w, name: p.name) }
    }

    /// Bash evaluates an indexed array's subscript as arithmetic.
    func subscriptRisk(_ word: Word, name: String) {
        let field = expander.single(word)
        guard let text = field.staticText else {
            return risk(.codeFromData, "the subscript of `\(name)[…]` is not known statically; bash evaluates it as arithmetic", word.offset)
        }
        subscriptTextRisk(text, name: name, offset: word.offset)
    }

    func subscriptTextRisk(_ text: String, name: String, offset: Int) {
        guard let tokens = ShellSyntax.arithmeticTokens(text) else {
            return risk(.codeFromData, "the subscript `\(name)[\(text)]` is not a plain expression", offset)
        }
        arithmeticRisks(tokens, what: "the subscript `\(name)[\(text)]`", offset: offset)
    }

    /// Every operand must be a literal number or a variable known to hold one: bash evaluates the
    /// value of any other operand as an expression in its turn, and `a[$(cmd)]` in it runs `cmd`.
    func arithmeticRisks(_ tokens: [ArithmeticToken], what: String, offset: Int) {
        var expanded = Set<String>()
        arithmeticRisks(tokens, what: what, offset: offset, expanded: &expanded)
    }

    /// `expanded`: variables whose values were already checked, so a value that names itself
    /// (or a chain of them) is looked at once, not once per path.
    private func arithmeticRisks(_ tokens: [ArithmeticToken], what: String, offset: Int, expanded: inout Set<String>) {
        for (k, token) in tokens.enumerated() {
            switch token {
            case .name(let n, let nameOffset):
                if k + 1 < tokens.count, tokens[k + 1] == .op("=") { continue }
                let state = lookup(n)
                if state.isIntegerSafe { continue }
                // A known value is an expression in its turn: check it the same way.
                if case .value(let v) = state, let inner = ShellSyntax.arithmeticTokens(v) {
                    guard expanded.insert(n).inserted else { continue }
                    arithmeticRisks(inner, what: what, offset: nameOffset, expanded: &expanded)
                } else {
                    risk(.codeFromData, "\(what) reads $\(n), which is not known to hold a number; bash would evaluate its value as code", nameOffset)
                }
            case .expansion(let part):
                let pieces = expander.pieces([part], quoted: true)
                let text = String(decoding: pieces.flatMap(\.text), as: UTF8.self).trimmingBlanks
                if pieces.contains(where: { $0.dynamic != nil }) || !(text.isEmpty || ArithmeticEvaluator.number(String(text)) != nil) {
                    risk(.codeFromData, "\(what) evaluates an expansion whose value is not a literal number", offset)
                }
            case .number, .op:
                break
            }
        }
    }

    func arithmeticWordRisk(_ word: Word, what: String) {
        let field = expander.single(word)
        guard let text = field.staticText, let tokens = ShellSyntax.arithmeticTokens(text) else {
            return risk(.codeFromData, "\(what): the operand `\(source(word.offset, word.end))` is not known statically; bash evaluates it as arithmetic", word.offset)
        }
        arithmeticRisks(tokens, what: what, offset: word.offset)
    }

    static let arithmeticTests: Set<String> = ["-eq", "-ne", "-lt", "-le", "-gt", "-ge"]

    func conditionalRisks(_ c: ConditionalExpression) {
        for (k, token) in c.tokens.enumerated() {
            guard case .word(let w) = token, let op = w.plainLiteral else { continue }
            if Extractor.arithmeticTests.contains(op) {
                for neighbor in [k - 1, k + 1] where neighbor >= 0 && neighbor < c.tokens.count {
                    if case .word(let operand) = c.tokens[neighbor] { arithmeticWordRisk(operand, what: "`[[ … \(op) … ]]`") }
                }
            }
            if op == "-v", k + 1 < c.tokens.count, case .word(let operand) = c.tokens[k + 1] {
                variableNameRisk(expander.single(operand), what: "`[[ -v … ]]`")
            }
        }
    }

    /// A variable name given as an argument (`read`, `unset`, `printf -v`, `test -v` …): a
    /// subscript in it is arithmetic.
    func variableNameRisk(_ field: Field, what: String) {
        guard let text = field.staticText else {
            return risk(.codeFromData, "\(what) names a variable that is not known statically; a subscript in it would run as arithmetic", field.offset)
        }
        guard let open = text.firstIndex(of: "[") else { return }
        let inner = text[text.index(after: open)...].dropLast(text.hasSuffix("]") ? 1 : 0)
        subscriptTextRisk(String(inner), name: String(text[..<open]), offset: field.offset)
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    func builtinRisks(_ argv: [Field]) {
        guard let name = argv.first?.staticText, Builtins.risky.contains(name) else { return }
        let args = argv.dropFirst()
        let at = argv[0].offset
        switch name {
        case "alias":
            if args.contains(where: { $0.text.contains("=") }) {
                risk(.aliasDefinition, "`alias` defines an alias: aliases are never carried and may shadow commands", at)
            }
        case "trap":
            let (options, operands) = Builtins.operands(args, withArgument: [])
            if options.contains(where: { $0.0 == "l" || $0.0 == "p" }) { return }
            if operands.count >= 2, operands[0].text != "-", operands[0].text != "" {
                risk(.trap, "`trap` sets code to run later on a signal or event", at)
            }
        case "enable":
            let (options, operands) = Builtins.operands(args, withArgument: ["f"])
            if !operands.isEmpty || options.contains(where: { "fdn".contains($0.0) }) {
                risk(.enable, "`enable` loads or switches builtins, which changes what later names run", at)
            }
        case "hash":
            if Builtins.operands(args, withArgument: ["p"]).options.contains(where: { $0.0 == "p" }) {
                risk(.hashPath, "`hash -p` binds a command name to an arbitrary file", at)
            }
        case "source", ".":
            risk(.source, "`\(name)` runs a file as shell code in the current shell", at)
        case "exec":
            if Builtins.operands(args, withArgument: ["a"]).operands.isEmpty {
                risk(.execWithoutCommand, "`exec` without a command changes the shell's own descriptors", at)
            }
        case _ where Builtins.declarations.contains(name):
            let (options, operands) = Builtins.operands(args, withArgument: [])
            let letters = Set(options.map(\.0))
            if letters.contains("i") {
                risk(.codeFromData, "`\(name) -i` evaluates every value assigned to the variable as arithmetic", at)
            }
            if letters.contains("n") {
                risk(.codeFromData, "`\(name) -n` makes a name reference, which can point at an array subscript", at)
            }
            if letters.contains("f") && (name == "export" || letters.contains("x")) {
                risk(.functionDefinition, "`\(name) -f` exports a function to child shells", at)
            }
            for f in operands {
                if let a = Builtins.assignmentArgument(f), let sub = a.index {
                    subscriptTextRisk(sub, name: a.name, offset: f.offset)
                }
            }
        case "read":
            let (options, operands) = Builtins.operands(args, withArgument: ["a", "d", "i", "n", "N", "p", "t", "u"])
            for f in operands { variableNameRisk(f, what: "`read`") }
            if let a = options.first(where: { $0.0 == "a" })?.1 { variableNameRisk(a, what: "`read -a`") }
        case "mapfile", "readarray":
            let (options, operands) = Builtins.operands(args, withArgument: ["d", "n", "O", "s", "u", "C", "c"])
            if options.contains(where: { $0.0 == "C" }) {
                risk(.callback, "`\(name) -C` runs a callback string as code for each line read", at)
            }
            for f in operands { variableNameRisk(f, what: "`\(name)`") }
        case "unset", "getopts":
            let operands = Builtins.operands(args, withArgument: []).operands
            for f in (name == "getopts" ? Array(operands.dropFirst()) : operands) { variableNameRisk(f, what: "`\(name)`") }
        case "printf", "wait":
            let letter: Character = name == "printf" ? "v" : "p"
            if let v = Builtins.operands(args, withArgument: [letter]).options.first(where: { $0.0 == letter })?.1 {
                variableNameRisk(v, what: "`\(name) -\(letter)`")
            }
        case "complete", "compgen":
            let (options, _) = Builtins.operands(args, withArgument: ["A", "C", "F", "G", "P", "S", "W", "X", "o"])
            if options.contains(where: { $0.0 == "C" || $0.0 == "F" }) {
                risk(.callback, "`\(name) -C/-F` registers code to run later", at)
            }
        case "bind":
            if Builtins.operands(args, withArgument: ["m", "f", "q", "u", "r", "x"]).options.contains(where: { $0.0 == "x" }) {
                risk(.callback, "`bind -x` binds a key to shell code", at)
            }
        case "let":
            if args.isEmpty { return }
            for f in args {
                guard let text = f.staticText, let tokens = ShellSyntax.arithmeticTokens(text) else {
                    risk(.codeFromData, "`let` evaluates `\(f.text)`, which is not known statically", f.offset)
                    continue
                }
                arithmeticRisks(tokens, what: "`let \(text)`", offset: f.offset)
            }
        case "shopt":
            let (options, operands) = Builtins.operands(args, withArgument: [])
            let changes = options.contains { $0.0 == "s" || $0.0 == "u" }
            if changes, let bad = operands.first(where: { Builtins.parserShopts.contains($0.text) || !$0.isStatic }) {
                risk(.parserOption, "`shopt \(bad.text)` changes how later commands are parsed", at)
            }
        case "set":
            var k = args.startIndex
            while k < args.endIndex {
                let t = args[k].text
                if (t == "-o" || t == "+o"), k + 1 < args.endIndex, ["posix", "keyword"].contains(args[k + 1].text) {
                    risk(.parserOption, "`set \(t) \(args[k + 1].text)` changes how later commands are parsed", at)
                } else if t.hasPrefix("-") || t.hasPrefix("+"), !t.hasPrefix("--"), t.dropFirst().contains("k") {
                    risk(.parserOption, "`set -k` turns later arguments that look like assignments into environment variables", at)
                }
                k += 1
            }
        case "test", "[":
            for (k, f) in argv.enumerated() where f.staticText == "-v" && k + 1 < argv.count {
                variableNameRisk(argv[k + 1], what: "`\(name) -v`")
            }
        default:
            break
        }
    }
}
