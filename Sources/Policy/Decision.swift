import ShellSyntax

/// Everything a decision depends on besides the line and the policy, passed in as values.
public struct DecisionContext: Sendable {
    public var host: HostInfo
    public var epochSeconds: Int64
    public var zones: TimeZoneResolver
    /// The working directory relative paths are resolved against; nil when not known.
    public var cwd: String?
    public var home: String?
    /// Files no line may delete or write: the store, jitsh's own binary and configuration.
    public var protectedPaths: [String]
    /// Which files exist, for what a line would destroy; nil counts every file as existing.
    public var files: (any FileSystemFacts)?
    /// The programs the exec'ing process descends from, nearest first, each as its argv with the
    /// program really run first (the exec guard fills it in): a rule's `helpers` need their parent here.
    public var callers: [[String]] = []

    public init(host: HostInfo, epochSeconds: Int64, zones: TimeZoneResolver = FixedOffsetZones(), cwd: String? = nil,
                home: String? = nil, protectedPaths: [String] = [], files: (any FileSystemFacts)? = nil) {
        self.files = files
        self.host = host
        self.epochSeconds = epochSeconds
        self.zones = zones
        self.cwd = cwd
        self.home = home
        self.protectedPaths = protectedPaths
    }
}

/// The verdict on one part of a line, and why.
public struct Judgement: Sendable, Equatable {
    public var verdict: Verdict
    public var reason: String
    /// The rule that decided, or nil for a built-in protection or the default deny.
    public var rule: SourceRef?
    public var alert: Bool

    public init(_ verdict: Verdict, _ reason: String, rule: SourceRef? = nil, alert: Bool = false) {
        self.verdict = verdict
        self.reason = reason
        self.rule = rule
        self.alert = alert
    }
}

public struct CommandDecision: Sendable {
    public var command: ExtractedCommand
    public var judgement: Judgement
    /// How to confirm, when the verdict is confirm.
    public var confirm: ConfirmSpec?
    /// What it would destroy, that exists: its dry run shows these when the tool has none of its own.
    public var destroys: [Destruction] = []
}

public struct Decision: Sendable {
    public var verdict: Verdict
    public var reason: String
    public var rule: SourceRef?
    public var commands: [CommandDecision] = []
    public var redirects: [(redirect: ExtractedRedirect, judgement: Judgement)] = []
    public var assignments: [(assignment: ExtractedAssignment, judgement: Judgement)] = []
    public var risks: [(risk: Risk, judgement: Judgement)] = []
    /// Files the line's redirections would truncate, that exist: confirmed like commands.
    public var destructions: [Destruction] = []
    public var syntaxError: SyntaxError?
    public var alert = false
    public var extraction: Extraction?

    /// Every judgement in the line, in the order they are reported.
    public var judgements: [Judgement] {
        commands.map(\.judgement) + redirects.map(\.judgement) + assignments.map(\.judgement) + risks.map(\.judgement)
    }

    /// The commands that need confirmation, in order.
    public var confirmations: [CommandDecision] { commands.filter { $0.judgement.verdict == .confirm } }
}

extension Decision {
    /// A line as a message shows it: newlines and every other control visible (`Visible`), and at
    /// most 200 characters (a 64 KiB line must not become a 64 KiB message).
    public static func shortened(_ text: String, limit: Int = 200) -> String {
        let flat = Visible.text(text)
        guard flat.count > limit else { return flat }
        return String(flat.prefix(limit)) + "… (\(text.utf8.count) bytes)"
    }

    /// One line that starts with what happened: `denied: rm -rf /var/log — roles/readonly.yaml:14: …`.
    public func headline(line: String) -> String {
        func words(_ c: ExtractedCommand) -> String {
            Decision.shortened(c.argv.map(\.text).joined(separator: " "))
        }
        let line = Decision.shortened(line)
        let rulePart = rule.map { "\($0): " } ?? ""
        switch verdict {
        case .allow:
            return "allowed: \(line)"
        case .deny:
            let what = commands.first { $0.judgement.verdict == .deny }.map { words($0.command) } ?? line
            return "denied: \(what) — \(rulePart)\(Visible.text(reason))"
        case .confirm:
            let what = confirmations.first.map { words($0.command) } ?? line
            return "needs confirmation: \(what) — \(rulePart)\(Visible.text(reason))"
        }
    }
}
