import ArgumentParser
import Foundation
import ShellSyntax

/// Options several commands share, declared once.
struct PolicyOptions: ParsableArguments {
    @Option(name: .customLong("policy-dir"), help: ArgumentHelp("The policy directory.", valueName: "dir"))
    var policyDirectory: String = "/etc/jitsh/policies"
}

struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON instead of text.")
    var json = false
}

/// The only way jitsh prints for a person. Text goes through `Visible` (no control character of
/// anyone's reaches the terminal); JSON stays exact, with the controls its encoders leave raw
/// written as escapes.
enum Console {
    static func error(_ message: String) {
        FileHandle.standardError.write(Data("jitsh: \(Visible.lines(message))\n".utf8))
    }

    /// Lines for a person: fields in them should already be `.visible` (a newline in a field
    /// would otherwise start a row of its own).
    static func line(_ text: String) {
        Swift.print(Visible.lines(text))
    }

    static func json(_ text: String) {
        Swift.print(Visible.json(text))
    }
}

extension String {
    /// This field as a person may see it: every control shown, newlines too (`Visible.text`).
    var visible: String { Visible.text(self) }
}
