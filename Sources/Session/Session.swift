import CSpawn
import Foundation
import Policy
import ShellSyntax
import Store
#if canImport(Glibc)
import Glibc
#endif

/// Everything a session needs, gathered by the forced command before anything runs.
public struct SessionSetup: Sendable {
    public var identity: String
    public var login: String
    public var policy: Policy
    public var role: CompiledRole
    public var grant: Grant
    public var host: HostInfo
    public var store: SQLiteStore
    public var signingKey: SigningKey
    public var client: String
    public var home: String
    public var term: String
    public var shell: String
    public var protectedPaths: [String]
    /// Also send every audit event to syslog (`audit: {syslog: true}` in jitsh.yaml).
    public var auditSyslog = false

    public init(identity: String, login: String, policy: Policy, role: CompiledRole, grant: Grant, host: HostInfo, store: SQLiteStore,
                signingKey: SigningKey, client: String, home: String, term: String, shell: String, protectedPaths: [String]) {
        self.identity = identity
        self.login = login
        self.policy = policy
        self.role = role
        self.grant = grant
        self.host = host
        self.store = store
        self.signingKey = signingKey
        self.client = client
        self.home = home
        self.term = term
        self.shell = shell
        self.protectedPaths = protectedPaths
    }
}

/// Why a session ended, as recorded.
public enum EndReason: String, Sendable {
    case exit, endOfInput = "end-of-input", grantExpired = "grant-expired", grantRevoked = "grant-revoked"
    case recordingFailed = "recording-failed", hangup, terminated, error
}

/// One gated, recorded session: interactive (a prompt, line after line) or exec (one line).
public final class Session {
    let setup: SessionSetup
    let id = UUID().uuidString.lowercased()
    let startedAt = Clock.microseconds
    let terminal = UserTerminal()
    var recorder: Recorder!
    var state: ShellState
    let decider: Decider
    var lastStatus: Int32 = 0
    var signals: (read: Int32, write: Int32)
    var watchdog: Watchdog
    var ended: EndReason?
    var interactive = false
    var suspended: [SuspendedJob] = []
    /// Runs a reserved verb (`grant …`) given as arguments; provided by the executable.
    public var runVerb: (([String]) -> Int32)?
    /// Traces jobs so every exec is decided (nil when the role says `guard: off`).
    var guardian: ExecGuard?
    /// Links in trusted directories by the file they lead to, for exec decisions.
    var aliases: [String: [String]]?
    /// The commands of the line the user just confirmed: they may run at exec level too.
    var confirmedNames: Set<String> = []
    /// Why the last audit event could not be stored.
    var auditFailure: String?
    /// A SIGCHLD arrived since the guard last looked at its tasks.
    var childSignalled = true
    var lastPump = 0.0

    public init(_ setup: SessionSetup) throws {
        self.setup = setup
        decider = Decider(setup.policy)
        var base: [String: String] = [
            "HOME": setup.home, "USER": setup.login, "LOGNAME": setup.login, "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
            "TERM": setup.term, "LANG": "C.UTF-8", "SHELL": setup.shell, "JITSH_SESSION": "", "JITSH_ROLE": setup.role.name,
            "JITSH_IDENTITY": setup.identity,
        ]
        for (k, v) in setup.role.environment { base[k] = v }
        let cwd = FileManager.default.fileExists(atPath: setup.home) ? setup.home : "/"
        state = ShellState(cwd: cwd, base: base, envDeny: setup.policy.global.envDenyGlobs)
        guard let pipe = makePipe() else { throw Spawner.SpawnError(errno: errno, what: "a signal pipe") }
        signals = pipe
        setNonBlocking(pipe.read)
        setNonBlocking(pipe.write)
        watchdog = Watchdog(grant: setup.grant)
        if setup.role.role.guardEnabled != false {
            if let why = Session.guardAvailability() {
                throw Spawner.SpawnError(errno: EPERM, what: "guarded sessions (\(why)); role \(setup.role.name) needs the exec guard unless it says guard: off")
            }
        }
        state = ShellState(cwd: cwd, base: base.merging(["JITSH_SESSION": id]) { $1 }, envDeny: setup.policy.global.envDenyGlobs)
        if setup.role.role.guardEnabled != false {
            guardian = ExecGuard { [unowned self] pid in self.judgeExec(pid) }
        }
    }

    var now: Int64 { Clock.now }

    /// Appends an audit event; false when the store refused it (the caller then runs nothing).
    @discardableResult
    func audit(_ kind: String, line: String = "", decision: String = "", rule: String = "", reason: String = "", data: String = "{}",
               alert: Bool = false) -> Bool {
        let e = AuditEvent(at: Clock.microseconds, sessionID: id, identity: setup.identity, host: setup.host.name, kind: kind,
                           line: line, decision: decision, rule: rule, reason: reason, data: data)
        // An alert is queued for the webhook with the event; delivery never holds up the session.
        let notification = alert ? Notification(event: "alert", text: "jitsh alert on \(setup.host.name): \(setup.identity) (\(setup.role.name)) \(kind)"
                                                + (decision.isEmpty ? "" : " \(decision)") + (line.isEmpty ? "" : ": \(line)") + (reason.isEmpty ? "" : " — \(reason)"),
                                                fields: ["session": id, "identity": setup.identity, "role": setup.role.name, "kind": kind,
                                                         "decision": decision, "rule": rule, "line": line])
            : nil
        if setup.auditSyslog { AuditSyslog.send(e) }
        do { try setup.store.appendAudit([e], alert: notification) } catch {
            auditFailure = "\(error)"
            return false
        }
        return true
    }

    /// Whether the role raises an alert for this kind of event (`alert_on: [deny, confirm, guard]`).
    func alerts(_ event: String) -> Bool { setup.role.role.alertOn.contains(event) }

    /// Starts the record: session row, first audit event, recorder.
    func begin(mode: String, command: String) throws {
        let size = terminal.isTerminal ? terminal.size() : (rows: 24, cols: 80)
        let record = SessionRecord(id: id, identity: setup.identity, login: setup.login, role: setup.role.name, grantID: setup.grant.id,
                                   host: setup.host.name, client: setup.client, mode: mode, command: command, startedAt: startedAt,
                                   width: size.cols, height: size.rows)
        try setup.store.startSession(record, event: AuditEvent(at: startedAt, sessionID: id, identity: setup.identity,
                                                               host: setup.host.name, kind: "session-start", line: command,
                                                               data: "{\"mode\":\"\(mode)\",\"grant\":\(setup.grant.id),\"client\":\"\(setup.client)\"}"))
        recorder = Recorder(store: setup.store, sessionID: id, startedAt: startedAt)
        if terminal.isTerminal { recorder.resize(rows: size.rows, cols: size.cols) }
        _ = jitsh_signals_install(signals.write)
    }

    /// Ends the record: flush, sign, last audit event.
    func finish(_ reason: EndReason, status: Int32?) -> Int32 {
        ended = ended ?? reason
        for job in suspended { kill(-job.pid, SIGKILL) }
        recorder.marker(["event": "session-end", "reason": .string((ended ?? reason).rawValue)])
        do {
            try recorder.finish(reason: (ended ?? reason).rawValue, status: status.map(Int.init), key: setup.signingKey,
                                identity: setup.identity, host: setup.host.name)
        } catch {
            terminal.restore()
            FileHandle.standardError.write(Data("jitsh: the recording could not be completed: \(error)\r\n".utf8))
            return 1
        }
        terminal.restore()
        return status ?? 0
    }

    // MARK: Output

    /// Writes what jitsh itself says, to the user and into the recording.
    func say(_ text: String, stream: Frame.Kind = .output) {
        let normalized = interactive ? text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n") : text
        let bytes = Array(normalized.utf8)
        writeAll(stream == .stderr ? 2 : terminal.output, bytes)
        recorder?.record(stream, bytes)
    }

    func show(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        writeAll(terminal.output, bytes)
        recorder.record(.output, bytes)
    }

    /// Decides a line, with everything the session knows.
    func decide(_ line: String) -> Decision {
        decider.decide(line: Array(line.utf8), environment: state.shellEnvironment, role: setup.role.name, context: decisionContext)
    }

    /// What a decision needs to know of the session now: host, time, working directory, home.
    var decisionContext: DecisionContext {
        DecisionContext(host: setup.host, epochSeconds: now, zones: SystemZones(), cwd: state.cwd, home: setup.home,
                        protectedPaths: setup.protectedPaths, files: LiveFiles())
    }

    /// Records the decision; false when it cannot be recorded, and then the line must not run.
    @discardableResult
    func auditDecision(_ line: String, _ d: Decision) -> Bool {
        let commands = d.commands.map { c -> JSONText in
            ["argv": .array(c.command.argv.map { .string($0.text) }), "decision": .string(c.judgement.verdict.rawValue),
             "rule": .string(c.judgement.rule?.description ?? ""), "reason": .string(c.judgement.reason)]
        }
        let data = JSONText.object(["commands": .array(commands), "cwd": .string(state.cwd), "alert": .bool(d.alert)]).text
        let stored = audit("line", line: line, decision: d.verdict.rawValue, rule: d.rule?.description ?? "", reason: d.reason, data: data,
                           alert: d.alert)
        recorder.marker(["event": "decided", "line": .string(line), "decision": .string(d.verdict.rawValue), "rule": .string(d.rule?.description ?? ""), "reason": .string(d.reason)])
        return stored
    }

    // MARK: Signals

    /// Reads pending signal numbers from the self-pipe.
    func pendingSignals() -> [Int32] {
        guard let bytes = readSome(signals.read, max: 64) else { return [] }
        if bytes.contains(UInt8(SIGCHLD)) { childSignalled = true }
        return bytes.map { Int32($0) }
    }
}
