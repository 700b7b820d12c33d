import Foundation
import Policy
import ShellSyntax
import Store

/// What a connection asks for, as sshd hands it to the forced command.
public struct Arrival: Sendable {
    /// SSH_ORIGINAL_COMMAND's bytes, exactly: nil for a login (`ssh host`).
    public var command: [UInt8]?
    /// Whether the client asked for a terminal (`ssh -t`, or a login).
    public var hasTerminal: Bool

    public init(command: [UInt8]?, hasTerminal: Bool) {
        self.command = command
        self.hasTerminal = hasTerminal
    }
}

/// What the gate lets through, or why not.
public enum Admission: Sendable {
    /// Nothing runs. `message` is the client's line; `audit` the reason of the audit event the
    /// refusal makes (nil for those that are the host's own state: a store or policy error);
    /// `status` the exit status (126 where a shell would say it cannot run the command).
    case refused(message: String, audit: String?, status: Int32 = 1)
    /// `grant …`, `rollback …`, `review …`: jitsh's own verbs, parsed by jitsh and never a shell,
    /// run with or without a grant.
    case verb([String])
    /// A session under `grant` with its role, the policy loaded for it, and what it starts with.
    case session(Grant, CompiledRole, Policy, SessionStart)
}

public enum SessionStart: Sendable {
    case transfer(Transfer.Request, argv: [String])
    /// The client's line, parsed once here; the session decides it from this parse.
    case exec(ParsedLine, confirmToken: String?)
    case interactive
}

/// From who asks, their command and whether they have a terminal to an admission: the reserved
/// verbs, the refusals (invalid UTF-8, no live grant, a transfer the role does not allow or one
/// that writes a login file, no command without a terminal), and what a session starts with.
/// The executable opens the store and loads the policy; everything it decides is here.
public struct Gate {
    public var host: HostInfo
    public var store: any GrantStore
    public var zones: TimeZoneResolver
    public static let verbs: Set<String> = ["grant", "rollback", "review"]

    /// What a locked person is told; the reason is an admin's words, shown inert.
    public static func lockedMessage(_ lock: Lock) -> String {
        "\(Visible.text(lock.target.description)) is locked by \(Visible.text(lock.actor))"
            + (lock.until.map { " until \(Timestamp.format(microseconds: $0))" } ?? "") + ": \(Visible.text(lock.reason)); nothing can run (ask an admin: jitsh lock list)"
    }
    static let transferPrograms: Set<String> = ["scp", "rsync", "internal-sftp"]

    public init(host: HostInfo, store: any GrantStore, zones: TimeZoneResolver = SystemZones()) {
        self.host = host
        self.store = store
        self.zones = zones
    }

    /// `policy` is what the caller loaded to know who is asking; `complete(grant)` gives what
    /// the grant's role and contract need, `complete(nil)` the whole policy (a refusal lists
    /// the contracts one may request). Loading is the caller's: root's cache may serve it.
    public func admit(_ arrival: Arrival, requester: Requester, home: String, now: Int64, policy: Policy,
                      complete: (Grant?) throws -> Policy) -> Admission {
        var line: ParsedLine?
        var confirmToken: String?
        var words: [String]?
        if let bytes = arrival.command {
            // Invalid UTF-8 would reach bash changed (replacement characters): refuse rather
            // than run something other than what was sent.
            guard let text = String(validating: bytes, as: UTF8.self) else {
                return .refused(message: "the command is not valid UTF-8; jitsh runs only lines it can show and record exactly",
                                audit: "the command is not valid UTF-8", status: 126)
            }
            var command = text
            if let (token, rest) = Gate.confirmation(text) {
                confirmToken = token
                command = rest
            }
            let limits = arrival.hasTerminal ? Limits(maxBytes: Session.pasteLimit) : .default
            let parsed = ParsedLine(command, limits: limits)
            line = parsed
            if confirmToken == nil {
                words = Gate.staticWords(parsed)
                if let first = words?.first, Gate.verbs.contains(first) { return .verb(words!) }
            }
        }
        let live: [Grant]
        do { live = try GrantService(store: store, policy: policy, host: host, zones: zones).live(for: requester.identity, now: now) } catch {
            return .refused(message: "\(error)", audit: nil)
        }
        let loaded: Policy
        do { loaded = try complete(live.first) } catch {
            return .refused(message: Gate.badPolicy, audit: nil)
        }
        guard let grant = live.first else {
            let service = GrantService(store: store, policy: loaded, host: host, zones: zones)
            return .refused(message: Gate.noGrantMessage(requester, service: service, host: host, now: now), audit: "no live grant")
        }
        guard let role = loaded.role(grant.role) else {
            return .refused(message: "role \(grant.role) of grant \(grant.id) is no longer in the policy; ask an admin", audit: nil)
        }
        do {
            if let lock = Lock.covering(try store.locks(holdingAt: now), identity: requester.identity, role: grant.role, host: host.name, now: now) {
                return .refused(message: Gate.lockedMessage(lock), audit: "locked: \(lock.target) (lock \(lock.id)): \(lock.reason)")
            }
        } catch {
            return .refused(message: "\(error)", audit: nil)
        }
        guard let line else {
            guard arrival.hasTerminal else {
                return .refused(message: "no command and no terminal: use ssh -t \(host.shortName), or ssh \(host.shortName) 'command'", audit: nil)
            }
            return .session(grant, role, loaded, .interactive)
        }
        if let words {
            do {
                if let transfer = try Transfer.classify(words) {
                    switch Transfer.admit(transfer, rules: role.role.transfers) {
                    case .success(let argv):
                        if let why = Transfer.loginFileDestination(transfer, home: home, cwd: home) {
                            return .refused(message: why, audit: why)
                        }
                        return .session(grant, role, loaded, .transfer(transfer, argv: argv))
                    case .failure(let e): return .refused(message: "\(e)", audit: nil)
                    }
                }
            } catch where Gate.transferPrograms.contains(PathName.base(words.first ?? "")) {
                // A transfer program with arguments jitsh cannot read is not run as a line.
                return .refused(message: "\(error)", audit: nil)
            } catch {}
        }
        return .session(grant, role, loaded, .exec(line, confirmToken: confirmToken))
    }

    public static let badPolicy = "this host's policy does not load, so nothing can run (an admin sees why with: jitsh policy lint)"

    /// `confirm TOKEN LINE` or `--confirm TOKEN LINE`: the token and the line, verbatim.
    public static func confirmation(_ text: String) -> (token: String, line: String)? {
        for prefix in ["confirm ", "--confirm "] where text.hasPrefix(prefix) {
            let rest = text.dropFirst(prefix.count).drop { $0 == " " }
            guard let space = rest.firstIndex(of: " ") else { return nil }
            let line = rest[space...].drop { $0 == " " }
            return line.isEmpty ? nil : (String(rest[..<space]), String(line))
        }
        return nil
    }

    /// The argv of a line made of static words only (reserved verbs never go through a shell).
    public static func staticWords(_ line: ParsedLine) -> [String]? {
        guard let e = try? line.extract(), e.commands.count >= 1, e.redirects.isEmpty, e.risks.isEmpty,
              let c = e.commands.first, c.context.isEmpty else { return nil }
        let argv = c.argv
        guard argv.allSatisfy(\.isStatic) else { return nil }
        return argv.map(\.text)
    }

    public static func noGrantMessage(_ r: Requester, service: GrantService, host: HostInfo, now: Int64? = nil) -> String {
        var text = "\(r.identity) has no live grant for \(host.name), so nothing can run.\n"
        // A grant for other hosts is the usual surprise in a fleet: say which it was and why not here.
        if let now, let elsewhere = try? service.store.grants(identity: r.identity).filter({ $0.state(at: now) == .active && !$0.covers(host) }),
           !elsewhere.isEmpty {
            let tags = host.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            for g in elsewhere.suffix(3) {
                text += "Your grant \(g.id) (\(g.role) on \(g.hostPattern)) does not cover \(host.name)\(tags.isEmpty ? "" : " (\(tags))").\n"
            }
        }
        let contracts = service.requestable(by: r)
        guard let first = contracts.first else {
            return text + "You may not request any role on this host; ask an admin which access contract covers you."
        }
        text += "You may request:\n"
        for c in contracts {
            let approval = c.approval.description
            text += "  \(c.role) (contract \(c.name), up to \(Duration.describe(c.maxDuration)), \(approval))\n"
        }
        return text + "Request one with:\n  ssh \(host.shortName) grant request --role \(first.role) --duration \(Duration.describe(first.defaultDuration))"
            + " --reason \"INC-1234 what you will do\""
    }
}
