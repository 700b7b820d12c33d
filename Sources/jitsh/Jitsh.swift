import ArgumentParser
import Foundation
import Posix
import Session
import ShellSyntax

/// Exit statuses other tools rely on (documented in README.md, "Interfaces").
enum ExitStatus {
    static let allow: Int32 = 0
    static let deny: Int32 = 1
    static let confirm: Int32 = 2
    /// Usage, syntax or policy error.
    static let error: Int32 = 3
    /// A line refused in exec mode (`ssh host 'cmd'`), as a shell reports a command it cannot run.
    static let deniedExec: Int32 = 126
}

struct Jitsh: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jitsh",
        abstract: "Just-in-time, recorded shell access to production hosts.",
        discussion: """
            sshd runs jitsh instead of a shell (ForceCommand /usr/local/bin/jitsh). With no verb, jitsh \
            is that forced command: it lets a person in only while they hold a live, approved grant, \
            decides every command line against their role's rules, and records the session for review.

            With no verb, jitsh is sshd's forced command: jitsh [--as NAME] [--config PATH].

            The options verbs share (--config, --as, --policy-dir, --json) may also come first:
              jitsh --config /etc/jitsh/staging.yaml grant list

            Try what the parser sees in a line:
              jitsh parse -- 'sudo find /var/log -name "*.gz" -exec rm {} +'
            """,
        version: JitshVersion.description,
        subcommands: [Check.self, Doctor.self, FleetGroup.self, GrantGroup.self, Init.self, LockGroup.self, Parse.self, PolicyGroup.self, Rollback.self, SessionsGroup.self, AuditGroup.self, ReviewGroup.self, ServeCommand.self, SyncCommand.self]
    )
}

/// With no verb jitsh is sshd's forced command: `jitsh [--as NAME] [--config PATH]`, arguments an
/// administrator wrote. Anything else is a command for ArgumentParser.
@main
enum Entry {
    static func main() {
        // Before anything reads a file: from here on jitsh has the person's own groups, and the
        // jitsh group only inside JitshGroup.raised (the store, the key, the configuration).
        guard JitshGroup.dropAtStart() else {
            FileHandle.standardError.write(Data("jitsh: cannot drop the jitsh group (\(String(cString: strerror(errno)))); nothing runs\n".utf8))
            exit(1)
        }
        let args = Array(CommandLine.arguments.dropFirst())
        // jitsh as the login shell: sshd runs `jitsh -c COMMAND`, and no start-up file of
        // another shell runs before it.
        if args.count == 2, args[0] == "-c" { exit(loginShell(args[1])) }
        if let forced = forcedCommandOptions(args) {
            exit(ForcedCommand.run(claimedIdentity: forced.identity, configuration: forced.config))
        }
        run()
    }

    /// Jitsh.main(), with its usage errors shown visibly: they quote the arguments given, and a
    /// reviewer's arguments may be pasted from a recording.
    static func run() {
        do {
            var command = try Jitsh.parseAsRoot(GlobalOptions.placed(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch {
            let message = Jitsh.fullMessage(for: error)
            let code = Jitsh.exitCode(for: error)
            if !message.isEmpty {
                let handle = code.isSuccess ? FileHandle.standardOutput : FileHandle.standardError
                // The message quotes arguments verbatim: each is shown as one field, newlines too.
                var shown = message
                for argument in CommandLine.arguments.dropFirst() where argument != Visible.text(argument) {
                    shown = shown.replacingOccurrences(of: argument, with: Visible.text(argument))
                }
                handle.write(Data((Visible.lines(shown) + "\n").utf8))
            }
            exit(code.rawValue)
        }
    }

    /// `jitsh -c COMMAND` from sshd. COMMAND is the ForceCommand (or a key's command=) when it
    /// runs this jitsh with forced-command options; then the client's command, if any, is in
    /// SSH_ORIGINAL_COMMAND as usual. Otherwise COMMAND is what the client asked to run.
    static func loginShell(_ command: String) -> Int32 {
        if let words = Gate.staticWords(ParsedLine(command)), let first = words.first, isThisJitsh(first),
           let forced = forcedCommandOptions(Array(words.dropFirst())) {
            return ForcedCommand.run(claimedIdentity: forced.identity, configuration: forced.config)
        }
        // The exact bytes, so that invalid UTF-8 is refused as in a forced command.
        if let raw = CommandLine.unsafeArgv[2] { setenv("SSH_ORIGINAL_COMMAND", raw, 1) }
        return ForcedCommand.run(claimedIdentity: nil, configuration: nil)
    }

    static func isThisJitsh(_ path: String) -> Bool {
        guard path.hasPrefix("/"), let named = realpath(path, nil), let me = realpath("/proc/self/exe", nil) else { return false }
        defer { free(named); free(me) }
        return strcmp(named, me) == 0
    }

    static func forcedCommandOptions(_ args: [String]) -> (identity: String?, config: String?)? {
        var identity: String?, config: String?
        var k = 0
        while k < args.count {
            switch args[k] {
            case "--as" where k + 1 < args.count: identity = args[k + 1]; k += 2
            case "--config" where k + 1 < args.count: config = args[k + 1]; k += 2
            default:
                if args[k].hasPrefix("--as=") { identity = String(args[k].dropFirst(5)); k += 1; continue }
                if args[k].hasPrefix("--config=") { config = String(args[k].dropFirst(9)); k += 1; continue }
                return nil
            }
        }
        return (identity, config)
    }
}
