import CSpawn
import Foundation
import Policy
import Posix
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
    public var store: any SessionStore
    public var signingKey: SigningKey
    public var client: String
    public var home: String
    public var term: String
    public var shell: String
    public var protectedPaths: [String]
    /// Also send every audit event to syslog (`audit: {syslog: true}` in jitsh.yaml).
    public var auditSyslog = false
    /// Where the policy came from: read again before a line when its files changed.
    public var policyDirectory: String?

    public init(identity: String, login: String, policy: Policy, role: CompiledRole, grant: Grant, host: HostInfo, store: any SessionStore,
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
    case recordingFailed = "recording-failed", hangup, terminated, locked, error
}

/// One gated, recorded session: interactive (a prompt, line after line) or exec (one line).
public final class Session {
    var setup: SessionSetup
    let id = UUID().uuidString.lowercased()
    /// Every timer of the session runs on its clock; tests give it a manual one.
    let clock: any SessionClock
    /// The one place the session waits (see Loop/).
    let loop: EventLoop
    let startedAt: Int64
    let terminal: UserTerminal
    var recorder: Recorder!
    var state: ShellState
    var decider: Decider
    /// The policy directory's files as last loaded (path → size and change time).
    var policyStamp: [String: String] = [:]
    var lastStatus: Int32 = 0
    var signals: (read: Int32, write: Int32)
    var watchdog: Watchdog
    var ended: EndReason?
    var interactive = false
    var suspended: [SuspendedJob] = []
    /// Runs a reserved verb (`grant …`) given as arguments and returns its status and what it
    /// printed; provided by the executable, whose commands the verbs are.
    public var runVerb: (([String]) -> (status: Int32, output: String))?
    /// Traces jobs so every exec is decided (nil when the role says `guard: off`).
    var guardian: ExecGuard?
    /// The commands of the line the user just confirmed: they may run at exec level too.
    var confirmed: [ConfirmedCommand] = []
    /// Why the last audit event could not be stored.
    var auditFailure: String?
    /// The longest text the prompt decides at once (a bracketed paste).
    static let pasteLimit = 1 << 20
    /// Type-ahead of the last job ended inside a line: the rest of that line is not a line.
    var typeAheadMidLine = false
    /// The role's watched files, while it has `snapshot:`.
    var snapshots: SnapshotKeeper?
    /// How many lines the audit log holds for this session: a line's number, as `sessions show` counts.
    var linesAudited = 0

    public convenience init(_ setup: SessionSetup) throws {
        try self.init(setup, clock: SystemClock.shared, waiter: PollWaiter(), terminal: UserTerminal())
    }

    init(_ setup: SessionSetup, clock: any SessionClock, waiter: any Waiter, terminal: UserTerminal) throws {
        // The user's jobs, globs, completions and dry-run walks must not see what the group sees.
        guard !JitshGroup.isRaised else {
            throw Installation.SetupError("jitsh still holds its group (it drops it at start); nothing runs")
        }
        self.setup = setup
        self.terminal = terminal
        self.clock = clock
        loop = EventLoop(clock: clock, waiter: waiter)
        startedAt = clock.wall
        decider = Decider(setup.policy)
        if let directory = setup.policyDirectory { policyStamp = Session.stamp(of: directory) }
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
        watchdog = Watchdog(grant: setup.grant, sessionID: id, host: setup.host.name)
        if setup.role.role.guardEnabled != false {
            if let why = Session.guardAvailability() {
                throw Spawner.SpawnError(errno: EPERM, what: "guarded sessions (\(why)); role \(setup.role.name) needs the exec guard unless it says guard: off")
            }
        }
        state = ShellState(cwd: cwd, base: base.merging(["JITSH_SESSION": id]) { $1 }, envDeny: setup.policy.global.envDenyGlobs)
        if setup.role.role.guardEnabled != false {
            do { guardian = try ExecGuard(delegate: self, judge: ExecJudge(trustedPaths: setup.policy.global.trustedPaths)) } catch {
                throw Spawner.SpawnError(errno: error.errno, what: "the exec guard's thread")
            }
        }
        installLoop()
    }

    /// Wall-clock seconds, as grants count.
    var now: Int64 { clock.wall }

    /// Appends an audit event; false when the store refused it (the caller then runs nothing).
    @discardableResult
    func audit(_ kind: AuditKind, line: String = "", decision: AuditDecision = .none, rule: String = "", reason: String = "", data: String = "{}",
               alert: Bool = false) -> Bool {
        // An alert is queued for the webhook with the event; delivery never holds up the session.
        let notification = alert ? Notification(event: "alert", text: "jitsh alert on \(setup.host.name): \(setup.identity) (\(setup.role.name)) \(kind.rawValue)"
                                                + (decision == .none ? "" : " \(decision.rawValue)") + (line.isEmpty ? "" : ": \(line)") + (reason.isEmpty ? "" : " — \(reason)"),
                                                fields: ["session": id, "identity": setup.identity, "role": setup.role.name, "kind": kind.rawValue,
                                                         "decision": decision.rawValue, "rule": rule, "line": line])
            : nil
        do {
            try trail.record(kind, at: clock.wall, line: line, decision: decision, rule: rule, reason: reason, data: data, alert: notification)
        } catch {
            auditFailure = "\(error)"
            return false
        }
        if kind == .line { linesAudited += 1 }
        return true
    }

    /// Where this session's audit events are made.
    var trail: AuditTrail {
        AuditTrail(store: setup.store, identity: setup.identity, host: setup.host.name, session: id, syslog: setup.auditSyslog)
    }

    /// Whether the role raises an alert for this kind of event (`alert_on: [deny, confirm, guard]`).
    func alerts(_ event: String) -> Bool { setup.role.role.alertOn.contains(event) }

    /// Starts the record: session row, first audit event, recorder.
    func begin(mode: String, command: String) throws {
        let size = terminal.isTerminal ? terminal.size() : (rows: 24, cols: 80)
        let record = SessionRecord(id: id, identity: setup.identity, login: setup.login, role: setup.role.name, grantID: setup.grant.id,
                                   host: setup.host.name, client: setup.client, mode: mode, command: command, startedAt: startedAt,
                                   width: size.cols, height: size.rows)
        let start = trail.event(.sessionStart, at: startedAt, line: command,
                                data: SessionStartData(mode: mode, grant: setup.grant.id, client: setup.client).json)
        try setup.store.startSession(record, event: start)
        trail.sent(start)
        // Orphans of jobs (daemons, setsid) come back to jitsh, so nothing outlives its line.
        guard Family.adoptOrphans() else { throw Spawner.SpawnError(errno: errno, what: "the session (jitsh cannot be its jobs' subreaper)") }
        recorder = Recorder(store: setup.store, sessionID: id, startedAt: startedAt, clock: clock)
        if terminal.isTerminal { recorder.resize(rows: size.rows, cols: size.cols) }
        _ = jitsh_signals_install(signals.write)
        // The guard thread sees every stop and exit of a traced job and tells the loop itself.
        if guardian != nil { _ = jitsh_signals_child(1) }
    }

    /// Ends the record: flush, sign, last audit event.
    func finish(_ reason: EndReason, status: Int32?) -> Int32 {
        ended = ended ?? reason
        for job in suspended { kill(-job.pid, SIGKILL) }
        suspended = []
        endOrphans()
        if interactive && terminal.isTerminal { show(LineEditor.pasteOff) }
        recorder.marker(["event": "session-end", "reason": .string((ended ?? reason).rawValue)])
        do {
            try recorder.finish(reason: (ended ?? reason).rawValue, status: status.map(Int.init), key: setup.signingKey, trail: trail)
        } catch {
            terminal.restore()
            FileHandle.standardError.write(Data("jitsh: the recording could not be completed: \(error)\r\n".utf8))
            return 1
        }
        terminal.restore()
        return status ?? 0
    }

    /// Kills whatever is left of finished jobs (untraced, daemonised, in a session of its own),
    /// keeping the jobs stopped with Ctrl-Z and what belongs to them.
    func endOrphans() {
        var keep = Set(suspended.map(\.pid))
        if let guardian { for job in suspended { keep.formUnion(guardian.members(of: job.pid)) } }
        let killed = Family.end(keeping: keep)
        if killed > 0 {
            recorder?.marker(["event": "orphans-ended", "count": .int(killed)])
        }
    }

    /// Drops type-ahead the last job did not read, into the recording with a marker; `last` is
    /// the last byte the job was given. Says whether what was typed stopped inside a line.
    @discardableResult
    func discardTypeAhead(after last: UInt8? = nil) -> Bool {
        let taken = terminal.takeTypeAhead()
        if !taken.isEmpty {
            recorder.record(.input, taken)
            recorder.marker(["event": "type-ahead-discarded", "bytes": .int(taken.count)])
        }
        // Enter, Ctrl-C and the other control keys end what was being typed; text does not.
        guard let end = taken.last ?? last else { return false }
        return end >= 0x20 && end != 0x7F || end == 0x09
    }

    /// The policy as it is now: a changed role applies from the next line; a policy that no
    /// longer loads (or lost this session's role) runs nothing. Nil when the line may be decided.
    func refreshPolicy() -> String? {
        guard let directory = setup.policyDirectory else { return nil }
        let stamp = Session.stamp(of: directory)
        guard stamp != policyStamp else { return nil }
        let policy: Policy
        do {
            policy = try PolicyDirectoryReader.load(directory, lint: false)
        } catch {
            audit(.policyFailed, decision: .deny, reason: "\(error)")
            return "this host's policy changed and no longer loads, so nothing runs (an admin sees why with: jitsh policy lint)"
        }
        guard let role = policy.role(setup.role.name) else {
            audit(.policyFailed, decision: .deny, reason: "role \(setup.role.name) is no longer in the policy")
            return "role \(setup.role.name) is no longer in this host's policy, so nothing runs; ask an admin"
        }
        policyStamp = stamp
        setup.policy = policy
        setup.role = role
        decider = Decider(policy)
        audit(.policyReloaded, reason: "\(policy.roles.count) roles")
        recorder?.marker(["event": "policy-reloaded"])
        return nil
    }

    /// Size, change time and inode of every file under the policy directory (and of the
    /// directories), read with plain stat calls: cheap enough before every line.
    static func stamp(of directory: String) -> [String: String] {
        var out: [String: String] = [:]
        func visit(_ path: String, depth: Int) {
            var st = stat()
            guard lstat(path, &st) == 0 else { out[path] = "missing"; return }
            out[path] = "\(st.st_ino):\(st.st_size):\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec):\(st.st_mode)"
            guard st.st_mode & S_IFMT == S_IFDIR, depth < 3, let d = opendir(path) else { return }
            defer { closedir(d) }
            while let e = readdir(d) {
                let name = withUnsafePointer(to: e.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
                if name == "." || name == ".." || name == "tests" { continue }
                visit(path + "/" + name, depth: depth + 1)
            }
        }
        visit(directory, depth: 0)
        return out
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
        recorder.record(.output, bytes)
        writeAll(terminal.output, bytes)
    }

    /// How long a line may be: a pasted script at the prompt may be long (each of its lines is
    /// decided in full).
    var lineLimits: Limits { interactive ? Limits(maxBytes: Session.pasteLimit) : .default }

    /// Decides a line, with everything the session knows.
    func decide(_ line: ParsedLine) -> Decision {
        var d = decider.decide(line, environment: state.shellEnvironment, role: setup.role.name, context: decisionContext)
        if d.verdict != .deny, let why = loginFileThroughLink(d) {
            d.verdict = .deny
            d.reason = why
            d.rule = nil
        }
        return d
    }

    /// The policy sees paths as written; a symlink the user made can still lead a write to a
    /// login file. Checked here, on the file system, as the user.
    func loginFileThroughLink(_ d: Decision) -> String? {
        let cwd = state.cwd
        var targets = d.redirects.filter { $0.redirect.writes && $0.redirect.target.isStatic }.compactMap {
            PathName.resolved($0.redirect.target.text, cwd: cwd)
        }
        for c in d.commands {
            guard let name = c.command.name else { continue }
            targets += LoginFiles.writtenPaths(PathName.base(name), Array(c.command.argv.dropFirst()), cwd: cwd)
        }
        guard !targets.isEmpty else { return nil }
        for t in targets {
            if let file = Session.loginFile(t, home: setup.home) {
                return "\(t) leads to \(file), which runs at login outside jitsh: never written"
            }
        }
        return nil
    }

    /// What a decision needs to know of the session now: host, time, working directory, home.
    var decisionContext: DecisionContext {
        DecisionContext(host: setup.host, epochSeconds: now / Duration.second, zones: SystemZones(), cwd: state.cwd, home: setup.home,
                        protectedPaths: setup.protectedPaths, files: LiveFiles())
    }

    /// Records the decision; false when it cannot be recorded, and then the line must not run.
    @discardableResult
    func auditDecision(_ line: String, _ d: Decision) -> Bool {
        let data = LineAuditData(commands: d.commands.map {
            LineAuditData.Command(argv: $0.command.argv.map(\.text), decision: AuditDecision($0.judgement.verdict),
                                  rule: $0.judgement.rule?.description ?? "", reason: $0.judgement.reason)
        }, cwd: state.cwd, alert: d.alert).json
        let stored = audit(.line, line: line, decision: AuditDecision(d.verdict), rule: d.rule?.description ?? "", reason: d.reason, data: data,
                           alert: d.alert)
        recorder.marker(["event": "decided", "line": .string(line), "decision": .string(d.verdict.rawValue), "rule": .string(d.rule?.description ?? ""), "reason": .string(d.reason)])
        return stored
    }

    // MARK: Signals

    /// Reads pending signal numbers from the self-pipe.
    func pendingSignals() -> [Int32] {
        guard let bytes = readSome(signals.read, max: 64) else { return [] }
        return bytes.map { Int32($0) }
    }
}
