// What a line would do, as values the policy engine decides on.

/// One argument as bash would pass it, or why it cannot be known before the line runs.
public struct Field: Sendable, Equatable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// Known exactly.
        case literal
        /// An unquoted glob: bash replaces it with the matching file names at run time.
        case pattern
        /// Depends on the run (command output, an unknown variable …).
        case dynamic
    }

    /// The static text, the glob pattern, or the word as typed for a dynamic field.
    public var text: String
    public var kind: Kind
    public var reason: String?
    /// True when this field may stand for any number of arguments, including none
    /// (an unquoted expansion that bash splits, `"$@"`, a glob).
    public var variadic: Bool
    public var offset: Int
    /// For a pattern: the glob as bash's matcher sees it, every quoted metacharacter escaped with
    /// a backslash (`"a*"b*` is `a\*b*`), so a dry run expands exactly what bash would.
    public var glob: String?

    public init(text: String, kind: Kind = .literal, reason: String? = nil, variadic: Bool = false, offset: Int, glob: String? = nil) {
        self.text = text
        self.kind = kind
        self.reason = reason
        self.variadic = variadic
        self.offset = offset
        self.glob = glob
    }

    public var isStatic: Bool { kind == .literal }
    public var staticText: String? { kind == .literal ? text : nil }

    public static func dynamic(_ text: String, reason: String, variadic: Bool = false, offset: Int) -> Field {
        Field(text: text, kind: .dynamic, reason: reason, variadic: variadic, offset: offset)
    }
}

/// Where a command sits in the line: the path of constructs around it, outermost first.
public enum ContextKind: String, Sendable, Hashable {
    case pipeline
    case andOr = "and-or"
    case background
    case subshell
    case group
    case commandSubstitution = "command-substitution"
    case processSubstitution = "process-substitution"
    case parameterExpansion = "parameter-expansion"
    case arithmetic
    case hereDocument = "here-document"
    case conditionalExpression = "conditional-expression"
    case ifCondition = "if-condition"
    case ifBody = "if-body"
    case loopCondition = "loop-condition"
    case loopBody = "loop-body"
    case caseBody = "case-body"
    case functionBody = "function-body"
    case coproc
    case redirection
    case assignment
    /// A string run as shell code: `bash -c`, `eval`, `su -c`, `watch`, `flock -c`, `script -c` …
    case shellString = "shell-string"
    case xargs
    case findExec = "find-exec"
}

public struct ExtractedCommand: Sendable, Equatable {
    public var argv: [Field]
    /// argv[0] when it is known.
    public var name: String?
    /// The wrappers this command runs under, outermost first (`sudo`, `env`, `bash` for `bash -c` …).
    public var via: [String]
    public var context: [ContextKind]
    public var position: Position
    /// Set when the command that runs cannot be known statically.
    public var dynamicReason: String?
    /// What a here-document or here-string gives it on standard input (dynamic for `< file`);
    /// nil when it reads the session's input or a pipe, which a decision cannot see.
    public var stdin: Field?

    public init(argv: [Field], name: String?, via: [String], context: [ContextKind], position: Position, dynamicReason: String?,
                stdin: Field? = nil) {
        self.argv = argv
        self.name = name
        self.via = via
        self.context = context
        self.position = position
        self.dynamicReason = dynamicReason
        self.stdin = stdin
    }

    public var contextDescription: String {
        context.isEmpty ? "top" : context.map(\.rawValue).joined(separator: " > ")
    }
}

public struct ExtractedRedirect: Sendable, Equatable {
    public var op: RedirectOperator
    public var fd: Int?
    public var target: Field
    /// The redirection opens `target` as a file for writing.
    public var writes: Bool
    /// The redirection reads or writes a file (not a descriptor, here-document or here-string).
    public var opensFile: Bool
    public var context: [ContextKind]
    public var position: Position

    public init(op: RedirectOperator, fd: Int?, target: Field, writes: Bool, opensFile: Bool, context: [ContextKind], position: Position) {
        self.op = op
        self.fd = fd
        self.target = target
        self.writes = writes
        self.opensFile = opensFile
        self.context = context
        self.position = position
    }
}

public struct ExtractedAssignment: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// `x=1` alone: a shell variable for the rest of the line.
        case shell
        /// `x=1 cmd`: in the environment of that command only.
        case prefix
        /// `export x=1`, `declare x=1` …
        case declaration
        /// `env x=1 cmd`, `sudo x=1 cmd`.
        case environment
    }

    public var name: String
    public var value: Field?
    public var kind: Kind
    public var context: [ContextKind]
    public var position: Position
}

public struct Risk: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// Arithmetic, a subscript or `[[ -eq ]]` over an operand whose value is not known: bash
        /// evaluates such values as expressions, which can run command substitutions.
        case codeFromData = "code-from-data"
        case indirectExpansion = "indirect-expansion"
        case promptExpansion = "prompt-expansion"
        case functionDefinition = "function-definition"
        case aliasDefinition = "alias-definition"
        case trap
        case enable
        case hashPath = "hash-path"
        case source
        case execWithoutCommand = "exec-without-command"
        case parserOption = "parser-option"
        case callback
        case controlCharacter = "control-character"
    }

    public var kind: Kind
    public var message: String
    public var position: Position
}

public struct Extraction: Sendable, Equatable {
    public var commands: [ExtractedCommand] = []
    public var redirects: [ExtractedRedirect] = []
    public var assignments: [ExtractedAssignment] = []
    public var risks: [Risk] = []

    public init() {}
}

/// What the caller knows of the shell's variables when the line starts.
public struct ShellEnvironment: Sendable, Equatable {
    public var variables: [String: String]
    /// True when `variables` is the whole environment, so a name not in it is unset (a session
    /// knows its own environment; `jitsh check` does not).
    public var complete: Bool

    public init(variables: [String: String] = [:], complete: Bool = false) {
        self.variables = variables
        self.complete = complete
    }

    public static let unknown = ShellEnvironment()
}
