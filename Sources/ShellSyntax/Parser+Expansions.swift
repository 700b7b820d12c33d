// Everything that starts with `$`, and arithmetic.

enum ArithmeticTerminator {
    case doubleParen      // ))
    case bracket          // ]  ($[ … ] and subscripts)
    case semicolon        // ;  (for ((a; b; c)))
    case substringOffset  // : or }  (${x:off:len})
    case substringLength  // }
    case endOfInput       // a standalone expression (`let` arguments, subscripts)
}

extension Parser {
    static let specialParameters: Set<UInt8> = [.at, .star, .hash, .question, .minus, .dollar, .bang, UInt8(ascii: "0")]

    /// Parses an expansion at `$`; nil when the `$` is an ordinary character.
    mutating func parseDollar(inDoubleQuotes: Bool) throws -> WordPart? {
        let start = i
        guard let n = peek(1) else { return nil }
        switch n {
        case .lparen:
            guard case .part(let part) = try memoized(start, { try $0.parseDollarParen(start: start) }) else {
                throw fail("internal: memo kind")
            }
            return part
        case .lbracket:
            advance(2)
            try enter(at: start)
            defer { leave() }
            return .arithmetic(try parseArithmetic(terminator: .bracket, start: start))
        case .lbrace:
            return .parameter(try parseBracedParameter(inDoubleQuotes: inDoubleQuotes))
        case .squote where !inDoubleQuotes:
            advance()
            return .ansiC(try readANSIC())
        case .dquote where !inDoubleQuotes:
            advance()
            return .localized(try parseDoubleQuoted())
        default:
            if n.isNameStart {
                advance()
                var name: [UInt8] = []
                while let c = peek(), c.isNameChar { name.append(c); i += 1 }
                return .parameter(ParameterExpansion(name: String(decoding: name, as: UTF8.self), short: true,
                                                     length: false, indirect: false, index: nil, op: nil, offset: at(start)))
            }
            if n.isDigit || Parser.specialParameters.contains(n) {
                advance(2)
                return .parameter(ParameterExpansion(name: String(UnicodeScalar(n)), short: true, length: false,
                                                     indirect: false, index: nil, op: nil, offset: at(start)))
            }
            return nil
        }
    }

    /// `$(( … ))` when it is arithmetic, else `$( … )`.
    mutating func parseDollarParen(start: Int) throws -> MemoNode {
        if peek(2) == .lparen {
            let save = (i, pendingHereDocs)
            do {
                advance(3)
                try enter(at: start)
                defer { leave() }
                return .part(.arithmetic(try parseArithmetic(terminator: .doubleParen, start: start)))
            } catch is NotArithmetic {
                (i, pendingHereDocs) = save
            }
        }
        advance(2)
        try enter(at: start)
        defer { leave() }
        let script = try parseList(closeParen: true, inCase: false)
        skipBlanks()
        guard peek() == .rparen else {
            if atEnd { throw ParseFailure(offset: at(start), message: "unterminated `$(`", incomplete: true) }
            throw fail("expected `)` to close `$(`, found \(describeNext())")
        }
        advance()
        return .part(.commandSubstitution(script, backquoted: false, offset: at(start)))
    }

    mutating func parseBracedParameter(inDoubleQuotes: Bool) throws -> ParameterExpansion {
        let start = i
        advance(2) // ${
        try enter(at: start)
        defer { leave() }
        var length = false, indirect = false
        func startsName(_ c: UInt8?) -> Bool {
            guard let c else { return false }
            return c.isNameStart || c.isDigit || Parser.specialParameters.contains(c)
        }
        if peek() == .hash, peek(1) != .rbrace, startsName(peek(1)) {
            // ${#x} is a length unless the # itself is the parameter followed by an operator.
            var k = 1
            if let c = peek(1), c.isNameStart { while let d = peek(k), d.isNameChar { k += 1 } } else { k = 2 }
            if peek(k) == .rbrace || peek(k) == .lbracket { length = true; advance() }
        } else if peek() == .bang, peek(1) != .rbrace, startsName(peek(1)) {
            indirect = true
            advance()
        }
        var name: [UInt8] = []
        guard let c = peek() else { throw ParseFailure(offset: at(start), message: "unterminated `${`", incomplete: true) }
        if c.isNameStart {
            while let d = peek(), d.isNameChar { name.append(d); i += 1 }
        } else if c.isDigit {
            while let d = peek(), d.isDigit { name.append(d); i += 1 }
        } else if Parser.specialParameters.contains(c) {
            name.append(c)
            i += 1
        } else {
            throw fail("bad substitution: `${` needs a parameter name")
        }
        var index: Subscript?
        if peek() == .lbracket, name.first.map({ $0.isNameStart }) == true {
            if (peek(1) == .at || peek(1) == .star) && peek(2) == .rbracket {
                index = peek(1) == .at ? .all : .star
                advance(3)
            } else {
                advance()
                index = .index(try parseSubscriptWord())
            }
        }
        var p = ParameterExpansion(name: String(decoding: name, as: UTF8.self), short: false, length: length,
                                   indirect: indirect, index: index, op: nil, offset: at(start))
        if indirect, index == nil, let c = peek(), (c == .star || c == .at), peek(1) == .rbrace {
            p.op = .namesWithPrefix(star: c == .star)
            p.indirect = false
            advance()
        } else if indirect, let s = index, s == .all || s == .star, peek() == .rbrace {
            p.op = .arrayKeys(star: s == .star)
            p.indirect = false
        } else if !length {
            p.op = try parseParameterOperator(inDoubleQuotes: inDoubleQuotes)
        }
        guard peek() == .rbrace else {
            if atEnd { throw ParseFailure(offset: at(start), message: "unterminated `${`", incomplete: true) }
            throw fail("bad substitution: unexpected \(describeNext())")
        }
        advance()
        return p
    }

    mutating func parseParameterOperator(inDoubleQuotes: Bool) throws -> ParameterOperator? {
        guard let c = peek() else { return nil }
        var colon = false
        var k = 0
        if c == .colon {
            colon = true
            k = 1
            if let n = peek(1), ![UInt8.minus, .eq, .question, .plus].contains(n) {
                advance()
                let offset = try parseArithmetic(terminator: .substringOffset, start: i)
                var length: Arithmetic?
                if peek() == .colon {
                    advance()
                    length = try parseArithmetic(terminator: .substringLength, start: i)
                }
                return .substring(offset: offset, length: length)
            }
        }
        guard let o = peek(k) else { return nil }
        // POSIX: inside double quotes, single quotes in these four words are ordinary characters.
        let valueQuoting = inDoubleQuotes
        switch o {
        case .minus: advance(k + 1); return .useDefault(colon: colon, try parseBraceWord(literalSingleQuotes: valueQuoting))
        case .eq: advance(k + 1); return .assignDefault(colon: colon, try parseBraceWord(literalSingleQuotes: valueQuoting))
        case .question: advance(k + 1); return .errorIfUnset(colon: colon, try parseBraceWord(literalSingleQuotes: valueQuoting))
        case .plus: advance(k + 1); return .useAlternative(colon: colon, try parseBraceWord(literalSingleQuotes: valueQuoting))
        case _ where colon:
            return nil
        case .hash:
            let longest = peek(1) == .hash
            advance(longest ? 2 : 1)
            return .removePrefix(longest: longest, try parseBraceWord())
        case .percent:
            let longest = peek(1) == .percent
            advance(longest ? 2 : 1)
            return .removeSuffix(longest: longest, try parseBraceWord())
        case .slash:
            var mode = ReplaceMode.first
            switch peek(1) {
            case .slash?: mode = .all
            case .hash?: mode = .prefix
            case .percent?: mode = .suffix
            default: break
            }
            advance(mode == .first ? 1 : 2)
            let pattern = try parseBraceWord(stopAtSlash: true)
            var replacement: Word?
            if peek() == .slash {
                advance()
                replacement = try parseBraceWord()
            }
            return .replace(mode: mode, pattern: pattern, replacement: replacement)
        case .caret, .comma:
            let all = peek(1) == o
            advance(all ? 2 : 1)
            let pattern = peek() == .rbrace ? nil : try parseBraceWord()
            return .caseModification(upper: o == .caret, all: all, pattern: pattern)
        case .at:
            guard let t = peek(1), t.isNameStart else { throw fail("bad substitution: `@` needs an operator letter") }
            advance(2)
            return .transform(Character(UnicodeScalar(t)))
        default:
            return nil
        }
    }

    /// The word inside `${x:-word}` and friends: up to the matching `}`; blanks belong to it.
    mutating func parseBraceWord(stopAtSlash: Bool = false, literalSingleQuotes: Bool = false) throws -> Word {
        let start = i
        var b = PartBuilder()
        var braces = 0
        while true {
            guard let c = peek() else {
                throw ParseFailure(offset: at(start), message: "unterminated `${`", incomplete: true)
            }
            if c == .rbrace && braces == 0 { break }
            if c == .slash && stopAtSlash && braces == 0 { break }
            switch c {
            case .lbrace:
                braces += 1; b.literal.append(c); i += 1
            case .rbrace:
                braces -= 1; b.literal.append(c); i += 1
            case .bslash:
                i += 1
                if i < src.count {
                    let n = min(Parser.scalarLength(src[i]), src.count - i)
                    b.append(.escaped(String(decoding: src[i..<(i + n)], as: UTF8.self)))
                    i += n
                }
            case .squote where !literalSingleQuotes:
                b.append(.singleQuoted(try readSingleQuoted()))
            case .dquote:
                b.append(.doubleQuoted(try parseDoubleQuoted()))
            case .dollar:
                if let part = try parseDollar(inDoubleQuotes: false) { b.append(part) } else { b.literal.append(c); i += 1 }
            case .bquote:
                b.append(try parseBackquote(inDoubleQuotes: false))
            case .nl:
                b.literal.append(c); i += 1
            default:
                b.literal.append(c); i += 1
            }
        }
        return Word(parts: b.finish(), offset: at(start), end: here)
    }

    /// `a[…]`: up to the matching `]`.
    mutating func parseSubscriptWord() throws -> Word {
        let start = i
        var b = PartBuilder()
        var brackets = 0
        while true {
            guard let c = peek() else {
                throw ParseFailure(offset: at(start), message: "unterminated array subscript", incomplete: true)
            }
            if c == .rbracket && brackets == 0 { advance(); break }
            switch c {
            case .lbracket: brackets += 1; b.literal.append(c); i += 1
            case .rbracket: brackets -= 1; b.literal.append(c); i += 1
            case .squote: b.append(.singleQuoted(try readSingleQuoted()))
            case .dquote: b.append(.doubleQuoted(try parseDoubleQuoted()))
            case .bquote: b.append(try parseBackquote(inDoubleQuotes: false))
            case .dollar:
                if let part = try parseDollar(inDoubleQuotes: false) { b.append(part) } else { b.literal.append(c); i += 1 }
            case .bslash:
                i += 1
                if i < src.count { b.append(.escaped(String(UnicodeScalar(src[i])))); i += 1 }
            default:
                b.literal.append(c); i += 1
            }
        }
        return Word(parts: b.finish(), offset: at(start), end: here)
    }

    /// `$'…'`: decodes bash's ANSI-C escapes. A NUL ends the string, as in bash.
    mutating func readANSIC() throws -> String {
        let open = i - 1
        i += 1 // '
        var out: [UInt8] = []
        var truncated = false
        func put(_ b: UInt8) { if b == 0 { truncated = true } else if !truncated { out.append(b) } }
        func putScalar(_ v: UInt32) {
            if v == 0 { truncated = true; return }
            guard let s = UnicodeScalar(v) else { return }
            for b in String(Character(s)).utf8 { put(b) }
        }
        func hex(_ c: UInt8) -> UInt32? {
            switch c {
            case 48...57: return UInt32(c - 48)
            case 65...70: return UInt32(c - 55)
            case 97...102: return UInt32(c - 87)
            default: return nil
            }
        }
        while true {
            guard i < src.count else {
                throw ParseFailure(offset: at(open), message: "unterminated `$'`", incomplete: true)
            }
            let c = src[i]
            if c == .squote { i += 1; break }
            guard c == .bslash, i + 1 < src.count else { put(c); i += 1; continue }
            let e = src[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "a"): put(7)
            case UInt8(ascii: "b"): put(8)
            case UInt8(ascii: "e"), UInt8(ascii: "E"): put(27)
            case UInt8(ascii: "f"): put(12)
            case UInt8(ascii: "n"): put(10)
            case UInt8(ascii: "r"): put(13)
            case UInt8(ascii: "t"): put(9)
            case UInt8(ascii: "v"): put(11)
            case .bslash, .squote, .dquote, .question: put(e)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var v = UInt32(e - 48)
                var n = 1
                while n < 3, i < src.count, src[i] >= 48, src[i] <= 55 { v = v * 8 + UInt32(src[i] - 48); i += 1; n += 1 }
                put(UInt8(truncatingIfNeeded: v))
            case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                let maxDigits = e == UInt8(ascii: "x") ? 2 : (e == UInt8(ascii: "u") ? 4 : 8)
                var v: UInt32 = 0
                var n = 0
                while n < maxDigits, i < src.count, let d = hex(src[i]) { v = v &* 16 &+ d; i += 1; n += 1 }
                if n == 0 {
                    put(.bslash); put(e)
                } else if e == UInt8(ascii: "x") {
                    put(UInt8(truncatingIfNeeded: v))
                } else {
                    putScalar(v)
                }
            case UInt8(ascii: "c"):
                if i < src.count {
                    let x = src[i]
                    i += 1
                    put(x == .question ? 127 : (x & 0x1F))
                } else {
                    put(.bslash); put(e)
                }
            default:
                put(.bslash); put(e)
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else {
            throw ParseFailure(offset: at(open), message: "`$'…'` decodes to bytes that are not valid UTF-8", incomplete: false)
        }
        return text
    }

    // MARK: Arithmetic

    /// Tokens of an arithmetic expression up to its terminator. With `.doubleParen`, a `)` that is
    /// not followed by another `)` means this was never arithmetic (`$( (…) … )`), as in bash.
    mutating func parseArithmetic(terminator: ArithmeticTerminator, start: Int? = nil) throws -> Arithmetic {
        let textStart = i
        let origin = start.map { at($0) } ?? here
        var tokens: [ArithmeticToken] = []
        var parens = 0
        var textEnd = i
        loop: while true {
            skipBlanks()
            guard let c = peek() else {
                if terminator == .endOfInput && parens == 0 { textEnd = i; break loop }
                if terminator == .doubleParen { throw NotArithmetic() }
                throw ParseFailure(offset: origin, message: "unterminated arithmetic expression", incomplete: true)
            }
            if parens == 0 {
                switch (terminator, c) {
                case (.doubleParen, .rparen):
                    if peek(1) == .rparen { textEnd = i; advance(2); break loop }
                    throw NotArithmetic()
                case (.bracket, .rbracket), (.semicolon, .semi):
                    textEnd = i; advance(); break loop
                case (.substringOffset, .colon), (.substringOffset, .rbrace), (.substringLength, .rbrace):
                    textEnd = i; break loop
                default: break
                }
            }
            switch c {
            case .nl:
                try consumeNewline()
            case .lparen:
                parens += 1; tokens.append(.op("(")); i += 1
            case .rparen:
                if parens == 0 { throw fail("unexpected `)` in arithmetic expression") }
                parens -= 1; tokens.append(.op(")")); i += 1
            case _ where c.isDigit:
                var text: [UInt8] = []
                while let d = peek(), d.isNameChar || d == .hash || d == .at { text.append(d); i += 1 }
                tokens.append(.number(String(decoding: text, as: UTF8.self)))
            case _ where c.isNameStart:
                let offset = here
                var text: [UInt8] = []
                while let d = peek(), d.isNameChar { text.append(d); i += 1 }
                tokens.append(.name(String(decoding: text, as: UTF8.self), offset: offset))
            case .dollar:
                if let part = try parseDollar(inDoubleQuotes: false) { tokens.append(.expansion(part)) } else { tokens.append(.op("$")); i += 1 }
            case .bquote:
                tokens.append(.expansion(try parseBackquote(inDoubleQuotes: false)))
            case .dquote:
                tokens.append(.expansion(.doubleQuoted(try parseDoubleQuoted())))
            case .squote:
                tokens.append(.expansion(.singleQuoted(try readSingleQuoted())))
            default:
                var op = String(UnicodeScalar(c))
                for candidate in Parser.arithmeticOperators where candidate.utf8.count > op.utf8.count && at(candidate) {
                    op = candidate
                }
                advance(op.utf8.count)
                tokens.append(.op(op))
            }
        }
        let text = String(decoding: src[textStart..<textEnd], as: UTF8.self)
        return Arithmetic(text: text, tokens: tokens, offset: origin)
    }

    static let arithmeticOperators = [
        "<=", ">=", "==", "!=", "&&", "||", "**", "<<", ">>", "++", "--",
        "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=",
    ]
}
