/// A line parsed once. The prompt asks it whether the line is complete, the session whether it
/// is one of jitsh's own commands, the decider what it runs: each reads this parse, with the
/// environment it knows, instead of parsing the line again.
public struct ParsedLine: Sendable {
    public let bytes: [UInt8]
    public let limits: Limits
    public let script: Result<Script, SyntaxError>

    public init(_ bytes: [UInt8], limits: Limits = .default) {
        self.bytes = bytes
        self.limits = limits
        script = Result { () throws(SyntaxError) in try ShellSyntax.parse(bytes, limits: limits) }
    }

    public init(_ text: String, limits: Limits = .default) {
        self.init(Array(text.utf8), limits: limits)
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The line ended inside an open construct (a quote, `if` without `fi`, a trailing `|`): the
    /// prompt asks for more.
    public var isIncomplete: Bool {
        if case .failure(let e) = script { return e.incomplete }
        return false
    }

    /// Every command, redirection, assignment and risk in the line, with what `environment`
    /// says of its variables.
    public func extract(environment: ShellEnvironment = .unknown) throws(SyntaxError) -> Extraction {
        let script = try script.get()
        let line = bytes
        let locator = SourceLocator(line)
        let extractor = Extractor(environment: environment, limits: limits, depth: 0, via: [], contextPrefix: [],
                                  locate: locator.position,
                                  source: { a, b in String(decoding: line[max(0, min(a, line.count))..<max(0, min(b, line.count))], as: UTF8.self) })
        extractor.run(script, readsVariables: ShellSyntax.mayReadVariables(line))
        var result = extractor.result
        result.risks.insert(contentsOf: ShellSyntax.controlCharacterRisks(line, locate: locator.position), at: 0)
        result.commands = ParsedLine.stableSorted(result.commands) { $0.position.offset }
        result.redirects = ParsedLine.stableSorted(result.redirects) { $0.position.offset }
        return result
    }

    private static func stableSorted<T>(_ items: [T], by key: (T) -> Int) -> [T] {
        // The walk finds most lines' commands in order already; a stable sort of a sorted list
        // is that list, so skip the sort and its copies.
        var sorted = true
        for k in items.indices.dropFirst() where key(items[k - 1]) > key(items[k]) {
            sorted = false
            break
        }
        if sorted { return items }
        return items.enumerated().sorted { (key($0.element), $0.offset) < (key($1.element), $1.offset) }.map(\.element)
    }
}
