// Static word expansion: what bash's expansions would produce, where that is knowable without
// running anything: brace expansion, tilde, known variables, literal arithmetic, quote removal,
// field splitting and globbing. Anything else becomes a dynamic field with a reason.

/// What is known of a variable at a point in the line.
enum VariableState: Equatable {
    case value(String)
    case unset
    /// Holds some integer (assigned by arithmetic), value unknown.
    case integer
    case unknown(String)

    var isIntegerSafe: Bool {
        switch self {
        case .integer, .unset: return true
        case .value(let v): return Int64(v.trimmingBlanks) != nil || v.isEmpty
        case .unknown: return false
        }
    }
}

extension String {
    var trimmingBlanks: Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" { s.removeLast() }
        return s
    }
}

/// One contiguous result of expanding part of a word.
struct Piece {
    var text: [UInt8]
    var quoted: Bool
    /// Unquoted expansion results are split on IFS; literal text is not.
    var splittable: Bool
    var dynamic: String?
    var variadic = false
}

struct WordExpander {
    let lookup: (String) -> VariableState
    let source: (Int, Int) -> String
    static let maxBraceWords = 1024

    // MARK: Words to fields

    func fields(_ word: Word) -> [Field] {
        if let text = WordExpander.plainText(word) { return [Field(text: text, offset: word.offset)] }
        var out: [Field] = []
        // bash expands `~` after the `=` and each `:` of an argument that looks like an assignment.
        var assignmentLike = false
        if case .literal(let first)? = word.parts.first, let eq = first.firstIndex(of: "=") {
            assignmentLike = Parser.isName(String(first[..<eq]))
        }
        let alternatives = braceExpand(word)
        guard let alternatives else {
            return [Field.dynamic(source(word.offset, word.end), reason: "brace expansion yields more than \(WordExpander.maxBraceWords) words",
                                  variadic: true, offset: word.offset)]
        }
        for parts in alternatives {
            let pieces = self.pieces(parts, quoted: false, wordStart: true, tildeAfterColon: assignmentLike, assignmentLike: assignmentLike)
            out.append(contentsOf: split(pieces, word: word))
        }
        return out
    }

    /// Most words are plain text (`ls`, `-la`, `'a b'`, `"x"`): they expand to themselves.
    /// nil when anything in the word could change it (braces, `~`, globs, expansions).
    static func plainText(_ word: Word) -> String? {
        var text = ""
        for part in word.parts {
            switch part {
            case .literal(let s):
                // Braces, globs (extglob groups hold a `(`) and `~` (also after `=` or `:`).
                for b in s.utf8 where b == .lbrace || b == .star || b == .question || b == .lbracket || b == .lparen || b == .tilde {
                    return nil
                }
                text += s
            case .escaped(let s), .singleQuoted(let s), .ansiC(let s):
                text += s
            case .doubleQuoted(let inner):
                for p in inner {
                    guard case .literal(let s) = p else { return nil }
                    text += s
                }
            default:
                return nil
            }
        }
        // An all-quoted empty word (`''`) is one empty argument; a word with nothing at all is none.
        return word.parts.isEmpty ? nil : text
    }

    /// An assignment value or a `[[ ]]` operand: no splitting, no globbing, one field.
    func single(_ word: Word, tildeAfterColon: Bool = false) -> Field {
        let pieces = self.pieces(word.parts, quoted: false, wordStart: true, tildeAfterColon: tildeAfterColon)
        if let reason = pieces.compactMap(\.dynamic).first {
            return .dynamic(source(word.offset, word.end), reason: reason, offset: word.offset)
        }
        return Field(text: String(decoding: pieces.flatMap(\.text), as: UTF8.self), offset: word.offset)
    }

    func pieces(_ parts: [WordPart], quoted: Bool, wordStart: Bool = false, tildeAfterColon: Bool = false,
                assignmentLike: Bool = false) -> [Piece] {
        var out: [Piece] = []
        for (index, part) in parts.enumerated() {
            switch part {
            case .literal(let s):
                var bytes = Array(s.utf8)
                if !quoted && index == 0 && assignmentLike, let eq = bytes.firstIndex(of: .eq) {
                    out.append(Piece(text: Array(bytes[...eq]), quoted: false, splittable: false))
                    bytes = Array(bytes[(eq + 1)...])
                    if bytes.first == .tilde {
                        let (expanded, rest) = tilde(bytes, next: parts.dropFirst().first)
                        out.append(expanded)
                        bytes = rest
                    }
                } else if !quoted && index == 0 && wordStart, bytes.first == .tilde {
                    let (expanded, rest) = tilde(bytes, next: parts.dropFirst().first)
                    out.append(expanded)
                    bytes = rest
                }
                if tildeAfterColon && !quoted {
                    out.append(contentsOf: tildesAfterColons(bytes))
                } else {
                    out.append(Piece(text: bytes, quoted: quoted, splittable: false))
                }
            case .escaped(let s), .singleQuoted(let s), .ansiC(let s):
                out.append(Piece(text: Array(s.utf8), quoted: true, splittable: false))
            case .doubleQuoted(let inner), .localized(let inner):
                let innerPieces = pieces(inner, quoted: true)
                out.append(Piece(text: [], quoted: true, splittable: false))
                out.append(contentsOf: innerPieces)
            case .parameter(let p):
                out.append(contentsOf: parameter(p, quoted: quoted))
            case .commandSubstitution(_, let backquoted, let offset):
                out.append(Piece(text: [], quoted: quoted, splittable: true,
                                 dynamic: "output of a command substitution", variadic: !quoted))
            case .arithmetic(let a):
                if let v = evaluate(a) {
                    out.append(Piece(text: Array(String(v).utf8), quoted: quoted, splittable: true))
                } else {
                    out.append(Piece(text: [], quoted: quoted, splittable: true,
                                     dynamic: "arithmetic `\(a.text)` is not literal", variadic: !quoted))
                }
            case .processSubstitution:
                out.append(Piece(text: [], quoted: true, splittable: false, dynamic: "a process substitution's /dev/fd path"))
            case .arrayLiteral:
                out.append(Piece(text: [], quoted: true, splittable: false, dynamic: "an array literal"))
            }
        }
        return out
    }

    /// `~`, `~/x`, `~+`, `~-`; `~user` is not resolved (no user database in the pure core).
    private func tilde(_ bytes: [UInt8], next: WordPart?) -> (Piece, [UInt8]) {
        // The prefix runs to the first `/`, or `:` (bash ends it there too, for PATH-like words).
        var end = 1
        while end < bytes.count, bytes[end] != .slash, bytes[end] != .colon { end += 1 }
        // A quoted or expanded part right after the prefix makes it not a tilde prefix.
        if end == bytes.count, next != nil { return (Piece(text: [], quoted: false, splittable: false), bytes) }
        let login = String(decoding: bytes[1..<end], as: UTF8.self)
        let rest = Array(bytes[end...])
        let variable: String
        switch login {
        case "": variable = "HOME"
        case "+": variable = "PWD"
        case "-": variable = "OLDPWD"
        default:
            guard login.utf8.allSatisfy({ $0.isNameChar || $0 == .minus || $0 == UInt8(ascii: ".") }) else {
                return (Piece(text: [], quoted: false, splittable: false), bytes)
            }
            return (Piece(text: [], quoted: true, splittable: false, dynamic: "home directory of `\(login)`"), rest)
        }
        if case .value(let v) = lookup(variable) {
            return (Piece(text: Array(v.utf8), quoted: true, splittable: false), rest)
        }
        return (Piece(text: [], quoted: true, splittable: false, dynamic: "$\(variable) is not known statically"), rest)
    }

    /// In assignment values bash also expands `~` after each `:` (PATH-like values).
    private func tildesAfterColons(_ bytes: [UInt8]) -> [Piece] {
        var out: [Piece] = []
        var segment: [UInt8] = []
        var k = 0
        while k < bytes.count {
            if bytes[k] == .colon && k + 1 < bytes.count && bytes[k + 1] == .tilde {
                segment.append(.colon)
                out.append(Piece(text: segment, quoted: false, splittable: false))
                segment = []
                var end = k + 1
                while end < bytes.count, bytes[end] != .slash, bytes[end] != .colon { end += 1 }
                let (p, _) = tilde(Array(bytes[(k + 1)..<end]), next: nil)
                out.append(p)
                k = end
                continue
            }
            segment.append(bytes[k])
            k += 1
        }
        out.append(Piece(text: segment, quoted: false, splittable: false))
        return out
    }

    private func parameter(_ p: ParameterExpansion, quoted: Bool) -> [Piece] {
        let display = p.short ? "$\(p.name)" : "${…\(p.name)…}"
        func dynamic(_ reason: String, variadic: Bool? = nil) -> [Piece] {
            [Piece(text: [], quoted: quoted, splittable: true, dynamic: reason, variadic: variadic ?? !quoted)]
        }
        if p.name == "@" || p.name == "*" {
            return dynamic("positional parameters are not known statically", variadic: !quoted || p.name == "@")
        }
        if p.index != nil || p.indirect {
            let allElements: Bool
            if case .all? = p.index { allElements = true } else { allElements = false }
            return dynamic("\(display): arrays and indirection are not resolved statically", variadic: !quoted || allElements)
        }
        if let b = p.name.utf8.first, !b.isNameStart {
            return dynamic("$\(p.name) is set when the line runs")
        }
        let state = lookup(p.name)
        if p.length {
            switch state {
            case .value(let v): return [Piece(text: Array(String(v.count).utf8), quoted: quoted, splittable: true)]
            case .unset: return [Piece(text: Array("0".utf8), quoted: quoted, splittable: true)]
            default: return dynamic("length of $\(p.name), whose value is not known statically")
            }
        }
        let value: String?
        switch state {
        case .value(let v): value = v
        case .unset: value = nil
        case .integer: return dynamic("$\(p.name) holds a number computed when the line runs")
        case .unknown(let why): return dynamic(why)
        }
        func text(_ s: String) -> [Piece] { [Piece(text: Array(s.utf8), quoted: quoted, splittable: true)] }
        /// The word of `${x:-word}` is part of the expansion's result, so its unquoted text is split.
        func expansionResult(_ w: Word) -> [Piece] {
            pieces(w.parts, quoted: quoted).map { p in
                var p = p
                if !p.quoted { p.splittable = true }
                return p
            }
        }
        switch p.op {
        case nil:
            return text(value ?? "")
        case .useDefault(let colon, let w), .assignDefault(let colon, let w):
            let missing = value == nil || (colon && value == "")
            return missing ? expansionResult(w) : text(value ?? "")
        case .useAlternative(let colon, let w):
            let missing = value == nil || (colon && value == "")
            return missing ? [] : expansionResult(w)
        case .errorIfUnset(let colon, _):
            let missing = value == nil || (colon && value == "")
            return missing ? dynamic("${\(p.name)?…} fails when the variable is unset") : text(value ?? "")
        default:
            return dynamic("\(display) with an operator is not resolved statically")
        }
    }

    /// The value of a literal arithmetic expression; nil when an operand is not known.
    func evaluate(_ a: Arithmetic) -> Int64? {
        ArithmeticEvaluator.evaluate(a.tokens) { token in
            switch token {
            case .number(let n):
                return ArithmeticEvaluator.number(n)
            case .name(let n, _):
                switch lookup(n) {
                case .unset: return 0
                case .value(let v): return v.isEmpty ? 0 : ArithmeticEvaluator.number(String(v.trimmingBlanks))
                default: return nil
                }
            case .expansion(let part):
                let p = pieces([part], quoted: true)
                if p.contains(where: { $0.dynamic != nil }) { return nil }
                return ArithmeticEvaluator.number(String(String(decoding: p.flatMap(\.text), as: UTF8.self).trimmingBlanks))
            case .op:
                return nil
            }
        }
    }

    // MARK: Splitting and globbing

    private func ifs() -> (white: Set<UInt8>, other: Set<UInt8>)? {
        let value: String
        switch lookup("IFS") {
        case .unset: value = " \t\n"
        case .value(let v): value = v
        default: return nil
        }
        var white = Set<UInt8>(), other = Set<UInt8>()
        for b in value.utf8 {
            if b == .sp || b == .tab || b == .nl { white.insert(b) } else { other.insert(b) }
        }
        return (white, other)
    }

    private struct FieldBuilder {
        var text: [UInt8] = []
        var unquoted: [Bool] = []
        var hasContent = false
        var dynamic: String?
        var variadic = false

        mutating func append(_ bytes: [UInt8], quoted: Bool) {
            text.append(contentsOf: bytes)
            unquoted.append(contentsOf: repeatElement(!quoted, count: bytes.count))
        }
    }

    private func split(_ pieces: [Piece], word: Word) -> [Field] {
        var fields: [FieldBuilder] = []
        var cur = FieldBuilder()
        lazy var separators = ifs()
        for piece in pieces {
            if let reason = piece.dynamic {
                cur.dynamic = cur.dynamic ?? reason
                cur.hasContent = true
                if piece.variadic { cur.variadic = true }
                continue
            }
            guard piece.splittable && !piece.quoted && !piece.text.isEmpty else {
                cur.append(piece.text, quoted: piece.quoted)
                if piece.quoted || !piece.text.isEmpty { cur.hasContent = true }
                continue
            }
            guard let (white, other) = separators else {
                cur.dynamic = cur.dynamic ?? "$IFS is not known statically, so splitting is not either"
                cur.variadic = true
                cur.hasContent = true
                continue
            }
            var k = 0
            let t = piece.text
            while k < t.count {
                let c = t[k]
                guard white.contains(c) || other.contains(c) else {
                    cur.append([c], quoted: false)
                    cur.hasContent = true
                    k += 1
                    continue
                }
                var sawOther = false
                while k < t.count, white.contains(t[k]) { k += 1 }
                if k < t.count, other.contains(t[k]) {
                    sawOther = true
                    k += 1
                    while k < t.count, white.contains(t[k]) { k += 1 }
                }
                if cur.hasContent || sawOther {
                    fields.append(cur)
                    cur = FieldBuilder()
                }
            }
        }
        if cur.hasContent { fields.append(cur) }
        return fields.map { f in
            if let reason = f.dynamic {
                return .dynamic(source(word.offset, word.end), reason: reason, variadic: f.variadic, offset: word.offset)
            }
            let text = String(decoding: f.text, as: UTF8.self)
            if WordExpander.isGlob(f.text, unquoted: f.unquoted) {
                return Field(text: text, kind: .pattern, reason: "glob pattern, expanded to file names when the line runs",
                             variadic: true, offset: word.offset, glob: WordExpander.escapedGlob(f.text, unquoted: f.unquoted))
            }
            return Field(text: text, offset: word.offset)
        }
    }

    static func escapedGlob(_ text: [UInt8], unquoted: [Bool]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.count + 4)
        for k in text.indices {
            let b = text[k]
            if !unquoted[k] && (b == .star || b == .question || b == .lbracket || b == .rbracket || b == .bslash) { out.append(.bslash) }
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func isGlob(_ text: [UInt8], unquoted: [Bool]) -> Bool {
        for k in text.indices where unquoted[k] {
            switch text[k] {
            case .star, .question:
                return true
            case .lbracket:
                if text[(k + 1)...].dropFirst().contains(.rbracket) { return true }
            case .plus, .at, .bang:
                if k + 1 < text.count, text[k + 1] == .lparen, unquoted[k + 1] { return true }
            default:
                break
            }
        }
        return false
    }

    // MARK: Brace expansion

    enum Atom: Equatable {
        case char(UInt8)
        case part(WordPart)
    }

    /// nil when the expansion would exceed `maxBraceWords`.
    func braceExpand(_ word: Word) -> [[WordPart]]? {
        // Expansion needs an unquoted `{` and a `,` or `..` after it; most words have neither.
        var brace = false, separator = false
        for case .literal(let s) in word.parts {
            var previous: UInt8 = 0
            for b in s.utf8 {
                if b == .lbrace { brace = true }
                if brace && (b == .comma || (b == UInt8(ascii: ".") && previous == UInt8(ascii: "."))) { separator = true }
                previous = b
            }
        }
        guard brace && separator else { return [word.parts] }
        var atoms: [Atom] = []
        for part in word.parts {
            if case .literal(let s) = part { atoms.append(contentsOf: s.utf8.map { .char($0) }) } else { atoms.append(.part(part)) }
        }
        guard let expanded = braceExpand(atoms, budget: WordExpander.maxBraceWords) else { return nil }
        return expanded.map(WordExpander.parts(from:))
    }

    static func parts(from atoms: [Atom]) -> [WordPart] {
        var b = PartBuilder()
        for atom in atoms {
            switch atom {
            case .char(let c): b.literal.append(c)
            case .part(let p): b.append(p)
            }
        }
        return b.finish()
    }

    private func braceExpand(_ atoms: [Atom], budget: Int) -> [[Atom]]? {
        var start = 0
        while start < atoms.count {
            guard atoms[start] == .char(.lbrace) else { start += 1; continue }
            // `${` is a parameter expansion, never a brace expansion; it is already a part here.
            // bash ignores `{}` at the start of a word, and a `}` right after `{` closes nothing.
            if start == 0, atoms.count > 1, atoms[1] == .char(.rbrace) { start += 2; continue }
            var nesting = 0
            var commas: [Int] = []
            var close: Int?
            let firstCandidate = start + 1 < atoms.count && atoms[start + 1] == .char(.rbrace) ? start + 2 : start + 1
            for k in firstCandidate..<max(firstCandidate, atoms.count) {
                if atoms[k] == .char(.lbrace) { nesting += 1 }
                if atoms[k] == .char(.rbrace) {
                    if nesting == 0 { close = k; break }
                    nesting -= 1
                }
                if atoms[k] == .char(.comma) && nesting == 0 { commas.append(k) }
            }
            guard let end = close else { start += 1; continue }
            let preamble = Array(atoms[..<start])
            let inner = Array(atoms[(start + 1)..<end])
            let post = Array(atoms[(end + 1)...])
            var alternatives: [[Atom]] = []
            if !commas.isEmpty {
                var from = start + 1
                for comma in commas + [end] {
                    alternatives.append(Array(atoms[from..<comma]))
                    from = comma + 1
                }
            } else if let sequence = WordExpander.sequence(inner) {
                guard sequence.count <= budget else { return nil }
                alternatives = sequence.map { $0.utf8.map { Atom.char($0) } }
            } else {
                start += 1
                continue
            }
            guard let rest = braceExpand(post, budget: budget) else { return nil }
            var out: [[Atom]] = []
            for alternative in alternatives {
                guard let expandedAlternative = braceExpand(alternative, budget: budget) else { return nil }
                for a in expandedAlternative {
                    for r in rest {
                        out.append(preamble + a + r)
                        if out.count > budget { return nil }
                    }
                }
            }
            return out
        }
        return [atoms]
    }

    /// `{1..5}`, `{05..10..2}`, `{a..e}`.
    static func sequence(_ atoms: [Atom]) -> [String]? {
        var bytes: [UInt8] = []
        for atom in atoms {
            guard case .char(let c) = atom else { return nil }
            bytes.append(c)
        }
        let pieces = String(decoding: bytes, as: UTF8.self).split(separator: "..", omittingEmptySubsequences: false).map(String.init)
        guard pieces.count == 2 || pieces.count == 3 else { return nil }
        var step = 1
        if pieces.count == 3 {
            guard let s = Int(pieces[2]) else { return nil }
            step = s == 0 ? 1 : abs(s)
        }
        if let a = Int(pieces[0]), let b = Int(pieces[1]) {
            // Too long to list: one word past the budget is enough for the caller to refuse it.
            guard abs(b - a) / step < maxBraceWords else { return Array(repeating: "", count: maxBraceWords + 1) }
            let width = [pieces[0], pieces[1]].contains { p in
                let digits = p.hasPrefix("-") ? String(p.dropFirst()) : p
                return digits.count > 1 && digits.hasPrefix("0")
            } ? max(pieces[0].count, pieces[1].count) : 0
            let values = a <= b ? Array(stride(from: a, through: b, by: step)) : Array(stride(from: a, through: b, by: -step))
            return values.map { v in
                var s = String(abs(v))
                let sign = v < 0 ? "-" : ""
                while s.count + sign.count < width { s = "0" + s }
                return sign + s
            }
        }
        let a = Array(pieces[0].unicodeScalars), b = Array(pieces[1].unicodeScalars)
        guard a.count == 1, b.count == 1, a[0].isASCII, b[0].isASCII,
              a[0].properties.isAlphabetic, b[0].properties.isAlphabetic else { return nil }
        let x = Int(a[0].value), y = Int(b[0].value)
        let values = x <= y ? Array(stride(from: x, through: y, by: step)) : Array(stride(from: x, through: y, by: -step))
        return values.compactMap { UnicodeScalar($0).map { String(Character($0)) } }
    }
}

