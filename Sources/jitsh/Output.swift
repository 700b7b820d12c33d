import Foundation
import ShellSyntax

enum JSONOutput {
    static func string<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return Visible.json(String(decoding: data, as: UTF8.self))
    }
}

// The JSON shapes of `jitsh parse --json`; field names are an interface (README, "Interfaces").

struct FieldJSON: Encodable {
    let field: Field
    init(_ field: Field) { self.field = field }

    enum CodingKeys: String, CodingKey { case text, `static`, kind, reason, variadic }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(field.text, forKey: .text)
        try c.encode(field.isStatic, forKey: .static)
        try c.encode(field.kind.rawValue, forKey: .kind)
        try c.encodeIfPresent(field.reason, forKey: .reason)
        try c.encode(field.variadic, forKey: .variadic)
    }
}

struct CommandJSON: Encodable {
    let command: ExtractedCommand
    enum CodingKeys: String, CodingKey { case name, argv, via, context, position, dynamicReason = "dynamic_reason" }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(command.name, forKey: .name)
        try c.encode(command.argv.map(FieldJSON.init), forKey: .argv)
        try c.encode(command.via, forKey: .via)
        try c.encode(command.contextDescription, forKey: .context)
        try c.encode(command.position.description, forKey: .position)
        try c.encode(command.dynamicReason, forKey: .dynamicReason)
    }
}

struct RedirectJSON: Encodable {
    let redirect: ExtractedRedirect
    enum CodingKeys: String, CodingKey { case op, fd, target, writes, context, position }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(redirect.op.rawValue, forKey: .op)
        try c.encode(redirect.fd, forKey: .fd)
        try c.encode(FieldJSON(redirect.target), forKey: .target)
        try c.encode(redirect.writes, forKey: .writes)
        try c.encode(redirect.context.isEmpty ? "top" : redirect.context.map(\.rawValue).joined(separator: " > "), forKey: .context)
        try c.encode(redirect.position.description, forKey: .position)
    }
}

struct AssignmentJSON: Encodable {
    let assignment: ExtractedAssignment
    enum CodingKeys: String, CodingKey { case name, value, kind, position }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(assignment.name, forKey: .name)
        try c.encode(assignment.value.map(FieldJSON.init), forKey: .value)
        try c.encode(assignment.kind.rawValue, forKey: .kind)
        try c.encode(assignment.position.description, forKey: .position)
    }
}

struct RiskJSON: Encodable {
    let risk: Risk
    enum CodingKeys: String, CodingKey { case kind, message, position }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(risk.kind.rawValue, forKey: .kind)
        try c.encode(risk.message, forKey: .message)
        try c.encode(risk.position.description, forKey: .position)
    }
}

struct ExtractionJSON: Encodable {
    let extraction: Extraction
    init(_ extraction: Extraction) { self.extraction = extraction }
    enum CodingKeys: String, CodingKey { case commands, redirects, assignments, risks }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(extraction.commands.map(CommandJSON.init), forKey: .commands)
        try c.encode(extraction.redirects.map(RedirectJSON.init), forKey: .redirects)
        try c.encode(extraction.assignments.map(AssignmentJSON.init), forKey: .assignments)
        try c.encode(extraction.risks.map(RiskJSON.init), forKey: .risks)
    }
}

enum TextOutput {
    /// Rows as aligned columns, two spaces apart (tabs would be shown as `\t`: `Console.line`
    /// shows every control). Cells should already be `.visible`.
    static func table(_ rows: [[String]]) -> String {
        let widths = rows.reduce(into: [Int]()) { w, row in
            for (k, cell) in row.enumerated() {
                if k < w.count { w[k] = max(w[k], cell.count) } else { w.append(cell.count) }
            }
        }
        return rows.map { row in
            row.enumerated().map { k, cell in
                k == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[k] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func field(_ f: Field) -> String {
        switch f.kind {
        case .literal: return Quote.ifNeeded(f.text).visible
        case .pattern: return "\(f.text.visible)  (glob)"
        case .dynamic: return "\(f.text.visible)  (dynamic: \(f.reason ?? "not static"))"
        }
    }

    static func extraction(_ e: Extraction) -> String {
        var lines: [String] = []
        for c in e.commands {
            var head = "command \(c.position)  \(c.name.map(Quote.ifNeeded)?.visible ?? "(dynamic)")"
            if !c.via.isEmpty { head += "  via \(c.via.joined(separator: " > "))" }
            if !c.context.isEmpty { head += "  in \(c.contextDescription)" }
            lines.append(head)
            if let reason = c.dynamicReason { lines.append("  not static: \(reason)") }
            for (k, f) in c.argv.enumerated() { lines.append("  argv[\(k)] \(field(f))") }
        }
        for r in e.redirects {
            lines.append("redirect \(r.position)  \(r.fd.map(String.init) ?? "")\(r.op.rawValue) \(field(r.target))\(r.writes ? "  writes" : "")")
        }
        for a in e.assignments {
            lines.append("assignment \(a.position)  \(a.name.visible)=\(a.value.map(field) ?? "")  (\(a.kind.rawValue))")
        }
        for r in e.risks {
            lines.append("risk \(r.position)  \(r.kind.rawValue): \(r.message.visible)")
        }
        return lines.isEmpty ? "nothing runs" : lines.joined(separator: "\n")
    }
}
