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
    /// What a verb prints when it runs inside a session (`grant list` at the prompt): the session
    /// shows it and records it like the rest of its output. The descriptors stay the session's.
    final class Capture: @unchecked Sendable {
        var text = ""
    }

    @TaskLocal static var capture: Capture?

    /// Runs a verb with what it prints kept, not written.
    static func capturing(_ body: () -> Int32) -> (status: Int32, output: String) {
        let capture = Capture()
        let status = $capture.withValue(capture) { body() }
        return (status, capture.text)
    }

    static func error(_ message: String) {
        emit("jitsh: \(Visible.lines(message))\n", error: true)
    }

    /// Lines for a person: fields in them should already be `.visible` (a newline in a field
    /// would otherwise start a row of its own).
    static func line(_ text: String) {
        emit(Visible.lines(text) + "\n")
    }

    static func json(_ text: String) {
        emit(Visible.json(text) + "\n")
    }

    /// Text already made visible (`Visible`), as it is.
    static func emit(_ text: String, error: Bool = false) {
        if let capture {
            capture.text += text
        } else if error {
            FileHandle.standardError.write(Data(text.utf8))
        } else {
            Swift.print(text, terminator: "")
        }
    }
}

extension String {
    /// This field as a person may see it: every control shown, newlines too (`Visible.text`).
    var visible: String { Visible.text(self) }
}
