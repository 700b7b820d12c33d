import ArgumentParser
import Foundation

/// Options several commands share, declared once.
struct PolicyOptions: ParsableArguments {
    @Option(name: .customLong("policy-dir"), help: ArgumentHelp("The policy directory.", valueName: "dir"))
    var policyDirectory: String = "/etc/jitsh/policies"
}

struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON instead of text.")
    var json = false
}

enum Console {
    static func error(_ message: String) {
        FileHandle.standardError.write(Data("jitsh: \(message)\n".utf8))
    }
}
