import Foundation
import Serve

// `jitsh serve` runs this binary (installed beside jitsh) with the options it validated; the
// HTTP server lives here so that the setgid jitsh, started on every SSH connection, links none of it.
guard let arguments = ServeLauncher.Arguments(argv: Array(CommandLine.arguments.dropFirst())) else {
    FileHandle.standardError.write(Data("jitsh-serve is started by `jitsh serve`; see jitsh serve --help\n".utf8))
    exit(3)
}
exit(ServeLauncher.run(arguments))
