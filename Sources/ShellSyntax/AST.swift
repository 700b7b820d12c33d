// The syntax tree follows bash's grammar: a script holds statements; a statement holds one
// command and its redirections; a word is a sequence of parts. Every node records the byte offset
// where it starts in the original line (see `SourceLocator` for line and column).

/// A list of statements: the whole line, a subshell, a group, a command substitution.
public struct Script: Sendable, Equatable {
    public var statements: [Statement]
    public init(statements: [Statement]) { self.statements = statements }
}

public struct Statement: Sendable, Equatable {
    public var command: Command
    public var redirects: [Redirect]
    public var negated: Bool
    public var background: Bool
    public var offset: Int
}

public indirect enum Command: Sendable, Equatable {
    case simple(SimpleCommand)
    case pipeline(Pipeline)
    case andOr(AndOrList)
    case subshell(Script)
    case group(Script)
    case ifClause(IfClause)
    case loop(LoopClause)
    case forIn(ForInClause)
    case forArithmetic(ForArithmeticClause)
    case caseClause(CaseClause)
    case function(FunctionDefinition)
    case arithmetic(Arithmetic)
    case conditional(ConditionalExpression)
    case coproc(name: String?, body: Statement)
    case time(posix: Bool, body: Statement?)
}

public struct SimpleCommand: Sendable, Equatable {
    public var assignments: [Assignment]
    public var words: [Word]
}

/// `a | b |& c`: kept flat so a long pipeline is not a deep tree.
public struct Pipeline: Sendable, Equatable {
    public var commands: [Statement]
    /// For each `|` between commands: true when it is `|&` (stderr too).
    public var pipesStderr: [Bool]
}

public enum AndOrOperator: String, Sendable, Equatable {
    case and = "&&", or = "||"
}

public struct AndOrLink: Sendable, Equatable {
    public var op: AndOrOperator
    public var statement: Statement
}

/// `a && b || c`, flat for the same reason as `Pipeline`.
public struct AndOrList: Sendable, Equatable {
    public var first: Statement
    public var rest: [AndOrLink]
}

public struct IfClause: Sendable, Equatable {
    /// `if` and every `elif`, in order.
    public var branches: [(condition: Script, body: Script)]
    public var elseBody: Script?

    public static func == (a: IfClause, b: IfClause) -> Bool {
        a.elseBody == b.elseBody && a.branches.count == b.branches.count
            && zip(a.branches, b.branches).allSatisfy { $0.condition == $1.condition && $0.body == $1.body }
    }
}

public struct LoopClause: Sendable, Equatable {
    public var until: Bool
    public var condition: Script
    public var body: Script
}

public struct ForInClause: Sendable, Equatable {
    public var select: Bool
    public var name: String
    /// nil when `in` is absent (the loop runs over "$@").
    public var items: [Word]?
    public var body: Script
}

public struct ForArithmeticClause: Sendable, Equatable {
    public var initializer: Arithmetic
    public var condition: Arithmetic
    public var update: Arithmetic
    public var body: Script
}

public enum CaseTerminator: String, Sendable, Equatable {
    case breakCase = ";;", fallThrough = ";&", testNext = ";;&"
}

public struct CaseItem: Sendable, Equatable {
    public var patterns: [Word]
    public var body: Script
    public var terminator: CaseTerminator
}

public struct CaseClause: Sendable, Equatable {
    public var subject: Word
    public var items: [CaseItem]
}

public struct FunctionDefinition: Sendable, Equatable {
    public var name: String
    public var body: Statement
}

// MARK: - Assignments

public struct Assignment: Sendable, Equatable {
    public var name: String
    /// The subscript of `name[sub]=…`, which bash evaluates arithmetically for indexed arrays.
    public var index: Word?
    public var append: Bool
    public var value: AssignmentValue
    public var offset: Int
}

public enum AssignmentValue: Sendable, Equatable {
    case scalar(Word)
    case array([ArrayElement])
}

public struct ArrayElement: Sendable, Equatable {
    public var key: Word?
    public var value: Word
}

// MARK: - Redirections

public enum RedirectOperator: String, Sendable, Equatable, CaseIterable {
    case input = "<"
    case output = ">"
    case append = ">>"
    case clobber = ">|"
    case readWrite = "<>"
    case outputBoth = "&>"
    case appendBoth = "&>>"
    case duplicateOutput = ">&"
    case duplicateInput = "<&"
    case hereDoc = "<<"
    case hereDocStrip = "<<-"
    case hereString = "<<<"
}

public struct Redirect: Sendable, Equatable {
    public var fd: Int?
    /// `{name}>file`: bash allocates a descriptor and stores it in `name`.
    public var fdVariable: String?
    public var op: RedirectOperator
    public var target: Word
    public var hereDoc: HereDocument?
    public var offset: Int
}

/// A here-document's body arrives after the line that names it, so the parser fills it in when it
/// reaches that newline; the box lets the redirect be built before its body is known.
public final class HereDocument: @unchecked Sendable, Equatable {
    public let delimiter: String
    public let quoted: Bool
    public let stripTabs: Bool
    public internal(set) var body: Word

    init(delimiter: String, quoted: Bool, stripTabs: Bool, offset: Int) {
        self.delimiter = delimiter
        self.quoted = quoted
        self.stripTabs = stripTabs
        self.body = Word(parts: [], offset: offset, end: offset)
    }

    public static func == (a: HereDocument, b: HereDocument) -> Bool {
        a.delimiter == b.delimiter && a.quoted == b.quoted && a.stripTabs == b.stripTabs && a.body == b.body
    }
}

// MARK: - Words

public struct Word: Sendable, Equatable {
    public var parts: [WordPart]
    public var offset: Int
    /// One past the word's last byte in the original line (for showing the word as typed).
    public var end: Int

    public init(parts: [WordPart], offset: Int, end: Int) {
        self.parts = parts
        self.offset = offset
        self.end = end
    }

    /// The word's text when it is one unquoted literal (keywords, names, operators).
    public var plainLiteral: String? {
        if parts.count == 1, case .literal(let s) = parts[0] { return s }
        if parts.isEmpty { return "" }
        return nil
    }
}

public indirect enum WordPart: Sendable, Equatable {
    /// Unquoted text: subject to brace expansion, splitting and globbing.
    case literal(String)
    /// A backslash-escaped character outside quotes.
    case escaped(String)
    case singleQuoted(String)
    case doubleQuoted([WordPart])
    /// `$'…'`, already decoded.
    case ansiC(String)
    /// `$"…"` (locale translation; with no catalog it is a double-quoted string).
    case localized([WordPart])
    case parameter(ParameterExpansion)
    case commandSubstitution(Script, backquoted: Bool, offset: Int)
    case arithmetic(Arithmetic)
    case processSubstitution(Script, output: Bool, offset: Int)
    /// `name=(a b [k]=v)`: only ever the whole value of an assignment word.
    case arrayLiteral([ArrayElement])
}

public struct ParameterExpansion: Sendable, Equatable {
    public var name: String
    /// `$x` rather than `${x}`.
    public var short: Bool
    public var length: Bool
    public var indirect: Bool
    public var index: Subscript?
    public var op: ParameterOperator?
    public var offset: Int
}

public enum Subscript: Sendable, Equatable {
    case all      // [@]
    case star     // [*]
    case index(Word)
}

public enum ParameterOperator: Sendable, Equatable {
    case useDefault(colon: Bool, Word)         // :- -
    case assignDefault(colon: Bool, Word)      // := =
    case errorIfUnset(colon: Bool, Word)       // :? ?
    case useAlternative(colon: Bool, Word)     // :+ +
    case removePrefix(longest: Bool, Word)     // # ##
    case removeSuffix(longest: Bool, Word)     // % %%
    case replace(mode: ReplaceMode, pattern: Word, replacement: Word?)
    case caseModification(upper: Bool, all: Bool, pattern: Word?)
    case transform(Character)                   // @Q @E @P @A @K @a @k @u @U @L
    case substring(offset: Arithmetic, length: Arithmetic?)
    case namesWithPrefix(star: Bool)            // ${!prefix*} ${!prefix@}
    case arrayKeys(star: Bool)                  // ${!name[@]}
}

public enum ReplaceMode: String, Sendable, Equatable {
    case first = "/", all = "//", prefix = "/#", suffix = "/%"
}

// MARK: - Arithmetic and conditionals

/// An arithmetic expression kept as tokens: bash evaluates it at run time, so what matters here is
/// which operands are literal and which expansions (command substitutions) it contains.
public struct Arithmetic: Sendable, Equatable {
    public var text: String
    public var tokens: [ArithmeticToken]
    public var offset: Int
}

public enum ArithmeticToken: Sendable, Equatable {
    case number(String)
    case name(String, offset: Int)
    case op(String)
    case expansion(WordPart)
}

public struct ConditionalExpression: Sendable, Equatable {
    public var tokens: [ConditionalToken]
    public var offset: Int
}

public enum ConditionalToken: Sendable, Equatable {
    case word(Word)
    case op(String)
}
