import ArgumentParser

/// The options verbs share may come before the verb, as `git -C DIR` or `systemctl --user` do:
/// `jitsh --config X grant list` is read as `jitsh grant list --config X`. ArgumentParser reads
/// a verb's options after the verb, so they are moved to just past the verb's path, before
/// anything else (a `--` and what follows it stay as they were).
enum GlobalOptions {
    static let withValue = ["--config", "--as", "--policy-dir"]
    static let flags = ["--json"]

    static func placed(_ args: [String]) -> [String] {
        var leading: [String] = []
        var k = 0
        while k < args.count {
            let a = args[k]
            if withValue.contains(a) && k + 1 < args.count {
                leading += [a, args[k + 1]]
                k += 2
            } else if flags.contains(a) || withValue.contains(where: { a.hasPrefix($0 + "=") }) {
                leading.append(a)
                k += 1
            } else {
                break
            }
        }
        guard !leading.isEmpty else { return args }
        var path: [String] = []
        var verbs = Jitsh.configuration.subcommands
        while k < args.count, let verb = verbs.first(where: { $0._commandName == args[k] || $0.configuration.aliases.contains(args[k]) }) {
            path.append(args[k])
            k += 1
            verbs = verb.configuration.subcommands
        }
        return path + leading + args[k...]
    }
}
