import ArgumentParser
import Foundation
import Policy
import Session
import ShellSyntax
import Store

/// `jitsh rollback SESSION [--line N] [--dry-run] [--force]`: puts back what a line (or a whole
/// session) changed in its role's watched files, from the before-images in the store.
struct Rollback: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put watched files back as they were before a session's line, or before the whole session.",
        discussion: """
            Roles with `snapshot:` keep before- and after-images of every watched file a line changes. \
            rollback restores the before-images, with your own rights (never jitsh's group), and refuses a \
            file that changed again since the line left it unless --force is given. Allowed for the \
            session's own identity while its grant is live, and for root and admins; every rollback is \
            an audit event of the session.

            Through the forced command it is a reserved verb, like grant:
              ssh prod-1 rollback 3f2a --line 4 --dry-run
              ssh prod-1 rollback 3f2a --line 4
            """)

    @OptionGroup var identity: HostOptions
    @Argument(help: "The session id (or its first characters).") var session: String
    @Option(help: "Only this line (its number in `sessions show`).") var line: Int?
    @Flag(name: .customLong("dry-run"), help: "Show what would be restored, and the diff, without changing anything.") var dryRun = false
    @Flag(help: "Restore files that changed again since the line, too.") var force = false

    func validate() throws {
        if let line, line < 1 { throw ValidationError("--line counts from 1, as sessions show numbers lines") }
    }

    func run() throws {
        let boot = try Bootstrap.verb(identity)
        let (installation, policy, requester) = (boot.installation, boot.policy, boot.requester)
        let store = try boot.sqliteStore(for: "jitsh rollback")
        func fail(_ message: String, status: Int32 = 1) -> ExitCode {
            Console.error(message)
            return ExitCode(status)
        }
        let ids = (try? store.sessionIDs(matching: session)) ?? []
        guard ids.count == 1, let record = try? store.session(ids[0]) else {
            throw fail(ids.isEmpty ? "no session \(session.visible)" : "\(session.visible) names more than one session; give more of its id")
        }
        let now = Clock.now
        let ownLive = requester.identity == record.identity
            && (record.grantID.flatMap { try? store.grant($0) }.map { $0.state(at: now) == .active } ?? false)
        guard requester.isRoot || requester.groups.contains("admins") || ownLive else {
            throw fail(requester.identity == record.identity
                       ? "the grant of session \(record.id.prefix(8)) is no longer live; an admin can roll it back"
                       : "\(requester.identity.visible) may not roll back a session of \(record.identity.visible): only its own identity while its grant is live, root and admins may")
        }
        let images: [SnapshotImage]
        do { images = try store.images(session: record.id, line: line) } catch { throw fail("\(error)", status: ExitStatus.error) }
        guard !images.isEmpty else {
            throw fail("session \(record.id.prefix(8))\(line.map { " line \($0)" } ?? "") changed no watched file: there is nothing to roll back")
        }
        let home = Account.home(of: record.login) ?? "/"
        let contract = record.grantID.flatMap { try? store.grant($0) }?.contract
        let restorer = Restorer(roots: policy.snapshot(role: record.role, contract: contract)?.walkRoots(home: home) ?? [])
        // What is on disk is read, and written, with the person's own rights.
        let current = Dictionary(uniqueKeysWithValues: Set(images.map(\.path)).map { ($0, restorer.current($0)) })
        let plan = RollbackPlan(images: images, current: { current[$0] ?? nil })
        let scope = line.map { "line \($0) of session \(record.id.prefix(8))" } ?? "session \(record.id.prefix(8))"
        func event(_ kind: AuditKind, decision: AuditDecision, reason: String, paths: [String]) {
            let data = JSONText.object(["line": line.map { .int($0) } ?? .null, "paths": .array(paths.map { .string($0) }),
                                        "force": .bool(force), "by": .string(requester.identity)]).text
            try? AuditTrail(store: store, identity: requester.identity, host: installation.configuration.host.name, session: record.id,
                            syslog: installation.configuration.auditSyslog).record(kind, decision: decision, reason: reason, data: data)
        }
        if !plan.refused.isEmpty && !force {
            for item in plan.refused {
                Console.error("refused: \(item.path.visible) changed again since \(scope) left it (now \(describe(item.current))); --force restores it anyway")
            }
            if !dryRun { event(.rollbackRefused, decision: .deny, reason: "changed since", paths: plan.refused.map(\.path)) }
            throw ExitCode(1)
        }
        var contents: [String: [UInt8]] = [:]
        for item in plan.items { if let d = item.before?.digest, !d.isEmpty { contents[d] = try? store.imageContent(session: record.id, digest: d) } }
        let todo = plan.items.filter { $0.state != .alreadyBefore }
        for item in plan.items where item.state == .alreadyBefore { Console.line("already as before \(scope): \(item.path.visible)") }
        if dryRun {
            for item in todo {
                Console.line("would restore \(item.path.visible): \(describe(item.current)) → \(describe(item.before))")
                let old = item.current?.kind == .file ? restorer.currentContent(item.path) : nil
                let new = item.before.flatMap { contents[$0.digest] }
                if let old = old ?? (item.current == nil ? [] : nil), let new = new ?? (item.before == nil ? [] : nil),
                   UnifiedDiff.isText(old) && UnifiedDiff.isText(new), let diff = UnifiedDiff.diff(old, new), !diff.hunks.isEmpty {
                    for l in diff.hunks.split(separator: "\n", omittingEmptySubsequences: false).dropLast() { Console.line("  " + String(l).visible) }
                }
            }
            Console.line("\(todo.count) of \(plan.items.count) watched paths would be restored (dry run: nothing changed)")
            return
        }
        let targets = todo.map { Restorer.Target(path: $0.path, image: $0.before, content: $0.before.flatMap { contents[$0.digest] }) }
        let failures = restorer.restore(targets)
        let restored = todo.map(\.path).filter { p in !failures.contains { $0.path == p } }
        for p in restored { Console.line("restored \(p.visible) as before \(scope)") }
        for f in failures { Console.error("not restored: \(f.description)") }
        event(.rollback, decision: failures.isEmpty ? .restored : .partly, reason: "\(restored.count) restored, \(failures.count) failed", paths: restored)
        if !failures.isEmpty { throw ExitCode(1) }
    }

    func describe(_ image: FileImage?) -> String {
        guard let image else { return "absent" }
        switch image.kind {
        case .file: return "file \(image.octalMode) \(image.uid):\(image.gid), \(image.size) bytes"
        case .directory: return "directory \(image.octalMode) \(image.uid):\(image.gid)"
        case .symlink: return "link to \(image.link.visible)"
        }
    }
}
