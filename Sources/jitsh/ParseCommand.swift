import ArgumentParser
import Foundation
import ShellSyntax

struct Parse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every command, redirection, assignment and risk bash would see in a line.",
        discussion: """
            Nothing runs. Arguments that cannot be known before the line runs are shown as dynamic, \
            with the reason. Exit status 0, or 3 when the line does not parse.

            Example:
              jitsh parse -- 'echo $(rm -rf /tmp/x) | tee /tmp/log'
            Without LINE, the line is read from standard input (for newlines or raw bytes).
            """
    )

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Argument(help: "The command line, quoted as one argument.")
    var line: String?

    func run() throws {
        let bytes = line.map(RawArguments.bytes(matching:)) ?? RawArguments.standardInput(limit: Limits.default.maxBytes)
        do {
            let extraction = try ShellSyntax.extract(bytes)
            if json { Console.json(JSONOutput.string(ExtractionJSON(extraction))) } else { Console.line(TextOutput.extraction(extraction)) }
        } catch {
            if json {
                Console.json(JSONOutput.string(["error": error.description, "incomplete": error.incomplete ? "true" : "false"]))
            } else {
                FileHandle.standardError.write(Data("jitsh: syntax error: \(Visible.lines(error.description))\n".utf8))
            }
            throw ExitCode(ExitStatus.error)
        }
    }
}
