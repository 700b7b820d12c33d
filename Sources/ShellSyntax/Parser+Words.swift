// Words, quoting, substitutions that start with a quote character, redirections and here-documents.

enum WordMode {
    case normal
    /// The right side of `=~`: parentheses, `|` and, inside parentheses, blanks belong to the word.
    case regex
}

/// Collects unquoted literal bytes and flushes them as one `.literal` part.
struct PartBuilder {
    var parts: [WordPart] = []
    var literal: [UInt8] = []

    mutating func flush() {
        guard !literal.isEmpty else { return }
        parts.append(.literal(String(decoding: literal, as: UTF8.self)))
        literal.removeAll(keepingCapacity: true)
    }

    mutating func append(_ part: WordPart) {
        flush()
        parts.append(part)
    }

    mutating func finish() -> [WordPart] {
        flush()
        return parts
    }
}

extension Parser {
    /// Length of the UTF-8 sequence that starts with `lead` (1 for a stray continuation byte).
    static func scalarLength(_ lead: UInt8) -> Int {
        if lead < 0xC0 { return 1 }
        if lead < 0xE0 { return 2 }
        if lead < 0xF0 { return 3 }
        return 4
    }

    mutating func parseWord(mode: WordMode = .normal, allowArrayAssignment: Bool = false) throws -> Word {
        let start = i
        var b = PartBuilder()
        var regexDepth = 0
        while let c = peek() {
            if (c == .lt || c == .gt) && peek(1) == .lparen {
                b.append(try parseProcessSubstitution())
                continue
            }
            if mode == .regex {
                if c == .lparen { regexDepth += 1; b.literal.append(c); i += 1; continue }
                if c == .rparen && regexDepth > 0 { regexDepth -= 1; b.literal.append(c); i += 1; continue }
                if c == .pipe || (regexDepth > 0 && (c.isBlank || c == .lt || c == .gt)) {
                    b.literal.append(c); i += 1; continue
                }
            }
            if (c == .question || c == .star || c == .plus || c == .at || c == .bang) && peek(1) == .lparen {
                try parseExtglob(into: &b)
                continue
            }
            if c.isMeta { break }
            switch c {
            case .bslash:
                i += 1
                if i < src.count {
                    let n = min(Parser.scalarLength(src[i]), src.count - i)
                    b.append(.escaped(String(decoding: src[i..<(i + n)], as: UTF8.self)))
                    i += n
                } else {
                    b.literal.append(.bslash)
                }
            case .squote:
                b.append(.singleQuoted(try readSingleQuoted()))
            case .dquote:
                b.append(.doubleQuoted(try parseDoubleQuoted()))
            case .dollar:
                if let part = try parseDollar(inDoubleQuotes: false) {
                    b.append(part)
                } else {
                    b.literal.append(c)
                    i += 1
                }
            case .bquote:
                b.append(try parseBackquote(inDoubleQuotes: false))
            case .lbracket where allowArrayAssignment && b.parts.isEmpty && !b.literal.isEmpty
                && Parser.isName(String(decoding: b.literal, as: UTF8.self)):
                // `name[…]` where an assignment may stand: bash reads the subscript as a
                // bracketed unit, so blanks and operators inside it belong to the word.
                try parseSubscriptRegion(into: &b)
            case .eq where allowArrayAssignment && peek(1) == .lparen && b.parts.isEmpty
                && Parser.isAssignmentHead(b.literal):
                b.literal.append(c)
                i += 1
                // Text glued after `)` continues the word (bash then assigns it as a string).
                b.append(.arrayLiteral(try parseArrayLiteral()))
            default:
                b.literal.append(c)
                i += 1
            }
        }
        return Word(parts: b.finish(), offset: at(start), end: here)
    }

    mutating func parseSubscriptRegion(into b: inout PartBuilder) throws {
        let open = i
        var nesting = 0
        while true {
            guard let c = peek() else {
                throw ParseFailure(offset: at(open), message: "unterminated array subscript", incomplete: true)
            }
            switch c {
            case .lbracket:
                nesting += 1; b.literal.append(c); i += 1
            case .rbracket:
                nesting -= 1; b.literal.append(c); i += 1
                if nesting == 0 { return }
            case .bslash:
                i += 1
                if i < src.count {
                    let n = min(Parser.scalarLength(src[i]), src.count - i)
                    b.append(.escaped(String(decoding: src[i..<(i + n)], as: UTF8.self)))
                    i += n
                }
            case .squote:
                b.append(.singleQuoted(try readSingleQuoted()))
            case .dquote:
                b.append(.doubleQuoted(try parseDoubleQuoted()))
            case .dollar:
                if let part = try parseDollar(inDoubleQuotes: false) { b.append(part) } else { b.literal.append(c); i += 1 }
            case .bquote:
                b.append(try parseBackquote(inDoubleQuotes: false))
            default:
                b.literal.append(c); i += 1
            }
        }
    }

    /// `NAME`, `NAME+` or `NAME[…]` (what may precede `=(` in an array assignment).
    static func isAssignmentHead(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first, first.isNameStart else { return false }
        var k = 1
        while k < bytes.count, bytes[k].isNameChar { k += 1 }
        if k == bytes.count { return true }
        if bytes[k] == .plus { return k + 1 == bytes.count }
        guard bytes[k] == .lbracket else { return false }
        if bytes.last == .plus { return bytes.count >= 2 && bytes[bytes.count - 2] == .rbracket }
        return bytes.last == .rbracket
    }

    mutating func readSingleQuoted() throws -> String {
        let open = i
        i += 1
        let start = i
        while i < src.count, src[i] != .squote { i += 1 }
        guard i < src.count else {
            throw ParseFailure(offset: at(open), message: "unterminated single quote", incomplete: true)
        }
        let text = String(decoding: src[start..<i], as: UTF8.self)
        i += 1
        return text
    }

    /// After `"`: the parts up to the closing quote. Inside, `\` escapes only `$ \` " \` and newline.
    mutating func parseDoubleQuoted() throws -> [WordPart] {
        let open = i
        i += 1
        var b = PartBuilder()
        while true {
            guard let c = peek() else {
                throw ParseFailure(offset: at(open), message: "unterminated double quote", incomplete: true)
            }
            switch c {
            case .dquote:
                i += 1
                return b.finish()
            case .bslash:
                if i + 1 < src.count, [UInt8.dollar, .bquote, .dquote, .bslash].contains(src[i + 1]) {
                    b.literal.append(src[i + 1])
                    i += 2
                } else {
                    b.literal.append(c)
                    i += 1
                }
            case .dollar:
                if let part = try parseDollar(inDoubleQuotes: true) {
                    b.append(part)
                } else {
                    b.literal.append(c)
                    i += 1
                }
            case .bquote:
                b.append(try parseBackquote(inDoubleQuotes: true))
            default:
                b.literal.append(c)
                i += 1
            }
        }
    }

    /// `` `…` ``: the body is unescaped (`\$`, `` \` ``, `\\`, and `\"` inside double quotes) and
    /// parsed as a script of its own, mapping its offsets back to the line.
    mutating func parseBackquote(inDoubleQuotes: Bool) throws -> WordPart {
        let open = i
        i += 1
        var text: [UInt8] = []
        var map: [Int] = []
        while true {
            guard i < src.count else {
                throw ParseFailure(offset: at(open), message: "unterminated backquote", incomplete: true)
            }
            let c = src[i]
            if c == .bquote { i += 1; break }
            if c == .bslash && i + 1 < src.count {
                let n = src[i + 1]
                if n == .dollar || n == .bquote || n == .bslash || (inDoubleQuotes && n == .dquote) {
                    text.append(n)
                    map.append(at(i + 1))
                    i += 2
                    continue
                }
                if n == .nl { i += 2; continue }
            }
            text.append(c)
            map.append(at(i))
            i += 1
        }
        try enter(at: open)
        defer { leave() }
        var sub = Parser(text, limits: limits, depth: depth, origin: map + [at(i - 1)])
        defer { steps += sub.steps }
        let script = try sub.parseScript()
        return .commandSubstitution(script, backquoted: true, offset: at(open))
    }

    mutating func parseProcessSubstitution() throws -> WordPart {
        let open = i
        let output = peek() == .gt
        advance(2)
        try enter(at: open)
        defer { leave() }
        let script = try parseList(closeParen: true, inCase: false)
        skipBlanks()
        guard peek() == .rparen else {
            if atEnd { throw endOfInput("expected `)` to close `\(output ? ">(" : "<(")`") }
            throw fail("expected `)` to close `\(output ? ">(" : "<(")`, found \(describeNext())")
        }
        advance()
        return .processSubstitution(script, output: output, offset: at(open))
    }

    /// `?(…)`, `*(…)`, `+(…)`, `@(…)`, `!(…)`: the pattern list runs to the matching `)` and may
    /// hold blanks and `|`. It stays unquoted text so that it counts as a glob.
    mutating func parseExtglob(into b: inout PartBuilder) throws {
        let open = i
        b.literal.append(src[i])
        advance()
        b.literal.append(.lparen)
        advance()
        var nesting = 1
        while true {
            guard let c = peek() else {
                throw ParseFailure(offset: at(open), message: "unterminated extended glob pattern", incomplete: true)
            }
            switch c {
            case .lparen:
                nesting += 1
                b.literal.append(c); i += 1
            case .rparen:
                nesting -= 1
                b.literal.append(c); i += 1
                if nesting == 0 { return }
            case .bslash:
                i += 1
                if i < src.count {
                    let n = min(Parser.scalarLength(src[i]), src.count - i)
                    b.append(.escaped(String(decoding: src[i..<(i + n)], as: UTF8.self)))
                    i += n
                }
            case .squote:
                b.append(.singleQuoted(try readSingleQuoted()))
            case .dquote:
                b.append(.doubleQuoted(try parseDoubleQuoted()))
            case .dollar:
                if let part = try parseDollar(inDoubleQuotes: false) { b.append(part) } else { b.literal.append(c); i += 1 }
            case .bquote:
                b.append(try parseBackquote(inDoubleQuotes: false))
            case .nl:
                throw fail("newline inside an extended glob pattern")
            default:
                b.literal.append(c); i += 1
            }
        }
    }

    /// After `name=`: `( word [k]=v … )`, newlines and comments allowed between elements.
    mutating func parseArrayLiteral() throws -> [ArrayElement] {
        let open = i
        advance() // (
        var elements: [ArrayElement] = []
        while true {
            try skipLinebreaks()
            guard let c = peek() else {
                throw ParseFailure(offset: at(open), message: "expected `)` to close the array", incomplete: true)
            }
            if c == .rparen { advance(); return elements }
            if !startsWord(c) { throw fail("unexpected \(describeNext()) in an array assignment") }
            let word = try parseWord()
            elements.append(Parser.arrayElement(word))
        }
    }

    /// `[key]=value` inside an array literal; anything else is a plain value.
    static func arrayElement(_ word: Word) -> ArrayElement {
        guard case .literal(let first)? = word.parts.first, first.hasPrefix("[") else {
            return ArrayElement(key: nil, value: word)
        }
        var keyParts: [WordPart] = []
        var pieces = word.parts
        pieces[0] = .literal(String(first.dropFirst()))
        for (index, part) in pieces.enumerated() {
            guard case .literal(let text) = part, let close = text.firstRange(of: "]=") else {
                keyParts.append(part)
                continue
            }
            let before = String(text[..<close.lowerBound])
            if !before.isEmpty { keyParts.append(.literal(before)) }
            var valueParts: [WordPart] = []
            let after = String(text[close.upperBound...])
            if !after.isEmpty { valueParts.append(.literal(after)) }
            valueParts.append(contentsOf: pieces[(index + 1)...])
            return ArrayElement(key: Word(parts: keyParts, offset: word.offset, end: word.end),
                                value: Word(parts: valueParts, offset: word.offset, end: word.end))
        }
        return ArrayElement(key: nil, value: word)
    }

    // MARK: Redirections

    mutating func parseRedirectIfPresent() throws -> Redirect? {
        let start = i
        var k = 0
        var fd: Int?
        var fdVariable: String?
        if let c = peek(), c.isDigit {
            var digits: [UInt8] = []
            while let d = peek(k), d.isDigit { digits.append(d); k += 1 }
            guard let op = peek(k), op == .lt || op == .gt, peek(k + 1) != .lparen else { return nil }
            fd = Int(String(decoding: digits, as: UTF8.self)) ?? Int.max
        } else if peek() == .lbrace {
            var name: [UInt8] = []
            k = 1
            while let d = peek(k), d.isNameChar { name.append(d); k += 1 }
            guard !name.isEmpty, name[0].isNameStart, peek(k) == .rbrace,
                  let op = peek(k + 1), op == .lt || op == .gt, peek(k + 2) != .lparen else { return nil }
            fdVariable = String(decoding: name, as: UTF8.self)
            k += 1
        }
        let op: RedirectOperator
        let c0 = peek(k), c1 = peek(k + 1), c2 = peek(k + 2)
        switch (c0, c1, c2) {
        case (.amp?, .gt?, .gt?) where fd == nil && fdVariable == nil: op = .appendBoth
        case (.amp?, .gt?, _) where fd == nil && fdVariable == nil: op = .outputBoth
        case (.lt?, .lt?, .lt?): op = .hereString
        case (.lt?, .lt?, .minus?): op = .hereDocStrip
        case (.lt?, .lt?, _): op = .hereDoc
        case (.lt?, .amp?, _): op = .duplicateInput
        case (.lt?, .gt?, _): op = .readWrite
        case (.lt?, .lparen?, _): return nil
        case (.lt?, _, _): op = .input
        case (.gt?, .gt?, _): op = .append
        case (.gt?, .amp?, _): op = .duplicateOutput
        case (.gt?, .pipe?, _): op = .clobber
        case (.gt?, .lparen?, _): return nil
        case (.gt?, _, _): op = .output
        default: return nil
        }
        advance(k + op.rawValue.utf8.count)
        skipBlanks()
        guard let t = peek(), !t.isMeta || ((t == .lt || t == .gt) && peek(1) == .lparen) else {
            if atEnd { throw fail("expected a word after `\(op.rawValue)`") }
            throw fail("expected a word after `\(op.rawValue)`, found \(describeNext())")
        }
        let wordStart = i
        let target = try parseWord()
        var hereDoc: HereDocument?
        if op == .hereDoc || op == .hereDocStrip {
            let (delimiter, quoted) = Parser.hereDocDelimiter(Array(src[wordStart..<i]))
            let doc = HereDocument(delimiter: delimiter, quoted: quoted, stripTabs: op == .hereDocStrip, offset: at(wordStart))
            pendingHereDocs.append(doc)
            hereDoc = doc
        }
        return Redirect(fd: fd, fdVariable: fdVariable, op: op, target: target, hereDoc: hereDoc, offset: at(start))
    }

    /// Quote removal on the delimiter's source text, without expansion (bash's rule).
    static func hereDocDelimiter(_ raw: [UInt8]) -> (String, Bool) {
        var out: [UInt8] = []
        var quoted = false
        var k = 0
        var inSingle = false, inDouble = false
        while k < raw.count {
            let c = raw[k]
            if c == .bslash && k + 1 < raw.count && raw[k + 1] == .nl { k += 2; continue }
            if inSingle {
                if c == .squote { inSingle = false } else { out.append(c) }
            } else if c == .squote && !inDouble {
                inSingle = true; quoted = true
            } else if c == .dquote {
                inDouble.toggle(); quoted = true
            } else if c == .bslash && k + 1 < raw.count {
                quoted = true
                out.append(raw[k + 1])
                k += 1
            } else {
                out.append(c)
            }
            k += 1
        }
        return (String(decoding: out, as: UTF8.self), quoted)
    }

    /// Called just after a newline: reads the bodies of the here-documents named on that line.
    mutating func readHereDocBodies() throws {
        let docs = pendingHereDocs
        pendingHereDocs = []
        for doc in docs {
            let delimiter = Array(doc.delimiter.utf8)
            var body: [UInt8] = []
            var map: [Int] = []
            let bodyStart = here
            while true {
                guard i < src.count else {
                    throw endOfInput("here-document wanted `\(doc.delimiter)` before the end of input")
                }
                var logical: [UInt8] = []
                var logicalMap: [Int] = []
                var ended = false
                while !ended {
                    if doc.stripTabs { while i < src.count && src[i] == .tab { i += 1 } }
                    var eol = i
                    while eol < src.count && src[eol] != .nl { eol += 1 }
                    var lineEnd = eol
                    var continued = false
                    if !doc.quoted && eol < src.count {
                        var slashes = 0
                        while lineEnd - slashes - 1 >= i && src[lineEnd - slashes - 1] == .bslash { slashes += 1 }
                        if slashes % 2 == 1 { continued = true; lineEnd -= 1 }
                    }
                    logical.append(contentsOf: src[i..<lineEnd])
                    logicalMap.append(contentsOf: (i..<lineEnd).map { at($0) })
                    i = eol < src.count ? eol + 1 : eol
                    ended = !continued
                }
                if logical == delimiter { break }
                body.append(contentsOf: logical)
                map.append(contentsOf: logicalMap)
                body.append(.nl)
                map.append(at(max(0, i - 1)))
            }
            if doc.quoted {
                doc.body = Word(parts: [.singleQuoted(String(decoding: body, as: UTF8.self))], offset: bodyStart, end: here)
            } else {
                var sub = Parser(body, limits: limits, depth: depth, origin: map + [here])
                defer { steps += sub.steps }
                doc.body = Word(parts: [.doubleQuoted(try sub.parseHereDocText())], offset: bodyStart, end: here)
            }
        }
    }

    /// An unquoted here-document body: like double quotes, but `"` is an ordinary character.
    mutating func parseHereDocText() throws -> [WordPart] {
        var b = PartBuilder()
        while let c = peek() {
            switch c {
            case .bslash:
                if i + 1 < src.count, [UInt8.dollar, .bquote, .bslash].contains(src[i + 1]) {
                    b.literal.append(src[i + 1])
                    i += 2
                } else {
                    b.literal.append(c)
                    i += 1
                }
            case .dollar:
                if let part = try parseDollar(inDoubleQuotes: true) { b.append(part) } else { b.literal.append(c); i += 1 }
            case .bquote:
                b.append(try parseBackquote(inDoubleQuotes: false))
            default:
                b.literal.append(c)
                i += 1
            }
        }
        return b.finish()
    }
}
