/// The entry points: parse a line, or extract what it would run.
public enum ShellSyntax {
    /// Parses `line` as bash would. Refuses input over the size limit, NUL bytes and invalid UTF-8.
    public static func parse(_ line: [UInt8], limits: Limits = .default) throws(SyntaxError) -> Script {
        let locator = SourceLocator(line)
        try validate(line, limits: limits, locator: locator)
        var parser = Parser(line, limits: limits)
        do {
            return try parser.parseScript()
        } catch let failure as ParseFailure {
            throw SyntaxError(position: locator.position(failure.offset), message: failure.message, incomplete: failure.incomplete)
        } catch {
            throw SyntaxError(position: locator.position(0), message: "\(error)")
        }
    }

    public static func parse(_ line: String, limits: Limits = .default) throws(SyntaxError) -> Script {
        try parse(Array(line.utf8), limits: limits)
    }

    /// Every command, redirection, assignment and risk in `line`.
    public static func extract(_ line: [UInt8], environment: ShellEnvironment = .unknown,
                               limits: Limits = .default) throws(SyntaxError) -> Extraction {
        try ParsedLine(line, limits: limits).extract(environment: environment)
    }

    public static func extract(_ line: String, environment: ShellEnvironment = .unknown,
                               limits: Limits = .default) throws(SyntaxError) -> Extraction {
        try extract(Array(line.utf8), environment: environment, limits: limits)
    }

    static func validate(_ line: [UInt8], limits: Limits, locator: SourceLocator) throws(SyntaxError) {
        if line.count > limits.maxBytes {
            throw SyntaxError(position: locator.position(0),
                              message: "the line is \(line.count) bytes; the limit is \(limits.maxBytes)")
        }
        if let nul = line.firstIndex(of: 0) {
            throw SyntaxError(position: locator.position(nul), message: "NUL byte in the line")
        }
        if let bad = firstInvalidUTF8(line) {
            throw SyntaxError(position: locator.position(bad), message: "invalid UTF-8 (byte 0x\(String(line[bad], radix: 16)))")
        }
    }

    /// Whether anything in the line can read a variable: an expansion (`$`), a tilde, arithmetic
    /// or a subscript (`(`, `[`), or `let`. Most lines have none, and skip the variable analysis.
    static func mayReadVariables(_ bytes: [UInt8]) -> Bool {
        var previous2: UInt8 = 0, previous: UInt8 = 0
        for b in bytes {
            if b == .dollar || b == .tilde || b == .lparen || b == .lbracket { return true }
            if b == UInt8(ascii: "t") && previous == UInt8(ascii: "e") && previous2 == UInt8(ascii: "l") { return true }
            previous2 = previous
            previous = b
        }
        return false
    }

    /// Offset of the first byte that does not start a valid UTF-8 sequence.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var k = 0
        while k < bytes.count {
            let b = bytes[k]
            if b < 0x80 { k += 1; continue }
            let (length, minimum): (Int, UInt32)
            switch b {
            case 0xC2...0xDF: (length, minimum) = (2, 0x80)
            case 0xE0...0xEF: (length, minimum) = (3, 0x800)
            case 0xF0...0xF4: (length, minimum) = (4, 0x10000)
            default: return k
            }
            guard k + length <= bytes.count else { return k }
            var v = UInt32(b) & (0xFF >> (length + 1))
            for j in 1..<length {
                let c = bytes[k + j]
                guard c & 0xC0 == 0x80 else { return k }
                v = v << 6 | UInt32(c & 0x3F)
            }
            if v < minimum || v > 0x10FFFF || (0xD800...0xDFFF).contains(v) { return k }
            k += length
        }
        return nil
    }

    /// Control characters other than tab and newline: terminals act on them, so what a reviewer
    /// sees is not what runs.
    static func controlCharacterRisks(_ bytes: [UInt8], locate: (Int) -> Position) -> [Risk] {
        var out: [Risk] = []
        for (k, b) in bytes.enumerated() where (b < 0x20 && b != .tab && b != .nl) || b == 0x7F {
            let hex = String(b, radix: 16, uppercase: true)
            out.append(Risk(kind: .controlCharacter, message: "control character U+\(hex.count == 1 ? "000" : "00")\(hex) in the line",
                            position: locate(k)))
        }
        return out
    }

    /// Tokens of a standalone arithmetic expression (`let` arguments, subscripts); nil if it
    /// does not parse.
    static func arithmeticTokens(_ text: String) -> [ArithmeticToken]? {
        var parser = Parser(Array(text.utf8), limits: .default, depth: 1)
        return try? parser.parseArithmetic(terminator: .endOfInput).tokens
    }
}
