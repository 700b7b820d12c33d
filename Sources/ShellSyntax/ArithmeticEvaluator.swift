// Literal arithmetic, evaluated the way bash does (64-bit, wrapping), so `$((1+2))` is a known
// argument. Anything with a side effect or an unknown operand is not evaluated.

struct ArithmeticEvaluator {
    private let tokens: [ArithmeticToken]
    private var k = 0
    private let operand: (ArithmeticToken) -> Int64?

    init(_ tokens: [ArithmeticToken], operand: @escaping (ArithmeticToken) -> Int64?) {
        self.tokens = tokens
        self.operand = operand
    }

    /// nil when the expression is empty, malformed, divides by zero or is not literal.
    static func evaluate(_ tokens: [ArithmeticToken], operand: @escaping (ArithmeticToken) -> Int64?) -> Int64? {
        var e = ArithmeticEvaluator(tokens, operand: operand)
        guard !tokens.isEmpty, let v = e.expression(0), e.k == tokens.count else { return nil }
        return v
    }

    private static let binary: [String: (precedence: Int, rightAssociative: Bool)] = [
        ",": (1, false), "?": (3, true), "||": (4, false), "&&": (5, false), "|": (6, false),
        "^": (7, false), "&": (8, false), "==": (9, false), "!=": (9, false), "<": (10, false),
        "<=": (10, false), ">": (10, false), ">=": (10, false), "<<": (11, false), ">>": (11, false),
        "+": (12, false), "-": (12, false), "*": (13, false), "/": (13, false), "%": (13, false),
        "**": (14, true),
    ]

    private var peekOp: String? {
        guard k < tokens.count, case .op(let o) = tokens[k] else { return nil }
        return o
    }

    private mutating func expression(_ minPrecedence: Int) -> Int64? {
        guard var left = unary() else { return nil }
        while let op = peekOp, let (precedence, right) = ArithmeticEvaluator.binary[op], precedence >= minPrecedence {
            k += 1
            if op == "?" {
                guard let a = expression(1) else { return nil }
                guard peekOp == ":" else { return nil }
                k += 1
                guard let b = expression(3) else { return nil }
                left = left != 0 ? a : b
                continue
            }
            guard let r = expression(right ? precedence : precedence + 1) else { return nil }
            guard let v = ArithmeticEvaluator.apply(op, left, r) else { return nil }
            left = v
        }
        return left
    }

    private mutating func unary() -> Int64? {
        guard k < tokens.count else { return nil }
        let token = tokens[k]
        switch token {
        case .op("("):
            k += 1
            guard let v = expression(0), peekOp == ")" else { return nil }
            k += 1
            return v
        case .op("-"):
            k += 1
            return unary().map { 0 &- $0 }
        case .op("+"):
            k += 1
            return unary()
        case .op("!"):
            k += 1
            return unary().map { $0 == 0 ? 1 : 0 }
        case .op("~"):
            k += 1
            return unary().map { ~$0 }
        case .op:
            return nil
        default:
            k += 1
            // An operand followed by an assignment or ++/-- has a side effect: not literal.
            if let next = peekOp, next.hasSuffix("=") && !["==", "!=", "<=", ">="].contains(next) || next == "++" || next == "--" {
                return nil
            }
            return operand(token)
        }
    }

    private static func apply(_ op: String, _ a: Int64, _ b: Int64) -> Int64? {
        switch op {
        case ",": return b
        case "||": return (a != 0 || b != 0) ? 1 : 0
        case "&&": return (a != 0 && b != 0) ? 1 : 0
        case "|": return a | b
        case "^": return a ^ b
        case "&": return a & b
        case "==": return a == b ? 1 : 0
        case "!=": return a != b ? 1 : 0
        case "<": return a < b ? 1 : 0
        case "<=": return a <= b ? 1 : 0
        case ">": return a > b ? 1 : 0
        case ">=": return a >= b ? 1 : 0
        case "<<": return a << (b & 63)
        case ">>": return a >> (b & 63)
        case "+": return a &+ b
        case "-": return a &- b
        case "*": return a &* b
        case "/": return b == 0 ? nil : (a == Int64.min && b == -1 ? a : a / b)
        case "%": return b == 0 ? nil : (a == Int64.min && b == -1 ? 0 : a % b)
        case "**":
            guard b >= 0 else { return nil }
            var result: Int64 = 1, base = a, e = b
            while e > 0 {
                if e & 1 == 1 { result = result &* base }
                base = base &* base
                e >>= 1
            }
            return result
        default: return nil
        }
    }

    /// Bash integer constants: decimal, `0x1f`, `017` (octal), `base#digits` (base 2–64).
    static func number(_ text: String) -> Int64? {
        let t = Array(text.utf8)
        guard !t.isEmpty else { return nil }
        if let hash = t.firstIndex(of: .hash) {
            guard let base = Int64(String(decoding: t[..<hash], as: UTF8.self)), (2...64).contains(base) else { return nil }
            return digits(Array(t[(hash + 1)...]), base: base)
        }
        if t.count > 2, t[0] == UInt8(ascii: "0"), t[1] | 0x20 == UInt8(ascii: "x") { return digits(Array(t[2...]), base: 16) }
        if t.count > 1, t[0] == UInt8(ascii: "0") { return digits(Array(t[1...]), base: 8) }
        return digits(t, base: 10)
    }

    private static func digits(_ t: [UInt8], base: Int64) -> Int64? {
        guard !t.isEmpty else { return nil }
        var v: Int64 = 0
        for c in t {
            let d: Int64
            switch c {
            case 48...57: d = Int64(c - 48)
            case 97...122: d = Int64(c - 97 + 10)
            case 65...90: d = base <= 36 ? Int64(c - 65 + 10) : Int64(c - 65 + 36)
            case .at: d = 62
            case .underscore: d = 63
            default: return nil
            }
            guard d < base else { return nil }
            v = v &* base &+ d
        }
        return v
    }
}
