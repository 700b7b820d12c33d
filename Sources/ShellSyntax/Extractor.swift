// Extraction: a walk that lists every command the line would run, with its arguments resolved
// as far as they can be without running anything, and everything that makes a line risky.

final class Extractor: SyntaxVisitor {
    var result = Extraction()
    let environment: ShellEnvironment
    let limits: Limits
    let depth: Int
    let via: [String]
    let contextPrefix: [ContextKind]
    let locate: (Int) -> Position
    let source: (Int, Int) -> String
    /// Values from straight-line assignments, in source order.
    private var flow: [String: VariableState] = [:]
    /// Variables assigned anywhere their value cannot be followed (branches, loops, subshells,
    /// `read` …), joined over all such places; "*" when a variable named at run time is assigned.
    private var unstable: [String: VariableState] = [:]
    /// Assignments found by the main pass that `unstable` did not cover.
    private var discovered: [String: VariableState] = [:]
    private(set) lazy var expander = WordExpander(lookup: { [unowned self] in self.lookup($0) }, source: source)

    init(environment: ShellEnvironment, limits: Limits, depth: Int, via: [String], contextPrefix: [ContextKind],
         locate: @escaping (Int) -> Position, source: @escaping (Int, Int) -> String) {
        self.environment = environment
        self.limits = limits
        self.depth = depth
        self.via = via
        self.contextPrefix = contextPrefix
        self.locate = locate
        self.source = source
    }

    /// The pre-pass sees command names only where they are literal; the main pass resolves more
    /// of them (`x=read; $x y`) and may find assignments the pre-pass missed. Those are added and
    /// the walk repeated until nothing new turns up.
    func run(_ script: Script, readsVariables: Bool = true) {
        guard readsVariables else {
            // Nothing in the line reads a variable, so where they are assigned cannot matter.
            var me = self
            SyntaxWalker.walk(script, &me)
            return
        }
        var collector = UnstableCollector(source: source)
        SyntaxWalker.walk(script, &collector)
        unstable = collector.unstable
        for _ in 0..<4 {
            result = Extraction()
            flow = [:]
            discovered = [:]
            var me = self
            SyntaxWalker.walk(script, &me)
            if discovered.isEmpty { return }
            for (name, state) in discovered { unstable[name] = UnstableCollector.join(unstable[name], state, name: name) }
        }
        unstable["*"] = .unknown("the line assigns variables in ways that cannot be followed")
        result = Extraction()
        flow = [:]
        var me = self
        SyntaxWalker.walk(script, &me)
    }

    /// `eval …`, `source …`, `. …` (also behind `command`/`builtin`): code that can assign any variable.
    static func runsCodeInThisShell(_ argv: [Field]) -> Bool {
        guard let name = argv.first?.staticText, ["eval", "source", ".", "command", "builtin"].contains(name) else { return false }
        guard let first = Builtins.withoutCommandPrefix(argv).first, !first.variadic,
              let name = first.staticText.map(Wrappers.basename) else { return false }
        return ["eval", "source", "."].contains(name)
    }

    /// Records what the pre-pass did not know about a command's assignments.
    private func discover(_ argv: [Field], effects: [AssignmentEffect], straight: Bool) {
        if Extractor.runsCodeInThisShell(argv), unstable["*"] == nil {
            discovered["*"] = .unknown("`eval` or `source` may assign any variable")
        }
        guard !straight else { return }
        for effect in effects {
            let state: VariableState
            switch effect {
            case .integer: state = .integer
            case .unknown(_, let reason): state = .unknown(reason)
            default: state = .unknown("$\(effect.name) is assigned in a branch, loop or subshell")
            }
            if UnstableCollector.join(unstable[effect.name], state, name: effect.name) != unstable[effect.name] {
                discovered[effect.name] = state
            }
        }
    }

    /// Statements whose effects on variables persist in order: not in a subshell, branch, loop,
    /// pipeline or background job.
    static func isStraight(_ context: [ContextKind]) -> Bool {
        context.allSatisfy { $0 == .group }
    }

    // MARK: Variables

    static let setByBash: Set<String> = [
        "RANDOM", "SRANDOM", "SECONDS", "LINENO", "EPOCHSECONDS", "EPOCHREALTIME", "PPID", "UID", "EUID", "GROUPS",
        "HOSTNAME", "HOSTTYPE", "MACHTYPE", "OSTYPE", "SHLVL", "OPTIND", "OPTARG", "OPTERR", "REPLY", "PIPESTATUS",
        "FUNCNAME", "FUNCNEST", "COLUMNS", "LINES", "HISTCMD", "HISTFILE", "DIRSTACK", "SHELLOPTS", "PWD", "OLDPWD",
        "HOME", "SHELL", "PATH", "PS1", "PS2", "PS4", "MAILCHECK", "TERM", "_", "COMP_WORDS", "COPROC",
    ]

    func lookup(_ name: String) -> VariableState {
        if let wildcard = unstable["*"] ?? flow["*"] { return wildcard }
        if let u = unstable[name] {
            if u == .integer, current(name).isIntegerSafe { return .integer }
            if case .unknown = u { return u }
            return .unknown("$\(name) is assigned where its value cannot be followed")
        }
        return current(name)
    }

    private func current(_ name: String) -> VariableState {
        if let f = flow[name] { return f }
        if let v = environment.variables[name] { return .value(v) }
        // bash never takes IFS from its environment; it starts as space, tab, newline.
        if name == "IFS" { return .value(" \t\n") }
        if Extractor.setByBash.contains(name) || name.hasPrefix("BASH") {
            return .unknown("$\(name) is set by bash when the line runs")
        }
        return environment.complete ? .unset : .unknown("$\(name) is not known statically")
    }

    /// Names whose first appearance in an expression is a plain `name=…` write: they hold a number
    /// from then on, whatever they held before.
    static func assignedBeforeRead(_ tokens: [ArithmeticToken]) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for (k, token) in tokens.enumerated() {
            guard case .name(let n, _) = token, !seen.contains(n) else { continue }
            seen.insert(n)
            if k + 1 < tokens.count, tokens[k + 1] == .op("=") { out.append(n) }
        }
        return out
    }

    private func state(of value: Field) -> VariableState {
        value.isStatic ? .value(value.text) : .unknown(value.reason ?? "$… is not known statically")
    }

    private func apply(_ effect: AssignmentEffect) {
        switch effect {
        case .value(let n, let f): flow[n] = state(of: f)
        case .integer(let n): flow[n] = .integer
        case .unknown(let n, let reason): flow[n] = .unknown(reason)
        case .unset(let n): flow[n] = .unset
        }
    }

    // MARK: The walk

    func visit(_ node: SyntaxNode, context: [ContextKind]) -> Bool {
        switch node {
        case .statement(let s):
            handle(s, context: context)
        case .part(.parameter(let p)):
            parameterRisks(p, context: context)
        case .arithmetic(let a):
            arithmeticRisks(a.tokens, what: "arithmetic `\(a.text)`", offset: a.offset)
        case .assignment(let a):
            if let sub = a.index { subscriptRisk(sub, name: a.name) }
            if case .array(let elements) = a.value {
                for key in elements.compactMap(\.key) { subscriptRisk(key, name: a.name) }
            }
        case .part, .word, .redirect:
            break
        }
        return true
    }

    private func handle(_ s: Statement, context: [ContextKind]) {
        let ctx = contextPrefix + context + (s.background ? [.background] : [])
        for r in s.redirects { extract(r, context: ctx) }
        switch s.command {
        case .simple(let sc):
            handleSimple(sc, s, context: context)
        case .function(let f):
            risk(.functionDefinition, "defines function `\(f.name)`: functions are never carried and may shadow commands", s.offset)
        case .conditional(let c):
            conditionalRisks(c)
        case .coproc(let name, _):
            if let name { flow[name] = .unknown("$\(name) is set by coproc") }
        case .forArithmetic(let f) where Extractor.isStraight(context) && !s.background:
            // The initializer runs once, before the condition and the body read anything.
            for name in Extractor.assignedBeforeRead(f.initializer.tokens) { flow[name] = .integer }
        case .arithmetic(let a) where Extractor.isStraight(context) && !s.background:
            for name in Extractor.assignedBeforeRead(a.tokens) { flow[name] = .integer }
        default:
            break
        }
    }

    private func handleSimple(_ sc: SimpleCommand, _ s: Statement, context: [ContextKind]) {
        let ctx = contextPrefix + context + (s.background ? [.background] : [])
        let straight = Extractor.isStraight(context) && !s.background
        let declaration = sc.words.first?.plainLiteral.map(Builtins.declarations.contains) ?? false
        var argv: [Field] = []
        for (index, word) in sc.words.enumerated() {
            if declaration, index > 0, let a = word.assignment {
                argv.append(declarationArgument(a, word))
            } else {
                argv.append(contentsOf: expander.fields(word))
            }
        }
        // Assignments apply left to right, each seeing the ones before it; before a command they
        // last only for that command, and off the straight line the pre-pass has them already.
        let persists = sc.words.isEmpty && straight
        let saved = flow
        for a in sc.assignments {
            let value = assignmentValue(a)
            result.assignments.append(ExtractedAssignment(name: a.name, value: value, kind: sc.words.isEmpty ? .shell : .prefix,
                                                          context: ctx, position: locate(a.offset)))
            if a.index != nil {
                flow[a.name] = .unknown("$\(a.name) is an array")
            } else if a.append {
                if case .value(let old) = lookup(a.name), let v = value.staticText { flow[a.name] = .value(old + v) } else {
                    flow[a.name] = .unknown("$\(a.name) is appended to")
                }
            } else {
                flow[a.name] = state(of: value)
            }
        }
        guard !argv.isEmpty else {
            if !persists { flow = saved }
            return
        }
        // A builtin sees the assignments before it (`x=… let y=x`) while it runs; what it
        // assigns itself (`x=1 read y`) outlasts them.
        let overlay = !sc.assignments.isEmpty
        emit(argv, via: via, context: ctx, stdinScript: stdinScript(s.redirects), straight: straight, applyEffects: !overlay)
        if overlay {
            flow = saved
            if straight { Builtins.effects(argv).forEach(apply) }
        }
    }

    /// `declare x=$y`: bash neither splits nor globs an assignment argument of a declaration builtin.
    private func declarationArgument(_ a: Assignment, _ word: Word) -> Field {
        let value = assignmentValue(a)
        guard value.isStatic else {
            return .dynamic(source(word.offset, word.end), reason: value.reason ?? "not static", offset: word.offset)
        }
        var head = a.name
        if let sub = a.index { head += "[" + expander.single(sub).text + "]" }
        return Field(text: head + (a.append ? "+=" : "=") + value.text, offset: word.offset)
    }

    private func assignmentValue(_ a: Assignment) -> Field {
        switch a.value {
        case .scalar(let w):
            return expander.single(w, tildeAfterColon: true)
        case .array:
            return .dynamic(source(a.offset, a.offset), reason: "arrays are not resolved statically", offset: a.offset)
        }
    }

    /// A static here-document or here-string on standard input: the script a bare shell reads.
    private func stdinScript(_ redirects: [Redirect]) -> Field? {
        guard let r = redirects.last(where: { ($0.fd ?? 0) == 0 && [.hereDoc, .hereDocStrip, .hereString, .input].contains($0.op) }) else {
            return nil
        }
        switch r.op {
        case .hereDoc, .hereDocStrip:
            guard let doc = r.hereDoc else { return nil }
            return expander.single(doc.body)
        case .hereString:
            let f = expander.single(r.target)
            return f.isStatic ? Field(text: f.text + "\n", offset: f.offset) : f
        default:
            return .dynamic(source(r.target.offset, r.target.end), reason: "a script read from a file", offset: r.offset)
        }
    }

    // MARK: Commands

    func emit(_ argv: [Field], via: [String], context: [ContextKind], stdinScript: Field?, straight: Bool,
              applyEffects: Bool = true) {
        guard let first = argv.first else { return }
        guard first.isStatic, !first.variadic else {
            result.commands.append(ExtractedCommand(argv: argv, name: nil, via: via, context: context, position: locate(first.offset),
                                                    dynamicReason: first.reason ?? "the command name is not known statically"))
            return
        }
        result.commands.append(ExtractedCommand(argv: argv, name: first.text, via: via, context: context,
                                                position: locate(first.offset), dynamicReason: nil, stdin: stdinScript))
        let effects = Builtins.effects(argv)
        builtinRisks(argv)
        recordAssignments(argv, effects: effects, context: context)
        discover(argv, effects: effects, straight: straight)
        if straight && applyEffects { effects.forEach(apply) }
        let wrapper = Wrappers.basename(first.text)
        for outcome in Wrappers.unwrap(argv, stdinScript: stdinScript) {
            switch outcome {
            case .inner(let inner, let kind, let environment):
                for e in environment {
                    if let a = Builtins.assignmentArgument(e) {
                        result.assignments.append(ExtractedAssignment(name: a.name, value: a.value, kind: .environment,
                                                                      context: context, position: locate(e.offset)))
                    }
                }
                emit(inner, via: via + [wrapper], context: context + (kind.map { [$0] } ?? []), stdinScript: stdinScript, straight: false)
            case .shellCode(let code):
                shellCode(code, via: via + [wrapper], context: context + [.shellString])
            case .unknown(let reason):
                let text = argv.dropFirst().map(\.text).joined(separator: " ")
                let shown = [Field.dynamic(text.isEmpty ? "…" : text, reason: reason, offset: first.offset)]
                result.commands.append(ExtractedCommand(argv: shown, name: nil, via: via + [wrapper], context: context,
                                                        position: locate(first.offset), dynamicReason: reason))
            }
        }
    }

    /// Variables a builtin sets (`export X=…`, `read X` …), listed with the line's assignments.
    private func recordAssignments(_ argv: [Field], effects: [AssignmentEffect], context: [ContextKind]) {
        guard let name = argv.first?.staticText else { return }
        func add(_ n: String, _ value: Field?, _ kind: ExtractedAssignment.Kind, _ offset: Int) {
            result.assignments.append(ExtractedAssignment(name: n, value: value, kind: kind, context: context, position: locate(offset)))
        }
        if Builtins.declarations.contains(name) {
            for f in Builtins.operands(argv.dropFirst(), withArgument: []).operands {
                if let a = Builtins.assignmentArgument(f) {
                    add(a.name, a.value, .declaration, f.offset)
                } else if let n = f.staticText, Parser.isName(n) {
                    add(n, nil, .declaration, f.offset)
                } else if !f.isStatic {
                    add("*", f, .declaration, f.offset)
                }
            }
            return
        }
        for effect in effects {
            switch effect {
            case .unknown(let n, let reason):
                add(n, .dynamic(n, reason: reason, offset: argv[0].offset), .shell, argv[0].offset)
            case .integer(let n):
                add(n, .dynamic(n, reason: "a number computed when the line runs", offset: argv[0].offset), .shell, argv[0].offset)
            case .value(let n, let f):
                add(n, f, .shell, argv[0].offset)
            case .unset:
                break
            }
        }
    }

    /// Shell code in a string (`bash -c`, `eval`, `su -c` …), parsed and extracted in its turn.
    private func shellCode(_ code: Field, via: [String], context: [ContextKind]) {
        func unknown(_ reason: String) {
            let shown = Field.dynamic(code.text, reason: reason, offset: code.offset)
            result.commands.append(ExtractedCommand(argv: [shown], name: nil, via: via, context: context,
                                                    position: locate(code.offset), dynamicReason: reason))
        }
        guard code.isStatic else {
            return unknown("the shell code run by `\(via.last ?? "")` is not static: \(code.reason ?? "")")
        }
        guard depth + 1 < limits.maxDepth else {
            return unknown("shell code nested deeper than \(limits.maxDepth) levels")
        }
        let bytes = Array(code.text.utf8)
        let position = locate(code.offset)
        for risk in ShellSyntax.controlCharacterRisks(bytes, locate: { _ in position }) { result.risks.append(risk) }
        var parser = Parser(bytes, limits: limits, depth: depth + 1)
        let script: Script
        do {
            script = try parser.parseScript()
        } catch let failure as ParseFailure {
            return unknown("the shell code run by `\(via.last ?? "")` does not parse: \(failure.message)")
        } catch {
            return unknown("the shell code run by `\(via.last ?? "")` does not parse")
        }
        let nested = Extractor(environment: .unknown, limits: limits, depth: depth + 1, via: via, contextPrefix: context,
                               locate: { _ in position },
                               source: { a, b in String(decoding: bytes[max(0, min(a, bytes.count))..<max(0, min(b, bytes.count))], as: UTF8.self) })
        nested.run(script, readsVariables: ShellSyntax.mayReadVariables(bytes))
        result.commands += nested.result.commands
        result.redirects += nested.result.redirects
        result.assignments += nested.result.assignments
        result.risks += nested.result.risks
    }

    // MARK: Redirections

    private func extract(_ r: Redirect, context: [ContextKind]) {
        var target: Field
        var writes = false
        var opensFile = true
        switch r.op {
        case .hereDoc, .hereDocStrip:
            target = Field(text: r.hereDoc?.delimiter ?? "", offset: r.target.offset)
            opensFile = false
        case .hereString:
            target = expander.single(r.target)
            opensFile = false
        case .duplicateInput, .duplicateOutput:
            target = expander.single(r.target)
            if let t = target.staticText, t == "-" || t.allSatisfy(\.isNumber) || (t.hasSuffix("-") && t.dropLast().allSatisfy(\.isNumber)) {
                opensFile = false
            } else if r.op == .duplicateOutput && r.fd == nil {
                // `>&file` is `&>file`.
                writes = true
            } else if target.isStatic {
                opensFile = false
            } else {
                writes = true
            }
        case .input:
            target = fileTarget(r.target)
        case .output, .append, .clobber, .outputBoth, .appendBoth, .readWrite:
            target = fileTarget(r.target)
            writes = true
        }
        if let v = r.fdVariable { flow[v] = .integer }
        result.redirects.append(ExtractedRedirect(op: r.op, fd: r.fd, target: target, writes: writes, opensFile: opensFile,
                                                  context: context, position: locate(r.offset)))
    }

    /// A file name after `>`: expanded without splitting; a glob that matches several files is an error.
    private func fileTarget(_ word: Word) -> Field {
        let fields = expander.fields(word)
        if fields.count == 1 { return fields[0] }
        return .dynamic(source(word.offset, word.end), reason: "expands to \(fields.count) words (an ambiguous redirect)",
                        variadic: true, offset: word.offset)
    }

    // MARK: Risks

    func risk(_ kind: Risk.Kind, _ message: String, _ offset: Int) {
        result.risks.append(Risk(kind: kind, message: message, position: locate(offset)))
    }
}

/// The pre-pass: which variables are assigned where straight-line order cannot follow them.
struct UnstableCollector: SyntaxVisitor {
    var unstable: [String: VariableState] = [:]
    let expander: WordExpander

    init(source: @escaping (Int, Int) -> String) {
        expander = WordExpander(lookup: { _ in .unknown("pre-pass") }, source: source)
    }

    mutating func mark(_ name: String, _ state: VariableState) {
        unstable[name] = UnstableCollector.join(unstable[name], state, name: name)
    }

    /// Two integers stay an integer; anything else joined is unknown.
    static func join(_ old: VariableState?, _ new: VariableState, name: String) -> VariableState {
        guard let old else { return new }
        if old == .integer && new == .integer { return .integer }
        if case .unknown = old { return old }
        if case .unknown = new { return new }
        return .unknown("$\(name) is assigned where its value cannot be followed")
    }

    mutating func visit(_ node: SyntaxNode, context: [ContextKind]) -> Bool {
        switch node {
        case .statement(let s):
            let straight = Extractor.isStraight(context) && !s.background
            switch s.command {
            case .simple(let sc):
                if !straight && sc.words.isEmpty {
                    for a in sc.assignments { mark(a.name, .unknown("$\(a.name) is assigned in a branch, loop or subshell")) }
                }
                // Only a literal builtin name matters here; names that need resolving are found by
                // the main pass, which repeats until nothing new turns up.
                guard let first = sc.words.first?.plainLiteral.map(Wrappers.basename),
                      Builtins.assigning.contains(first) || ["eval", "source", ".", "let"].contains(first) else { break }
                let argv = sc.words.flatMap { expander.fields($0) }
                if Extractor.runsCodeInThisShell(argv) { mark("*", .unknown("`eval` or `source` may assign any variable")) }
                for effect in Builtins.effects(argv) where !straight || effect.name == "*" {
                    switch effect {
                    case .integer(let n): mark(n, .integer)
                    case .unknown(let n, let reason): mark(n, .unknown(reason))
                    default: mark(effect.name, .unknown("$\(effect.name) is assigned in a branch, loop or subshell"))
                    }
                }
                if argv.first?.staticText == "let" {
                    for arg in argv.dropFirst() {
                        guard let text = arg.staticText, let tokens = ShellSyntax.arithmeticTokens(text) else { continue }
                        markArithmetic(tokens)
                    }
                }
            case .forIn(let f):
                mark(f.name, .unknown("$\(f.name) is the loop variable"))
            case .coproc(let name?, _):
                mark(name, .unknown("$\(name) is set by coproc"))
            default:
                break
            }
            for r in s.redirects { if let v = r.fdVariable { mark(v, .integer) } }
        case .arithmetic(let a):
            markArithmetic(a.tokens)
        case .part(.parameter(let p)):
            if case .assignDefault = p.op { mark(p.name, .unknown("$\(p.name) is assigned by ${\(p.name):=…}")) }
        default:
            break
        }
        return true
    }

    private mutating func markArithmetic(_ tokens: [ArithmeticToken]) {
        for (k, token) in tokens.enumerated() {
            guard case .name(let n, _) = token else { continue }
            let next: String? = k + 1 < tokens.count ? { if case .op(let o) = tokens[k + 1] { return o } else { return nil } }() : nil
            let previous: String? = k > 0 ? { if case .op(let o) = tokens[k - 1] { return o } else { return nil } }() : nil
            let assigns = next.map { ($0.hasSuffix("=") && !["==", "!=", "<=", ">="].contains($0)) || $0 == "++" || $0 == "--" } ?? false
            if assigns || previous == "++" || previous == "--" { mark(n, .integer) }
        }
    }
}
