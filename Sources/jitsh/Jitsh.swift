import ArgumentParser

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

@main
struct Jitsh: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jitsh",
        abstract: "Just-in-time, recorded shell access to production hosts.",
        discussion: """
            sshd runs jitsh instead of a shell. It lets a person in only while they hold a live, \
            approved grant, decides every command line against their role's rules, and records the \
            session for review.

            Try what the parser sees in a line:
              jitsh parse -- 'sudo find /var/log -name "*.gz" -exec rm {} +'
            """,
        version: JitshVersion.description,
        subcommands: [Check.self, GrantGroup.self, Init.self, Parse.self, PolicyGroup.self]
    )
}
