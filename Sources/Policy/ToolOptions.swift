import ShellSyntax

/// What a tool whose options decide its danger will do, read from its arguments as the tool
/// itself reads them (getopt clusters, `--opt=value`, the last of repeated options), so a rule
/// says `signal: [HUP]` or `effects: [other-write]` instead of globbing argument spellings.
public struct ToolFacts: Sendable, Equatable {
    /// Every signal the line names, canonical (`KILL`, `HUP`, `0`), in order: the tool sends the
    /// last one. Empty with `signalKnown` means the default (TERM). Nil for tools that send none.
    public var signals: [String]?
    /// False when an argument that may name a signal is not known before the line runs.
    public var signalKnown = true
    /// Named effects: `recursive`, `group-write`, `other-write`, `setuid`, `poweroff`, `isolate` …
    public var effects: Set<String> = []
    /// False when an argument that may change the effects is not known before the line runs.
    public var effectsKnown = true

    public init(signals: [String]? = nil, effects: Set<String> = []) {
        self.signals = signals
        self.effects = effects
    }

    /// The signal the tool sends: the last one given with `-s`/`--signal` (bash, pkill), else the
    /// first `-SIG` (bash reads a later `-SIG` as a process group), else TERM.
    public var signal: String? { signals.map { _ in sent ?? "TERM" } }
    var sent: String?

    /// Every effect name a rule may list, for the loader's checks.
    public static let knownEffects: Set<String> = [
        "recursive", "group-write", "other-write", "other-read", "setuid", "setgid", "sticky", "owner",
        "poweroff", "reboot", "halt", "kexec", "isolate", "rescue", "emergency", "suspend", "force", "default-target",
    ]

    public static func of(_ argv: [Field]) -> ToolFacts {
        guard let name = argv.first?.staticText.map(PathName.base) else { return ToolFacts() }
        let args = Array(argv.dropFirst())
        switch name {
        case "kill": return Signals.kill(args)
        case "pkill": return Signals.pkill(args)
        case "killall": return Signals.killall(args)
        case "chmod": return FileModes.chmod(args)
        case "chown", "chgrp": return FileModes.chown(args)
        case "systemctl": return SystemctlModel.facts(args)
        default: return ToolFacts()
        }
    }
}

/// Signal names and numbers as `kill -l` lists them on Linux.
enum Signals {
    static let numbers: [String: String] = [
        "0": "0", "1": "HUP", "2": "INT", "3": "QUIT", "4": "ILL", "5": "TRAP", "6": "ABRT", "7": "BUS", "8": "FPE", "9": "KILL",
        "10": "USR1", "11": "SEGV", "12": "USR2", "13": "PIPE", "14": "ALRM", "15": "TERM", "16": "STKFLT", "17": "CHLD",
        "18": "CONT", "19": "STOP", "20": "TSTP", "21": "TTIN", "22": "TTOU", "23": "URG", "24": "XCPU", "25": "XFSZ",
        "26": "VTALRM", "27": "PROF", "28": "WINCH", "29": "IO", "30": "PWR", "31": "SYS",
    ]
    static let aliases: [String: String] = ["IOT": "ABRT", "CLD": "CHLD", "POLL": "IO", "EXIT": "0", "NULL": "0"]

    /// `HUP`, `SIGHUP`, `hup`, `1`, `RTMIN+3`: the canonical name, or nil when it names no signal.
    static func canonical(_ spelled: String) -> String? {
        if let n = numbers[spelled] { return n }
        if let n = Int(spelled), n > 0, n < 65 { return String(n) }
        var s = spelled.uppercased()
        if s.hasPrefix("SIG") { s.removeFirst(3) }
        if let a = aliases[s] { return a }
        if numbers.values.contains(s) { return s }
        if s.hasPrefix("RTMIN") || s.hasPrefix("RTMAX") { return s }
        return nil
    }

    /// bash's builtin and procps' kill: `-SIG`, `-NUM`, `-s SIG`, `-sSIG`, `-n NUM`, `--signal SIG`,
    /// `--signal=SIG`; `-l`/`-L` list and send nothing; `--` ends options.
    static func kill(_ args: [Field]) -> ToolFacts {
        var facts = ToolFacts(signals: [])
        var explicit: String?
        var firstDash: String?
        var k = 0
        while k < args.count {
            let f = args[k]
            k += 1
            guard let a = f.staticText else {
                facts.signalKnown = false
                continue
            }
            if a == "--" { break }
            guard a.hasPrefix("-"), a.count > 1 else { continue }
            if a == "-l" || a == "-L" || a == "--list" || a == "--table" {
                var listing = ToolFacts(signals: ["0"])
                listing.sent = "0"
                return listing
            }
            var value: String?
            if a == "-s" || a == "-n" || a == "--signal" {
                guard k < args.count, let v = args[k].staticText else { facts.signalKnown = false; k += 1; continue }
                value = v
                k += 1
            } else if a.hasPrefix("--signal=") {
                value = String(a.dropFirst(9))
            } else if a.hasPrefix("-s") || a.hasPrefix("-n"), a.count > 2, canonical(String(a.dropFirst(2))) != nil,
                      canonical(String(a.dropFirst())) == nil {
                value = String(a.dropFirst(2))
            } else if !a.hasPrefix("--") {
                value = String(a.dropFirst())
            }
            if let v = value {
                // A name kill does not know is an error: nothing is sent, but fail closed.
                let s = canonical(v) ?? v.uppercased()
                facts.signals?.append(s)
                let named = a == "-s" || a == "-n" || a.hasPrefix("--signal") || (a.count > 2 && (a.hasPrefix("-s") || a.hasPrefix("-n")) && String(a.dropFirst()) != s)
                if named { explicit = s } else if firstDash == nil { firstDash = s }
            }
        }
        facts.sent = explicit ?? firstDash
        return facts
    }

    /// procps pkill: the first `-SIG` argument anywhere, then `--signal SIG` / `--signal=SIG`
    /// (which wins); `-s` is the session, not the signal.
    static func pkill(_ args: [Field]) -> ToolFacts {
        var facts = ToolFacts(signals: [])
        var dashSignal: String?
        var longSignals: [String] = []
        let valued: Set<String> = ["-g", "-G", "-P", "-s", "-t", "-u", "-U", "-F", "--pgroup", "--group", "--parent", "--session",
                                   "--terminal", "--euid", "--uid", "--pidfile", "--ns", "--nslist", "--cgroup", "--env"]
        var k = 0
        while k < args.count {
            let f = args[k]
            k += 1
            guard let a = f.staticText else {
                facts.signalKnown = false
                continue
            }
            if a == "--" { break }
            guard a.hasPrefix("-"), a.count > 1 else { continue }
            if a == "--signal" {
                guard k < args.count, let v = args[k].staticText else { facts.signalKnown = false; k += 1; continue }
                longSignals.append(canonical(v) ?? v.uppercased())
                k += 1
            } else if a.hasPrefix("--signal=") {
                let v = String(a.dropFirst(9))
                longSignals.append(canonical(v) ?? v.uppercased())
            } else if valued.contains(a) {
                k += 1
            } else if !a.hasPrefix("--"), dashSignal == nil, let s = canonical(String(a.dropFirst())) {
                dashSignal = s
            }
        }
        facts.signals = (dashSignal.map { [$0] } ?? []) + longSignals
        facts.sent = longSignals.last ?? dashSignal
        return facts
    }

    /// psmisc killall: `-SIG`, `-s SIG`, `--signal SIG`; `-l` lists.
    static func killall(_ args: [Field]) -> ToolFacts {
        var facts = kill(args.filter { $0.staticText != "-n" })
        if facts.signals == ["0"], args.contains(where: { $0.staticText == "-l" || $0.staticText == "--list" }) { return facts }
        // Its clustered flags (`-Iv`, `-qw`) are not signals.
        facts.signals = facts.signals?.filter { canonical($0) != nil || $0.allSatisfy(\.isNumber) }
        if let sent = facts.sent, canonical(sent) == nil { facts.sent = facts.signals?.first }
        return facts
    }
}
