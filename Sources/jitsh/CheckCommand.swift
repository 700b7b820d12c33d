import ArgumentParser
import Foundation
import Policy
import Session
import ShellSyntax

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decide a command line under a role, and say why.",
        discussion: """
            Nothing runs. Every command the line would run is decided against the role's rules, with the \
            rule (file:line) and its reason; redirections, variable assignments and risky constructs are \
            judged too, and the line gets the worst verdict.

            Exit status: 0 allow, 1 deny, 2 confirm, 3 usage, syntax or policy error.

            Example:
              jitsh check --policy-dir policies --role readonly -- 'journalctl -u nginx | grep -i error'
            """
    )

    @OptionGroup var policy: PolicyOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "The role to decide under.")
    var role: String

    @Option(help: "The host name, for rules and roles limited to hosts (default: this host).")
    var host: String?

    @Option(name: .customLong("tag"), help: ArgumentHelp("A host tag, as key=value (repeatable).", valueName: "key=value"))
    var tags: [String] = []

    @Option(help: ArgumentHelp("Decide as at this time (ISO 8601, e.g. 2026-11-30T10:00:00Z).", valueName: "time"))
    var at: String?

    @Option(help: "The working directory relative paths are resolved against (default: the current one).")
    var cwd: String?

    @Argument(help: "The command line, quoted as one argument.")
    var line: String

    func validate() throws {
        if let at, Timestamp.seconds(at) == nil {
            throw ValidationError("--at \(at): write a time like 2026-11-30T10:00:00Z")
        }
        for t in tags where !t.contains("=") {
            throw ValidationError("--tag \(t): write key=value, like --tag env=production")
        }
    }

    func run() throws {
        let loaded: Policy
        do {
            loaded = try PolicyDirectoryReader.loadNamed(policy.policyDirectory)
        } catch {
            Console.error("policy error: \(error)")
            throw ExitCode(ExitStatus.error)
        }
        guard loaded.role(role) != nil else {
            Console.error("no role `\(role.visible)` in \(policy.policyDirectory.visible); roles: \(loaded.roles.keys.sorted().joined(separator: ", "))")
            throw ExitCode(ExitStatus.error)
        }
        var hostInfo = HostInfo(name: host ?? ProcessInfo.processInfo.hostName)
        for t in tags {
            let parts = t.split(separator: "=", maxSplits: 1).map(String.init)
            hostInfo.tags[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        let directory = cwd ?? FileManager.default.currentDirectoryPath
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "/root"
        let context = DecisionContext(host: hostInfo, epochSeconds: at.flatMap(Timestamp.seconds) ?? Int64(Date().timeIntervalSince1970),
                                      zones: SystemZones(), cwd: directory, home: home,
                                      protectedPaths: ["/var/lib/jitsh", "/etc/jitsh", "/usr/local/bin/jitsh"])
        // A fresh session's environment: what a line run by jitsh would start with.
        let environment = ShellEnvironment(variables: ["HOME": home, "PWD": directory, "PATH": "/usr/local/bin:/usr/bin:/bin",
                                                       "USER": ProcessInfo.processInfo.environment["USER"] ?? "root"],
                                           complete: true)
        let decision = Decider(loaded).decide(line: RawArguments.bytes(matching: line), environment: environment,
                                              role: role, context: context)
        if output.json { Console.json(JSONOutput.string(DecisionJSON(decision: decision, line: line))) } else { Console.line(DecisionText.render(decision, line: line)) }
        if decision.syntaxError != nil { throw ExitCode(ExitStatus.error) }
        switch decision.verdict {
        case .allow: return
        case .deny: throw ExitCode(ExitStatus.deny)
        case .confirm: throw ExitCode(ExitStatus.confirm)
        }
    }
}

/// How decisions read in a terminal: one line that says what happened, then each part.
enum DecisionText {
    static func headline(_ d: Decision, line: String) -> String {
        switch d.verdict {
        case .allow: return "allowed: \(line.visible)"
        case .deny:
            let what = d.commands.first { $0.judgement.verdict == .deny }.map { words($0.command) } ?? line.visible
            return "denied: \(what) — \(d.rule.map { "\($0): " } ?? "")\(d.reason.visible)"
        case .confirm:
            let what = d.confirmations.first.map { words($0.command) } ?? line.visible
            return "needs confirmation: \(what) — \(d.rule.map { "\($0): " } ?? "")\(d.reason.visible)"
        }
    }

    static func words(_ c: ExtractedCommand) -> String {
        c.argv.map { $0.isStatic ? Quote.ifNeeded($0.text) : $0.text }.joined(separator: " ").visible
    }

    static func render(_ d: Decision, line: String) -> String {
        var out = [headline(d, line: line)]
        for c in d.commands {
            let via = c.command.via.isEmpty ? "" : " (via \(c.command.via.joined(separator: " > ")))"
            out.append("  \(c.judgement.verdict.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) \(words(c.command))\(via)"
                       + "  — \(c.judgement.rule.map { "\($0): " } ?? "")\(c.judgement.reason.visible)")
        }
        for (r, j) in d.redirects where r.writes || j.verdict != .allow {
            out.append("  \(j.verdict.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) \(r.fd.map(String.init) ?? "")\(r.op.rawValue) \(r.target.text.visible)  — \(j.reason.visible)")
        }
        for (a, j) in d.assignments where j.verdict != .allow {
            out.append("  \(j.verdict.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) \(a.name.visible)=…  — \(j.reason.visible)")
        }
        for (_, j) in d.risks {
            out.append("  \(j.verdict.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) \(j.reason.visible)")
        }
        return out.joined(separator: "\n")
    }
}

/// `jitsh check --json`: the shape is an interface (DESIGN.md, README "Interfaces").
struct DecisionJSON: Encodable {
    let decision: Decision
    let line: String

    struct Item: Encodable {
        var decision: String
        var rule: String?
        var reason: String
    }

    enum CodingKeys: String, CodingKey { case decision, reason, rule, line, commands, redirects, assignments, risks, error, alert }
    enum CommandKeys: String, CodingKey { case argv, name, via, context, decision, rule, reason, position }
    enum RedirectKeys: String, CodingKey { case op, fd, target, writes, decision, rule, reason }
    enum AssignmentKeys: String, CodingKey { case name, kind, decision, rule, reason }
    enum RiskKeys: String, CodingKey { case kind, message, position, decision, reason }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(decision.verdict.rawValue, forKey: .decision)
        try c.encode(decision.reason, forKey: .reason)
        try c.encode(decision.rule?.description, forKey: .rule)
        try c.encode(line, forKey: .line)
        try c.encode(decision.alert, forKey: .alert)
        try c.encodeIfPresent(decision.syntaxError?.description, forKey: .error)
        var commands = c.nestedUnkeyedContainer(forKey: .commands)
        for d in decision.commands {
            var e = commands.nestedContainer(keyedBy: CommandKeys.self)
            try e.encode(d.command.argv.map(\.text), forKey: .argv)
            try e.encode(d.command.name, forKey: .name)
            try e.encode(d.command.via, forKey: .via)
            try e.encode(d.command.contextDescription, forKey: .context)
            try e.encode(d.command.position.description, forKey: .position)
            try e.encode(d.judgement.verdict.rawValue, forKey: .decision)
            try e.encode(d.judgement.rule?.description, forKey: .rule)
            try e.encode(d.judgement.reason, forKey: .reason)
        }
        var redirects = c.nestedUnkeyedContainer(forKey: .redirects)
        for (r, j) in decision.redirects {
            var e = redirects.nestedContainer(keyedBy: RedirectKeys.self)
            try e.encode(r.op.rawValue, forKey: .op)
            try e.encode(r.fd, forKey: .fd)
            try e.encode(r.target.text, forKey: .target)
            try e.encode(r.writes, forKey: .writes)
            try e.encode(j.verdict.rawValue, forKey: .decision)
            try e.encode(j.rule?.description, forKey: .rule)
            try e.encode(j.reason, forKey: .reason)
        }
        var assignments = c.nestedUnkeyedContainer(forKey: .assignments)
        for (a, j) in decision.assignments {
            var e = assignments.nestedContainer(keyedBy: AssignmentKeys.self)
            try e.encode(a.name, forKey: .name)
            try e.encode(a.kind.rawValue, forKey: .kind)
            try e.encode(j.verdict.rawValue, forKey: .decision)
            try e.encode(j.rule?.description, forKey: .rule)
            try e.encode(j.reason, forKey: .reason)
        }
        var risks = c.nestedUnkeyedContainer(forKey: .risks)
        for (r, j) in decision.risks {
            var e = risks.nestedContainer(keyedBy: RiskKeys.self)
            try e.encode(r.kind.rawValue, forKey: .kind)
            try e.encode(r.message, forKey: .message)
            try e.encode(r.position.description, forKey: .position)
            try e.encode(j.verdict.rawValue, forKey: .decision)
            try e.encode(j.reason, forKey: .reason)
        }
    }
}
