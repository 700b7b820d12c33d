// getopt-style option scanning over fields, enough to find where a wrapper's inner command starts.

struct OptionSpec {
    /// Short options without an argument (ASCII letters, as bytes: scanned for every wrapper).
    var flags: Set<UInt8> = []
    /// Short options with a required argument (`-u root`, `-uroot`).
    var withArgument: Set<UInt8> = []
    /// Short options whose argument must be attached (`-i{}`, `-e.`).
    var optionalArgument: Set<UInt8> = []
    var longFlags: Set<String> = []
    var longWithArgument: Set<String> = []
    /// Long options whose argument, if any, follows `=`.
    var longOptionalArgument: Set<String> = []
    /// GNU getopt without `+`: options may come after operands.
    var permute = false
    /// `-5` (nice, legacy): a dash followed by digits is an option.
    var numericOption = false

    init(flags: String = "", withArgument: String = "", optionalArgument: String = "",
         long: [String] = [], longWithArgument: [String] = [], longOptionalArgument: [String] = [],
         permute: Bool = false, numericOption: Bool = false) {
        self.flags = Set(flags.utf8)
        self.withArgument = Set(withArgument.utf8)
        self.optionalArgument = Set(optionalArgument.utf8)
        self.longFlags = Set(long)
        self.longWithArgument = Set(longWithArgument)
        self.longOptionalArgument = Set(longOptionalArgument)
        self.permute = permute
        self.numericOption = numericOption
    }
}

struct ParsedOptions {
    /// Options seen, by their short letter or long name, with their argument.
    var options: [(name: String, value: Field?)] = []
    var operands: [Field] = []

    func has(_ names: String...) -> Bool { options.contains { names.contains($0.name) } }
    func value(_ names: String...) -> Field? { options.last { names.contains($0.name) }?.value }
}

enum OptionScanError: Error {
    case notStatic(Field)
    case unknown(String)
    case missingArgument(String)
}

extension OptionSpec {
    func scan(_ args: ArraySlice<Field>) throws(OptionScanError) -> ParsedOptions {
        var out = ParsedOptions()
        var k = args.startIndex
        var optionsEnded = false
        while k < args.endIndex {
            let field = args[k]
            k += 1
            if optionsEnded {
                out.operands.append(field)
                continue
            }
            guard let text = field.staticText, !field.variadic else { throw .notStatic(field) }
            if text == "--" {
                optionsEnded = true
                continue
            }
            if text.hasPrefix("--") {
                let body = text.dropFirst(2)
                let name = String(body.prefix { $0 != "=" })
                let attached: Field? = body.contains("=")
                    ? Field(text: String(body.drop { $0 != "=" }.dropFirst()), offset: field.offset) : nil
                guard let resolved = resolveLong(name) else { throw .unknown("--" + name) }
                if longWithArgument.contains(resolved) {
                    if let attached {
                        out.options.append((resolved, attached))
                    } else {
                        guard k < args.endIndex else { throw .missingArgument("--" + resolved) }
                        out.options.append((resolved, args[k]))
                        k += 1
                    }
                } else {
                    out.options.append((resolved, attached))
                }
                continue
            }
            let bytes = text.utf8
            if bytes.first == .minus && bytes.count > 1 {
                if numericOption, bytes.dropFirst().allSatisfy({ $0.isDigit }) {
                    out.options.append(("n", Field(text: String(text.dropFirst()), offset: field.offset)))
                    continue
                }
                var rest = bytes.dropFirst()
                while let c = rest.first {
                    rest = rest.dropFirst()
                    let letter = String(UnicodeScalar(c))
                    if flags.contains(c) {
                        out.options.append((letter, nil))
                    } else if withArgument.contains(c) {
                        if !rest.isEmpty {
                            out.options.append((letter, Field(text: String(decoding: rest, as: UTF8.self), offset: field.offset)))
                        } else {
                            guard k < args.endIndex else { throw .missingArgument("-" + letter) }
                            out.options.append((letter, args[k]))
                            k += 1
                        }
                        break
                    } else if optionalArgument.contains(c) {
                        out.options.append((letter, rest.isEmpty ? nil : Field(text: String(decoding: rest, as: UTF8.self), offset: field.offset)))
                        break
                    } else {
                        throw .unknown("-" + letter)
                    }
                }
                continue
            }
            out.operands.append(field)
            if !permute { optionsEnded = true }
        }
        return out
    }

    /// getopt_long accepts any unambiguous prefix of a long option.
    private func resolveLong(_ name: String) -> String? {
        let all = longFlags.union(longWithArgument).union(longOptionalArgument)
        if all.contains(name) { return name }
        let candidates = all.filter { $0.hasPrefix(name) }
        return candidates.count == 1 ? candidates.first : nil
    }
}
