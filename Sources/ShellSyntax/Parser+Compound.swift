// Compound commands: if, while/until, for/select, case, { }, [[ ]], function, coproc.

extension Parser {
    static let compoundStarters: Set<String> = ["if", "while", "until", "for", "select", "case", "{", "[["]

    mutating func parseCompound(_ word: String, start: Int) throws -> Statement {
        switch word {
        case "if":
            return try finishCompound(.ifClause(parseIf()), start: start)
        case "while", "until":
            let open = i
            consumeReserved(word)
            let condition = try nonEmptyList(before: "do", opener: word, openedAt: open)
            try expectReserved("do", closing: word, openedAt: open)
            let body = try nonEmptyList(before: "done", opener: word, openedAt: open)
            try expectReserved("done", closing: word, openedAt: open)
            return try finishCompound(.loop(LoopClause(until: word == "until", condition: condition, body: body)), start: start)
        case "for", "select":
            return try finishCompound(parseFor(select: word == "select"), start: start)
        case "case":
            return try finishCompound(.caseClause(parseCase()), start: start)
        case "{":
            let open = i
            consumeReserved("{")
            let body = try nonEmptyList(before: "}", opener: "{", openedAt: open)
            try expectReserved("}", closing: "{", openedAt: open)
            return try finishCompound(.group(body), start: start)
        case "[[":
            return try finishCompound(.conditional(parseConditional()), start: start)
        case "function":
            consumeReserved("function")
            skipBlanks()
            if atEnd { throw endOfInput("expected a function name after `function`") }
            let nameWord = try parseWord()
            guard let name = nameWord.plainLiteral, !name.isEmpty else {
                throw fail("`function` needs a plain name", at: i)
            }
            skipBlanks()
            if peek() == .lparen {
                advance()
                skipBlanks()
                guard peek() == .rparen else { throw fail("expected `)` after `function \(name) (`") }
                advance()
            }
            return try parseFunctionDefinitionBody(name: name, start: start)
        case "coproc":
            return try parseCoproc(start: start)
        default:
            throw fail("unexpected `\(word)`")
        }
    }

    mutating func nonEmptyList(before closer: String, opener: String, openedAt: Int) throws -> Script {
        let list = try parseList(closeParen: false, inCase: false)
        if list.statements.isEmpty {
            try skipLinebreaks()
            if atEnd { throw endOfInput("expected `\(closer)` to close `\(opener)`") }
            throw fail("expected a command before \(describeNext())")
        }
        return list
    }

    mutating func parseIf() throws -> IfClause {
        let open = i
        consumeReserved("if")
        var branches: [(condition: Script, body: Script)] = []
        var elseBody: Script?
        var keyword = "if"
        while true {
            let condition = try nonEmptyList(before: "then", opener: keyword, openedAt: open)
            try expectReserved("then", closing: keyword, openedAt: open)
            let body = try nonEmptyList(before: "fi", opener: "if", openedAt: open)
            branches.append((condition, body))
            try skipLinebreaks()
            switch peekReserved() {
            case "elif":
                consumeReserved("elif")
                keyword = "elif"
                continue
            case "else":
                consumeReserved("else")
                elseBody = try nonEmptyList(before: "fi", opener: "if", openedAt: open)
                try expectReserved("fi", closing: "if", openedAt: open)
            default:
                try expectReserved("fi", closing: "if", openedAt: open)
            }
            return IfClause(branches: branches, elseBody: elseBody)
        }
    }

    mutating func parseFor(select: Bool) throws -> Command {
        let open = i
        let keyword = select ? "select" : "for"
        consumeReserved(keyword)
        skipBlanks()
        if !select && peek() == .lparen && peek(1) == .lparen {
            advance(2)
            let initializer = try parseArithmetic(terminator: .semicolon)
            let condition = try parseArithmetic(terminator: .semicolon)
            let update = try parseArithmetic(terminator: .doubleParen)
            skipBlanks()
            if peek() == .semi { advance() }
            let body = try parseDoGroup(opener: keyword, openedAt: open)
            return .forArithmetic(ForArithmeticClause(initializer: initializer, condition: condition,
                                                      update: update, body: body))
        }
        if atEnd { throw endOfInput("expected a variable name after `\(keyword)`") }
        let nameWord = try parseWord()
        guard let name = nameWord.plainLiteral, Parser.isName(name) else {
            throw fail("`\(keyword)` needs a variable name", at: i)
        }
        try skipLinebreaks()
        var items: [Word]?
        if peekReserved() == "in" {
            consumeReserved("in")
            var list: [Word] = []
            while true {
                skipBlanks()
                guard let c = peek() else { break }
                if c == .semi { advance(); break }
                if c == .nl || c == .hash { break }
                if !startsWord(c) { throw fail("unexpected \(describeNext()) in the word list of `\(keyword)`") }
                list.append(try parseWord())
            }
            items = list
        } else if peek() == .semi {
            advance()
        }
        let body = try parseDoGroup(opener: keyword, openedAt: open)
        return .forIn(ForInClause(select: select, name: name, items: items, body: body))
    }

    /// `do … done`, or `{ … }` which bash also accepts as a loop body.
    mutating func parseDoGroup(opener: String, openedAt: Int) throws -> Script {
        try skipLinebreaks()
        if peekReserved() == "{" {
            let open = i
            consumeReserved("{")
            let body = try nonEmptyList(before: "}", opener: "{", openedAt: open)
            try expectReserved("}", closing: "{", openedAt: open)
            return body
        }
        try expectReserved("do", closing: opener, openedAt: openedAt)
        let body = try nonEmptyList(before: "done", opener: opener, openedAt: openedAt)
        try expectReserved("done", closing: opener, openedAt: openedAt)
        return body
    }

    mutating func parseCase() throws -> CaseClause {
        consumeReserved("case")
        skipBlanks()
        if atEnd { throw endOfInput("expected a word after `case`") }
        let subject = try parseWord()
        try skipLinebreaks()
        guard peekReserved() == "in" else {
            if atEnd { throw endOfInput("expected `in` after `case WORD`") }
            throw fail("expected `in` after `case WORD`, found \(describeNext())")
        }
        consumeReserved("in")
        var items: [CaseItem] = []
        while true {
            try skipLinebreaks()
            if peekReserved() == "esac" {
                consumeReserved("esac")
                break
            }
            if atEnd { throw endOfInput("expected `esac` to close `case`") }
            if peek() == .lparen { advance() }
            var patterns: [Word] = []
            while true {
                skipBlanks()
                guard let c = peek() else { throw endOfInput("expected `)` after a case pattern") }
                if !startsWord(c) { throw fail("expected a case pattern, found \(describeNext())") }
                patterns.append(try parseWord())
                skipBlanks()
                if peek() == .pipe { advance(); continue }
                break
            }
            guard peek() == .rparen else {
                if atEnd { throw endOfInput("expected `)` after a case pattern") }
                throw fail("expected `)` after a case pattern, found \(describeNext())")
            }
            advance()
            let body = try parseList(closeParen: false, inCase: true)
            skipBlanks()
            var terminator = CaseTerminator.breakCase
            if at(";;&") {
                advance(3)
                terminator = .testNext
            } else if at(";;") {
                advance(2)
            } else if at(";&") {
                advance(2)
                terminator = .fallThrough
            } else if peekReserved() != "esac" {
                if atEnd { throw endOfInput("expected `esac` to close `case`") }
                throw fail("expected `;;` or `esac`, found \(describeNext())")
            }
            items.append(CaseItem(patterns: patterns, body: body, terminator: terminator))
        }
        return CaseClause(subject: subject, items: items)
    }

    /// `[[ … ]]`: inside, `<` and `>` compare strings and words are neither split nor globbed.
    mutating func parseConditional() throws -> ConditionalExpression {
        let start = here
        consumeReserved("[[")
        var tokens: [ConditionalToken] = []
        while true {
            skipBlanks()
            if peek() == .nl {
                try consumeNewline()
                continue
            }
            guard let c = peek() else { throw endOfInput("expected `]]` to close `[[`") }
            if c == .rbracket && peek(1) == .rbracket && (peek(2).map { $0.isMeta } ?? true) {
                advance(2)
                break
            }
            var regex = false
            if case .word(let w)? = tokens.last, w.plainLiteral == "=~" { regex = true }
            if regex {
                tokens.append(.word(try parseWord(mode: .regex)))
            } else if (c == .amp && peek(1) == .amp) || (c == .pipe && peek(1) == .pipe) {
                tokens.append(.op(c == .amp ? "&&" : "||"))
                advance(2)
            } else if c == .lparen || c == .rparen || ((c == .lt || c == .gt) && peek(1) != .lparen) {
                tokens.append(.op(String(UnicodeScalar(c))))
                advance()
            } else if !startsWord(c) {
                throw fail("unexpected \(describeNext()) inside `[[ ]]`")
            } else {
                tokens.append(.word(try parseWord()))
            }
        }
        if tokens.isEmpty { throw fail("`[[ ]]` needs an expression") }
        return ConditionalExpression(tokens: tokens, offset: start)
    }

    mutating func parseCoproc(start: Int) throws -> Statement {
        consumeReserved("coproc")
        skipBlanks()
        if atEnd { throw endOfInput("expected a command after `coproc`") }
        if peek() == .lparen || peekReserved().map({ Parser.compoundStarters.contains($0) }) == true {
            let body = try parseCommand()
            return Statement(command: .coproc(name: nil, body: body), redirects: [], negated: false,
                             background: false, offset: at(start))
        }
        let save = i
        let word = try parseWord()
        if let name = word.plainLiteral, Parser.isName(name) {
            skipBlanks()
            if peek() == .lparen || peekReserved().map({ Parser.compoundStarters.contains($0) }) == true {
                let body = try parseCommand()
                return Statement(command: .coproc(name: name, body: body), redirects: [], negated: false,
                                 background: false, offset: at(start))
            }
        }
        i = save
        let body = try parseSimpleCommand()
        return Statement(command: .coproc(name: nil, body: body), redirects: [], negated: false,
                         background: false, offset: at(start))
    }

    static func isName(_ s: String) -> Bool {
        guard let first = s.utf8.first, first.isNameStart else { return false }
        return s.utf8.allSatisfy { $0.isNameChar }
    }
}
