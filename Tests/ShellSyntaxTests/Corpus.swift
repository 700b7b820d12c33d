import Foundation
import Testing
@testable import ShellSyntax

/// One line of a corpus file: `INPUT => EXPECTED`. In INPUT, `↵` stands for a newline and `→`
/// for a tab, so a case stays on one line. Lines starting with `#` and blank lines are skipped.
struct CorpusCase: CustomTestStringConvertible, Sendable {
    let file: String
    let lineNumber: Int
    let input: String
    let expected: String

    var testDescription: String { "\(file):\(lineNumber): \(input)" }
}

enum Corpus {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")

    static func load(_ name: String) -> [CorpusCase] {
        guard let text = try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) else {
            return [CorpusCase(file: name, lineNumber: 0, input: "", expected: "cannot read \(name)")]
        }
        var cases: [CorpusCase] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { continue }
            guard let arrow = line.range(of: " => ", options: .backwards) else {
                cases.append(CorpusCase(file: name, lineNumber: index + 1, input: line, expected: "missing ` => `"))
                continue
            }
            let input = String(line[..<arrow.lowerBound]).replacingOccurrences(of: "↵", with: "\n").replacingOccurrences(of: "→", with: "\t")
            cases.append(CorpusCase(file: name, lineNumber: index + 1, input: input, expected: String(line[arrow.upperBound...])))
        }
        return cases
    }

    /// The environment corpus cases run in: a fresh session's, so unset names are known unset.
    static let environment = ShellEnvironment(variables: ["HOME": "/home/alice", "USER": "alice", "PWD": "/home/alice",
                                                          "PATH": "/usr/bin:/bin"], complete: true)

    static func render(_ f: Field) -> String {
        switch f.kind {
        case .literal:
            let plain = !f.text.isEmpty && f.text.unicodeScalars.allSatisfy {
                $0.properties.isAlphabetic || "0123456789_./=:@%+,^-".unicodeScalars.contains($0)
            }
            let quoted = plain ? f.text : "'" + f.text.replacingOccurrences(of: "'", with: "'\\''") + "'"
            return quoted.replacingOccurrences(of: "\n", with: "↵").replacingOccurrences(of: "\t", with: "→")
        case .pattern:
            return "<glob:\(f.text)>"
        case .dynamic:
            return f.variadic ? "<?*>" : "<?>"
        }
    }

    static func render(_ c: ExtractedCommand) -> String {
        c.via.map { $0 + ">" }.joined() + c.argv.map(render).joined(separator: " ")
    }

    /// Commands joined by ` ; `, then ` !kind` for each risk; or `error L:C message`
    /// (`error+` when the line is incomplete).
    static func renderCommands(_ input: String) -> String {
        do {
            let e = try ShellSyntax.extract(input, environment: environment)
            var out = e.commands.isEmpty ? "-" : e.commands.map(render).joined(separator: " ; ")
            for r in e.risks { out += " !" + r.kind.rawValue }
            return out
        } catch {
            return "error\(error.incomplete ? "+" : "") \(error.position) \(error.message)"
        }
    }

    /// `name@context` for each command.
    static func renderContexts(_ input: String) -> String {
        do {
            let e = try ShellSyntax.extract(input, environment: environment)
            return e.commands.map { "\($0.name ?? "<?>")@\($0.contextDescription.replacingOccurrences(of: " > ", with: ">"))" }
                .joined(separator: " ")
        } catch {
            return "error \(error.position) \(error.message)"
        }
    }

    /// Redirections as `fd op target` (with `w` when it writes a file), then assignments as
    /// `name=value(kind)`.
    static func renderEffects(_ input: String) -> String {
        do {
            let e = try ShellSyntax.extract(input, environment: environment)
            var parts = e.redirects.map { "\($0.fd.map(String.init) ?? "")\($0.op.rawValue)\(render($0.target))\($0.writes ? "(w)" : "")" }
            parts += e.assignments.map { "\($0.name)=\($0.value.map(render) ?? "")(\($0.kind.rawValue))" }
            return parts.isEmpty ? "-" : parts.joined(separator: " ")
        } catch {
            return "error \(error.position) \(error.message)"
        }
    }
}
