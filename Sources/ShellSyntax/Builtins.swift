// What bash builtins do to variables, and which of them run code from data.

/// A variable change a command makes.
enum AssignmentEffect: Equatable {
    case value(String, Field)
    case integer(String)
    case unknown(String, reason: String)
    case unset(String)

    var name: String {
        switch self {
        case .value(let n, _), .integer(let n), .unknown(let n, _), .unset(let n): return n
        }
    }
}

enum Builtins {
    static let declarations: Set<String> = ["declare", "typeset", "local", "export", "readonly"]
    /// Builtins that assign variables (checked first: most commands are none of these).
    static let assigning: Set<String> = declarations.union([
        "command", "builtin", "read", "mapfile", "readarray", "printf", "getopts", "unset", "cd", "pushd", "popd", "wait",
    ])
    static let namingVariables: Set<String> = ["read", "mapfile", "readarray", "unset", "getopts"]
    /// Builtins whose arguments can make a line risky.
    static let risky: Set<String> = declarations.union([
        "alias", "trap", "enable", "hash", "source", ".", "exec", "read", "mapfile", "readarray", "unset", "getopts",
        "printf", "wait", "complete", "compgen", "bind", "let", "shopt", "set", "test", "[",
    ])

    /// Shell options that change how later commands in the same line are parsed.
    static let parserShopts: Set<String> = ["expand_aliases", "extglob", "extquote", "posix", "compat31", "compat32",
                                            "compat40", "compat41", "compat42", "compat43", "compat44", "compat50"]

    /// `NAME=value`, `NAME+=value`, `NAME[sub]=value` in an argument: the name, the subscript
    /// text if any, and the value (nil when the argument is not an assignment).
    static func assignmentArgument(_ field: Field) -> (name: String, index: String?, append: Bool, value: Field)? {
        let bytes = field.text.utf8
        guard let eq = bytes.firstIndex(of: .eq) else { return nil }
        var headEnd = eq
        var append = false
        if headEnd > bytes.startIndex, bytes[bytes.index(before: headEnd)] == .plus {
            append = true
            headEnd = bytes.index(before: headEnd)
        }
        var nameEnd = headEnd
        var index: String?
        if headEnd > bytes.startIndex, bytes[bytes.index(before: headEnd)] == .rbracket,
           let open = bytes[..<headEnd].firstIndex(of: .lbracket) {
            index = String(decoding: bytes[bytes.index(after: open)..<bytes.index(before: headEnd)], as: UTF8.self)
            nameEnd = open
        }
        let name = bytes[..<nameEnd]
        guard let first = name.first, first.isNameStart, name.allSatisfy({ $0.isNameChar }) else { return nil }
        let rawValue = String(decoding: bytes[bytes.index(after: eq)...], as: UTF8.self)
        let value = field.isStatic ? Field(text: rawValue, offset: field.offset)
            : .dynamic(rawValue, reason: field.reason ?? "not static", offset: field.offset)
        return (String(decoding: name, as: UTF8.self), index, append, value)
    }

    /// Operands after the options of a builtin, for the option letters that take an argument.
    static func operands(_ args: ArraySlice<Field>, withArgument: Set<Character>) -> (options: [(Character, Field?)], operands: [Field]) {
        var options: [(Character, Field?)] = []
        var k = args.startIndex
        while k < args.endIndex, let t = args[k].staticText, t.count > 1, t.hasPrefix("-") || t.hasPrefix("+"), t != "--" {
            k += 1
            var chars = Substring(t.dropFirst())
            while let c = chars.first {
                chars = chars.dropFirst()
                if withArgument.contains(c) {
                    if !chars.isEmpty {
                        options.append((c, Field(text: String(chars), offset: args[k - 1].offset)))
                    } else if k < args.endIndex {
                        options.append((c, args[k]))
                        k += 1
                    }
                    break
                }
                options.append((c, nil))
            }
        }
        if k < args.endIndex, args[k].staticText == "--" { k += 1 }
        return (options, Array(args[k...]))
    }

    /// Variables that `argv` sets in the shell running it.
    static func effects(_ argv: [Field]) -> [AssignmentEffect] {
        guard let name = argv.first?.staticText, assigning.contains(name) else { return [] }
        let args = argv.dropFirst()
        // A variable named at run time may be any variable.
        var anyVariable: AssignmentEffect { .unknown("*", reason: "`\(name)` assigns a variable named at run time") }
        if namingVariables.contains(name), args.contains(where: { !$0.isStatic }) { return [anyVariable] }
        switch name {
        case "command", "builtin":
            return effects(withoutCommandPrefix(argv))
        case _ where declarations.contains(name):
            let (options, operands) = self.operands(args, withArgument: [])
            let integer = options.contains { $0.0 == "i" }
            return operands.compactMap { f in
                guard let a = assignmentArgument(f) else { return f.isStatic ? nil : anyVariable }
                if a.index != nil || a.append { return .unknown(a.name, reason: "$\(a.name) is changed in place by `\(name)`") }
                if integer { return .integer(a.name) }
                return .value(a.name, a.value)
            }
        case "read":
            let (options, operands) = self.operands(args, withArgument: ["a", "d", "i", "n", "N", "p", "t", "u"])
            var names = operands.compactMap(\.staticText).map(baseName)
            if let array = options.first(where: { $0.0 == "a" })?.1?.staticText { names.append(array) }
            if names.isEmpty { names = ["REPLY"] }
            return names.map { .unknown($0, reason: "$\($0) is read from input when the line runs") }
        case "mapfile", "readarray":
            let (_, operands) = self.operands(args, withArgument: ["d", "n", "O", "s", "u", "C", "c"])
            let target = operands.last?.staticText ?? "MAPFILE"
            return [.unknown(target, reason: "$\(target) is read from input when the line runs")]
        case "printf":
            guard let field = self.operands(args, withArgument: ["v"]).options.first(where: { $0.0 == "v" })?.1 else { return [] }
            guard let v = field.staticText else { return [anyVariable] }
            return [.unknown(baseName(v), reason: "$\(baseName(v)) is set by printf -v")]
        case "getopts":
            let operands = Array(args)
            let target = operands.count >= 2 ? operands[1].staticText.map(baseName) ?? "" : ""
            return ([target, "OPTARG", "OPTIND"].filter { !$0.isEmpty }).map { .unknown($0, reason: "$\($0) is set by getopts") }
        case "unset":
            let (options, operands) = self.operands(args, withArgument: [])
            if options.contains(where: { $0.0 == "f" }) { return [] }
            return operands.compactMap(\.staticText).map { $0.contains("[") ? .unknown(baseName($0), reason: "an array element is unset") : .unset($0) }
        case "cd", "pushd", "popd":
            return [.unknown("PWD", reason: "$PWD changes with `\(name)`"), .unknown("OLDPWD", reason: "$OLDPWD changes with `\(name)`")]
        case "wait":
            guard let v = self.operands(args, withArgument: ["p"]).options.first(where: { $0.0 == "p" })?.1?.staticText else { return [] }
            return [.unknown(v, reason: "$\(v) is set by wait -p")]
        default:
            return []
        }
    }

    /// `command -p read x` → `read x`: command and builtin run builtins in this shell too.
    static func withoutCommandPrefix(_ argv: [Field]) -> [Field] {
        var argv = argv
        while let name = argv.first?.staticText, name == "command" || name == "builtin" {
            argv = operands(argv.dropFirst(), withArgument: []).operands
        }
        return argv
    }

    static func baseName(_ nameWithSubscript: String) -> String {
        String(nameWithSubscript.prefix { $0 != "[" })
    }
}
