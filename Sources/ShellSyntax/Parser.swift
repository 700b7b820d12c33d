// A recursive-descent parser for bash 5.2 that works on bytes, as bash's own lexer does, so that
// the tree it builds is the tree bash would build for the same line: same word boundaries, same
// reserved words, same here-document bodies. Where bash is context-sensitive (reserved words only
// in command position, `$((` versus `$( (`), the parser is too.

extension UInt8 {
    static let nl = UInt8(ascii: "\n"), sp = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
    static let bslash = UInt8(ascii: "\\"), squote = UInt8(ascii: "'"), dquote = UInt8(ascii: "\"")
    static let bquote = UInt8(ascii: "`"), dollar = UInt8(ascii: "$"), hash = UInt8(ascii: "#")
    static let lparen = UInt8(ascii: "("), rparen = UInt8(ascii: ")")
    static let lbrace = UInt8(ascii: "{"), rbrace = UInt8(ascii: "}")
    static let lbracket = UInt8(ascii: "["), rbracket = UInt8(ascii: "]")
    static let semi = UInt8(ascii: ";"), amp = UInt8(ascii: "&"), pipe = UInt8(ascii: "|")
    static let lt = UInt8(ascii: "<"), gt = UInt8(ascii: ">"), eq = UInt8(ascii: "=")
    static let plus = UInt8(ascii: "+"), minus = UInt8(ascii: "-"), colon = UInt8(ascii: ":")
    static let question = UInt8(ascii: "?"), star = UInt8(ascii: "*"), at = UInt8(ascii: "@")
    static let bang = UInt8(ascii: "!"), percent = UInt8(ascii: "%"), slash = UInt8(ascii: "/")
    static let caret = UInt8(ascii: "^"), comma = UInt8(ascii: ","), tilde = UInt8(ascii: "~")
    static let underscore = UInt8(ascii: "_")

    var isBlank: Bool { self == .sp || self == .tab }
    var isDigit: Bool { self >= 48 && self <= 57 }
    var isNameStart: Bool { (self >= 65 && self <= 90) || (self >= 97 && self <= 122) || self == .underscore }
    var isNameChar: Bool { isNameStart || isDigit }
    /// Characters that end an unquoted word (bash's `shellbreak`).
    var isMeta: Bool {
        self == .sp || self == .tab || self == .nl || self == .pipe || self == .amp || self == .semi
            || self == .lparen || self == .rparen || self == .lt || self == .gt
    }
}

/// An internal error; `ShellSyntax` turns its offset into a line and column.
struct ParseFailure: Error {
    var offset: Int
    var message: String
    var incomplete: Bool
}

/// Raised when `((` turns out not to be arithmetic; the caller re-parses it as two subshells.
struct NotArithmetic: Error {}

enum MemoNode {
    case part(WordPart)
    case statement(Statement)
}

struct MemoEntry {
    let node: MemoNode
    let end: Int
    let pendingBefore: [HereDocument]
    let pendingAfter: [HereDocument]
    /// How many levels of nesting the construct reached below its start.
    let relativeDepth: Int
}

struct Parser {
    let src: [UInt8]
    var i = 0
    var depth: Int
    let limits: Limits
    var pendingHereDocs: [HereDocument] = []
    /// For derived text (a backquote body, a here-document body): the original offset of each byte.
    let origin: [Int]?
    /// Bytes looked at, sub-parsers included: a measure of work that tests hold to linear growth.
    var steps = 0
    /// Finished `$(…)`/`(…)` constructs by start offset. `$((` and `((` are tried as arithmetic
    /// first and re-parsed as substitution or subshell when that fails; without this, nested
    /// failures would re-parse the same text exponentially often.
    var memo: [Int: MemoEntry] = [:]
    /// The deepest nesting reached, so a reused construct still counts toward the limit.
    var deepest = 0

    init(_ src: [UInt8], limits: Limits, depth: Int = 0, origin: [Int]? = nil) {
        self.src = src
        self.limits = limits
        self.depth = depth
        self.origin = origin
    }

    // MARK: Positions and errors

    /// The offset in the original line of local offset `k`.
    func at(_ k: Int) -> Int {
        guard let origin else { return k }
        if origin.isEmpty { return 0 }
        return k < origin.count ? origin[k] : origin[origin.count - 1] + 1
    }

    var here: Int { at(i) }

    func fail(_ message: String, at k: Int? = nil, incomplete: Bool = false) -> ParseFailure {
        ParseFailure(offset: at(k ?? i), message: message, incomplete: incomplete)
    }

    func endOfInput(_ what: String) -> ParseFailure {
        ParseFailure(offset: at(src.count), message: what, incomplete: true)
    }

    mutating func enter(at k: Int) throws {
        depth += 1
        deepest = max(deepest, depth)
        if depth > limits.maxDepth {
            throw fail("nesting deeper than \(limits.maxDepth) levels", at: k)
        }
    }

    mutating func leave() { depth -= 1 }

    // MARK: Reading bytes

    /// Skips `\` newline pairs, which bash removes before it tokenizes (outside single quotes,
    /// comments and quoted here-documents).
    mutating func skipContinuations() {
        while i + 1 < src.count && src[i] == .bslash && src[i + 1] == .nl { i += 2 }
    }

    mutating func peek() -> UInt8? {
        steps += 1
        skipContinuations()
        return i < src.count ? src[i] : nil
    }

    /// The byte `n` places after the current one, looking through line continuations.
    mutating func peek(_ n: Int) -> UInt8? {
        skipContinuations()
        var k = i, left = n
        while k < src.count {
            steps += 1
            if src[k] == .bslash && k + 1 < src.count && src[k + 1] == .nl { k += 2; continue }
            if left == 0 { return src[k] }
            left -= 1
            k += 1
        }
        return nil
    }

    mutating func advance(_ n: Int = 1) {
        for _ in 0..<n {
            skipContinuations()
            if i < src.count { i += 1 }
        }
    }

    mutating func at(_ s: String) -> Bool {
        for (n, b) in s.utf8.enumerated() where peek(n) != b { return false }
        return true
    }

    var atEnd: Bool { mutating get { peek() == nil } }

    mutating func skipBlanks() {
        while let c = peek(), c.isBlank { i += 1 }
    }

    mutating func skipComment() {
        guard peek() == .hash else { return }
        while i < src.count && src[i] != .nl { i += 1 }
    }

    /// Consumes one newline token and then the bodies of the here-documents waiting for it.
    mutating func consumeNewline() throws {
        i += 1
        if !pendingHereDocs.isEmpty { try readHereDocBodies() }
    }

    /// Blanks, comments and newlines between commands.
    mutating func skipLinebreaks() throws {
        while true {
            skipBlanks()
            skipComment()
            guard peek() == .nl else { return }
            try consumeNewline()
        }
    }

    /// The reserved word at the cursor, if one is there as a whole unquoted word. Called at
    /// every command position, so it compares bytes in place instead of building a string.
    mutating func peekReserved() -> String? {
        guard let first = peek(), let candidates = Parser.reservedByFirstByte[first] else { return nil }
        candidates: for (word, bytes) in candidates {
            for (k, b) in bytes.enumerated() where peek(k) != b { continue candidates }
            guard peek(bytes.count).map({ $0.isMeta }) ?? true else { continue }
            // With extglob (jitsh runs bash with it on), `!(` starts a pattern word, not a negation.
            if word == "!" && peek(1) == .lparen { return nil }
            return word
        }
        return nil
    }

    static let reservedWords: [String] = [
        "if", "then", "elif", "else", "fi", "do", "done", "case", "esac", "while", "until", "for",
        "select", "function", "time", "coproc", "{", "}", "!", "[[", "]]", "in",
    ]

    static let reservedByFirstByte: [UInt8: [(String, [UInt8])]] = Dictionary(
        grouping: reservedWords.map { ($0, Array($0.utf8)) }, by: { $0.1[0] })

    /// Words that close an enclosing construct; a list stops in front of them.
    static let closers: Set<String> = ["then", "elif", "else", "fi", "do", "done", "esac", "}"]

    mutating func consumeReserved(_ word: String) {
        advance(word.utf8.count)
    }

    mutating func expectReserved(_ word: String, closing opener: String, openedAt: Int) throws {
        try skipLinebreaks()
        if peekReserved() == word {
            consumeReserved(word)
            return
        }
        if atEnd {
            throw endOfInput("expected `\(word)` to close `\(opener)`")
        }
        throw fail("expected `\(word)` to close `\(opener)` at offset \(at(openedAt)), found \(describeNext())")
    }

    mutating func describeNext() -> String {
        guard let c = peek() else { return "end of input" }
        if c == .nl { return "newline" }
        var k = 0
        var bytes: [UInt8] = []
        let operatorBytes: Set<UInt8> = [.semi, .amp, .pipe, .lt, .gt]
        if operatorBytes.contains(c) {
            while let b = peek(k), k < 3, operatorBytes.contains(b) { bytes.append(b); k += 1 }
        } else {
            while let b = peek(k), k < 12, !(b.isBlank || b == .nl) || k == 0 {
                bytes.append(b)
                k += 1
                if b.isMeta { break }
            }
        }
        return "`" + String(decoding: bytes, as: UTF8.self) + "`"
    }

    // MARK: Lists

    mutating func parseScript() throws -> Script {
        let script = try parseList(closeParen: false, inCase: false)
        skipBlanks()
        if !atEnd {
            throw fail("unexpected \(describeNext())")
        }
        if let doc = pendingHereDocs.first {
            throw endOfInput("here-document wanted `\(doc.delimiter)` before the end of input")
        }
        return script
    }

    /// Statements up to the end of input, a closing reserved word, `)` or a case terminator.
    mutating func parseList(closeParen: Bool, inCase: Bool) throws -> Script {
        var statements: [Statement] = []
        while true {
            try skipLinebreaks()
            guard let c = peek() else { break }
            if c == .rparen && (closeParen || inCase) { break }
            if inCase && c == .semi && (peek(1) == .semi || peek(1) == .amp) { break }
            if let word = peekReserved(), Parser.closers.contains(word) || (inCase && word == "esac") { break }
            if c == .semi || c == .amp || c == .pipe || c == .rparen {
                throw fail("unexpected \(describeNext())")
            }
            var statement = try parseAndOr()
            skipBlanks()
            if peek() == .amp && peek(1) != .amp && peek(1) != .gt {
                advance()
                statement.background = true
            } else if peek() == .semi && peek(1) != .semi && peek(1) != .amp {
                advance()
            } else if let c = peek(), c != .nl, c != .hash {
                let closes = (c == .rparen && (closeParen || inCase))
                    || (inCase && c == .semi)
                    || (peekReserved().map { Parser.closers.contains($0) || $0 == "esac" } ?? false)
                if !closes { throw fail("unexpected \(describeNext())") }
            }
            statements.append(statement)
        }
        return Script(statements: statements)
    }

    mutating func parseAndOr() throws -> Statement {
        let first = try parsePipeline()
        var rest: [AndOrLink] = []
        while true {
            skipBlanks()
            let op: AndOrOperator
            if peek() == .amp && peek(1) == .amp { op = .and } else if peek() == .pipe && peek(1) == .pipe { op = .or } else { break }
            advance(2)
            try skipLinebreaks()
            if atEnd { throw endOfInput("expected a command after `\(op.rawValue)`") }
            rest.append(AndOrLink(op: op, statement: try parsePipeline()))
        }
        if rest.isEmpty { return first }
        return Statement(command: .andOr(AndOrList(first: first, rest: rest)), redirects: [],
                         negated: false, background: false, offset: first.offset)
    }

    mutating func parsePipeline() throws -> Statement {
        skipBlanks()
        let start = here
        if peekReserved() == "time" {
            consumeReserved("time")
            try enter(at: i)
            defer { leave() }
            skipBlanks()
            var posix = false
            if peek() == .minus && peek(1) == UInt8(ascii: "p") && (peek(2).map { $0.isMeta } ?? true) {
                advance(2)
                posix = true
                skipBlanks()
            }
            if peek() == .minus && peek(1) == .minus && (peek(2).map { $0.isMeta } ?? true) {
                advance(2)
                skipBlanks()
            }
            var body: Statement?
            if let c = peek(), c != .nl, c != .semi, c != .amp, c != .rparen {
                body = try parsePipeline()
            }
            return Statement(command: .time(posix: posix, body: body), redirects: [],
                             negated: false, background: false, offset: start)
        }
        if peekReserved() == "!" {
            consumeReserved("!")
            try enter(at: i)
            defer { leave() }
            var inner = try parsePipeline()
            inner.negated.toggle()
            return inner
        }
        var commands = [try parseCommand()]
        var pipesStderr: [Bool] = []
        while true {
            skipBlanks()
            guard peek() == .pipe, peek(1) != .pipe else { break }
            advance()
            if peek() == .amp { advance(); pipesStderr.append(true) } else { pipesStderr.append(false) }
            try skipLinebreaks()
            if atEnd { throw endOfInput("expected a command after `|`") }
            commands.append(try parseCommand())
        }
        if commands.count == 1 { return commands[0] }
        return Statement(command: .pipeline(Pipeline(commands: commands, pipesStderr: pipesStderr)),
                         redirects: [], negated: false, background: false, offset: start)
    }

    // MARK: Commands

    mutating func parseCommand() throws -> Statement {
        skipBlanks()
        let start = i
        guard let c = peek() else { throw endOfInput("expected a command") }
        if c == .lparen {
            guard case .statement(let s) = try memoized(start, { try $0.parseParenthesized(start: start) }) else {
                throw fail("internal: memo kind")
            }
            return s
        }
        if let word = peekReserved() {
            switch word {
            case "if", "while", "until", "for", "select", "case", "{", "[[", "function", "coproc":
                try enter(at: i)
                defer { leave() }
                return try parseCompound(word, start: start)
            case "}", "then", "elif", "else", "fi", "do", "done", "esac", "]]":
                throw fail("unexpected `\(word)`")
            default:
                break
            }
        }
        return try parseSimpleCommand()
    }

    /// `(( … ))` when it is arithmetic, else `( … )`.
    mutating func parseParenthesized(start: Int) throws -> MemoNode {
        try enter(at: i)
        defer { leave() }
        if peek(1) == .lparen {
            let save = (i, pendingHereDocs)
            do {
                advance(2)
                let arith = try parseArithmetic(terminator: .doubleParen)
                return .statement(try finishCompound(.arithmetic(arith), start: start))
            } catch is NotArithmetic {
                (i, pendingHereDocs) = save
            }
        }
        advance()
        let body = try parseList(closeParen: true, inCase: false)
        skipBlanks()
        guard peek() == .rparen else {
            if atEnd { throw endOfInput("expected `)` to close `(`") }
            throw fail("expected `)` to close `(`, found \(describeNext())")
        }
        advance()
        return .statement(try finishCompound(.subshell(body), start: start))
    }

    mutating func memoized(_ start: Int, _ parse: (inout Parser) throws -> MemoNode) throws -> MemoNode {
        if let m = memo[start], m.pendingBefore.elementsEqual(pendingHereDocs, by: ===) {
            if depth + m.relativeDepth > limits.maxDepth {
                throw fail("nesting deeper than \(limits.maxDepth) levels", at: start)
            }
            deepest = max(deepest, depth + m.relativeDepth)
            i = m.end
            pendingHereDocs = m.pendingAfter
            return m.node
        }
        let before = pendingHereDocs
        let outerDeepest = deepest
        deepest = depth
        let node = try parse(&self)
        let relative = deepest - depth
        deepest = max(outerDeepest, deepest)
        memo[start] = MemoEntry(node: node, end: i, pendingBefore: before, pendingAfter: pendingHereDocs, relativeDepth: relative)
        return node
    }

    /// Redirections after a compound command apply to all of it.
    mutating func finishCompound(_ command: Command, start: Int) throws -> Statement {
        var redirects: [Redirect] = []
        while true {
            skipBlanks()
            guard let r = try parseRedirectIfPresent() else { break }
            redirects.append(r)
        }
        return Statement(command: command, redirects: redirects, negated: false, background: false, offset: at(start))
    }

    mutating func parseSimpleCommand() throws -> Statement {
        let start = i
        var assignments: [Assignment] = []
        var words: [Word] = []
        var redirects: [Redirect] = []
        var declaration = false
        while true {
            skipBlanks()
            guard let c = peek() else { break }
            if c == .hash { skipComment(); break }
            if let r = try parseRedirectIfPresent() {
                redirects.append(r)
                continue
            }
            if c == .lparen {
                if words.count == 1, assignments.isEmpty, redirects.isEmpty, let name = words[0].plainLiteral, !name.isEmpty {
                    return try parseFunctionBody(name: name, start: start)
                }
                throw fail("unexpected `(`")
            }
            if !startsWord(c) { break }
            let allowArray = words.isEmpty || declaration
            let word = try parseWord(mode: .normal, allowArrayAssignment: allowArray)
            if words.isEmpty, let assignment = word.assignment {
                assignments.append(assignment)
            } else {
                if words.isEmpty, let name = word.plainLiteral {
                    declaration = Parser.declarationBuiltins.contains(name)
                }
                words.append(word)
            }
        }
        if words.isEmpty && assignments.isEmpty && redirects.isEmpty {
            throw fail("expected a command, found \(describeNext())")
        }
        return Statement(command: .simple(SimpleCommand(assignments: assignments, words: words)),
                         redirects: redirects, negated: false, background: false, offset: at(start))
    }

    /// A word starts here: not a metacharacter, or `<(`/`>(` (a process substitution).
    mutating func startsWord(_ c: UInt8) -> Bool {
        !c.isMeta || ((c == .lt || c == .gt) && peek(1) == .lparen)
    }

    static let declarationBuiltins: Set<String> = ["declare", "typeset", "local", "export", "readonly"]

    mutating func parseFunctionBody(name: String, start: Int) throws -> Statement {
        advance() // (
        skipBlanks()
        guard peek() == .rparen else { throw fail("expected `)` after `\(name) (`") }
        advance()
        return try parseFunctionDefinitionBody(name: name, start: start)
    }

    mutating func parseFunctionDefinitionBody(name: String, start: Int) throws -> Statement {
        try skipLinebreaks()
        if atEnd { throw endOfInput("expected the body of function `\(name)`") }
        let bodyStart = i
        try enter(at: i)
        defer { leave() }
        let body = try parseCommand()
        if case .simple = body.command {
            throw fail("the body of function `\(name)` must be a compound command", at: bodyStart)
        }
        return Statement(command: .function(FunctionDefinition(name: name, body: body)), redirects: [],
                         negated: false, background: false, offset: at(start))
    }
}

extension Word {
    /// `NAME=value`, `NAME+=value`, `NAME[sub]=value` when the name part is unquoted.
    var assignment: Assignment? {
        guard case .literal(let first)? = parts.first else { return nil }
        let bytes = Array(first.utf8)
        guard let b0 = bytes.first, b0.isNameStart else { return nil }
        var k = 1
        while k < bytes.count, bytes[k].isNameChar { k += 1 }
        let name = String(decoding: bytes[0..<k], as: UTF8.self)
        if k < bytes.count, bytes[k] == .eq || (bytes[k] == .plus && k + 1 < bytes.count && bytes[k + 1] == .eq) {
            let append = bytes[k] == .plus
            let valueStart = k + (append ? 2 : 1)
            var rest = parts
            let tail = String(decoding: bytes[valueStart...], as: UTF8.self)
            if tail.isEmpty { rest.removeFirst() } else { rest[0] = .literal(tail) }
            return Assignment(name: name, index: nil, append: append,
                              value: arrayOrScalar(rest), offset: offset)
        }
        guard k < bytes.count, bytes[k] == .lbracket else { return nil }
        // NAME[ … ]= across parts: the subscript may hold quotes and expansions.
        var subscriptParts: [WordPart] = []
        let head = String(decoding: bytes[(k + 1)...], as: UTF8.self)
        var pieces: [WordPart] = head.isEmpty ? [] : [.literal(head)]
        pieces.append(contentsOf: parts.dropFirst())
        var bracketDepth = 0
        for (index, part) in pieces.enumerated() {
            guard case .literal(let text) = part else { subscriptParts.append(part); continue }
            let tb = Array(text.utf8)
            var j = 0
            while j < tb.count {
                if tb[j] == .lbracket { bracketDepth += 1 }
                if tb[j] == .rbracket {
                    if bracketDepth > 0 { bracketDepth -= 1; j += 1; continue }
                    var after = j + 1
                    var append = false
                    if after < tb.count, tb[after] == .plus { append = true; after += 1 }
                    guard after < tb.count, tb[after] == .eq else { return nil }
                    if j > 0 { subscriptParts.append(.literal(String(decoding: tb[0..<j], as: UTF8.self))) }
                    var rest: [WordPart] = []
                    if after + 1 < tb.count { rest.append(.literal(String(decoding: tb[(after + 1)...], as: UTF8.self))) }
                    rest.append(contentsOf: pieces[(index + 1)...])
                    let sub = Word(parts: subscriptParts, offset: offset, end: end)
                    return Assignment(name: name, index: sub, append: append,
                                      value: arrayOrScalar(rest), offset: offset)
                }
                j += 1
            }
            subscriptParts.append(part)
        }
        return nil
    }

    private func arrayOrScalar(_ rest: [WordPart]) -> AssignmentValue {
        if rest.count == 1, case .arrayLiteral(let elements) = rest[0] {
            return .array(elements)
        }
        return .scalar(Word(parts: rest, offset: offset, end: end))
    }
}
