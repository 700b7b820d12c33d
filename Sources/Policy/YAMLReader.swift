import Yams

/// One finding about a policy file, with its place: `roles/ops.yaml:12:5: error: …`.
public struct Diagnostic: Sendable, CustomStringConvertible, Equatable {
    public enum Severity: String, Sendable { case error, warning }

    public var severity: Severity
    public var ref: SourceRef
    public var message: String
    public var hint: String?

    public init(_ severity: Severity, _ ref: SourceRef, _ message: String, hint: String? = nil) {
        self.severity = severity
        self.ref = ref
        self.message = message
        self.hint = hint
    }

    public var description: String {
        "\(ref.detailed): \(severity.rawValue): \(message)" + (hint.map { " (\($0))" } ?? "")
    }
}

/// A policy that does not load: every error found, so one run of lint shows them all.
public struct PolicyError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public init(diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// A policy file as text, named by its path inside the policy directory.
public struct PolicyFile: Sendable {
    public var path: String
    public var text: String

    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}

/// Reads YAML nodes and records what is wrong with them, with file, line and column.
/// Public so other YAML files of jitsh (jitsh.yaml) report errors the same way.
public struct YAMLReader {
    public let file: String
    public var diagnostics: [Diagnostic] = []

    public init(file: String) { self.file = file }

    public func ref(_ node: Node?) -> SourceRef {
        let mark = node?.mark
        return SourceRef(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    public mutating func error(_ node: Node?, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(.error, ref(node), message, hint: hint))
    }

    public mutating func warning(_ node: Node?, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(.warning, ref(node), message, hint: hint))
    }

    /// Parses the document; nil (with a diagnostic) when it is not YAML.
    public mutating func document(_ text: String) -> Node? {
        do {
            // The basic resolver: values are read as text here, so the default's regular expressions
            // (compiled on every start of jitsh) would only cost time.
            guard let node = try Yams.compose(yaml: text, .basic) else {
                error(nil, "the file is empty")
                return nil
            }
            return node
        } catch let e as YamlError {
            switch e {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                diagnostics.append(Diagnostic(.error, SourceRef(file: file, line: mark.line, column: mark.column), "not valid YAML: \(problem)"))
            case .duplicatedKeysInMapping(let duplicates, let context):
                diagnostics.append(Diagnostic(.error, SourceRef(file: file, line: context.mark.line, column: context.mark.column),
                                              "duplicate key \(duplicates.map { "`\($0)`" }.joined(separator: ", "))"))
            default:
                error(nil, "not valid YAML: \(e)")
            }
            return nil
        } catch {
            self.error(nil, "not valid YAML: \(error)")
            return nil
        }
    }

    /// The mapping's entries, after checking every key is one of `allowed`.
    public mutating func mapping(_ node: Node, _ what: String, allowed: [String]) -> [(key: String, keyNode: Node, value: Node)]? {
        guard let m = node.mapping else {
            error(node, "\(what) must be a mapping (`key: value` lines)")
            return nil
        }
        var out: [(String, Node, Node)] = []
        for (k, v) in m {
            guard let key = k.string else {
                error(k, "keys of \(what) must be plain words")
                continue
            }
            if !allowed.contains(key) {
                let suggestion = YAMLReader.closest(key, in: allowed)
                error(k, "unknown key `\(key)` in \(what)",
                      hint: suggestion.map { "did you mean `\($0)`?" } ?? "allowed: \(allowed.joined(separator: ", "))")
                continue
            }
            out.append((key, k, v))
        }
        return out
    }

    public mutating func string(_ node: Node, _ what: String) -> String? {
        guard let s = node.scalar?.string else {
            error(node, "\(what) must be a single value")
            return nil
        }
        return s
    }

    /// A value or a list of values.
    public mutating func strings(_ node: Node, _ what: String) -> [String]? {
        if let s = node.scalar?.string { return [s] }
        guard let seq = node.sequence else {
            error(node, "\(what) must be a value or a list of values")
            return nil
        }
        var out: [String] = []
        for item in seq {
            guard let s = item.scalar?.string else {
                error(item, "each item of \(what) must be a single value")
                return nil
            }
            out.append(s)
        }
        return out
    }

    /// Like `strings`, with each value's own node, so an error can point at the item itself.
    public mutating func items(_ node: Node, _ what: String) -> [(text: String, node: Node)] {
        if let s = node.scalar?.string { return [(s, node)] }
        guard let seq = node.sequence else {
            error(node, "\(what) must be a value or a list of values")
            return []
        }
        var out: [(String, Node)] = []
        for item in seq {
            guard let s = item.scalar?.string else {
                error(item, "each item of \(what) must be a single value")
                continue
            }
            out.append((s, item))
        }
        return out
    }

    public mutating func bool(_ node: Node, _ what: String) -> Bool? {
        switch node.scalar?.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            error(node, "\(what) must be true or false")
            return nil
        }
    }

    public mutating func int(_ node: Node, _ what: String) -> Int? {
        guard let s = node.scalar?.string, let v = Int(s), v >= 0 else {
            error(node, "\(what) must be a whole number")
            return nil
        }
        return v
    }

    public mutating func duration(_ node: Node, _ what: String) -> Int? {
        guard let s = node.scalar?.string, let v = Duration.seconds(s) else {
            error(node, "\(what) must be a duration like 90s, 30m, 2h or 1h30m")
            return nil
        }
        return v
    }

    /// The allowed word nearest to a misspelt key, if it is near enough to be meant.
    static func closest(_ word: String, in candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(a.count, 1) where i <= a.count {
                var previous = row[0]
                row[0] = i
                for j in 1...max(b.count, 1) where j <= b.count {
                    let old = row[j]
                    row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                    previous = old
                }
            }
            return row[b.count]
        }
        let scored = candidates.map { ($0, distance(Array(word), Array($0))) }.min { $0.1 < $1.1 }
        guard let best = scored, best.1 <= max(1, word.count / 3) else { return nil }
        return best.0
    }
}
