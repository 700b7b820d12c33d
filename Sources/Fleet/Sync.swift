import Foundation
import PostgresStore
import Store

/// One fleet host's sync: its spool, the central store (opened when it can be reached), the
/// shipper and the grant view. `jitsh sync --once` runs `once`; the jitsh-sync service runs
/// `step` in a loop, waiting on `waitForChange` between steps.
public final class FleetSync: @unchecked Sendable {
    // Used by one thread at a time (the command, or the service's one loop).
    public let config: HostConfiguration
    public let spool: SQLiteStore
    private var central: PostgresStore?
    private var changes: GrantChanges?
    /// Whether this host's key and tags are in the central store (once per connection is enough).
    private var registered = false
    private var signingKey: SigningKey?
    /// When shipped recordings were last pruned from the spool (µs); hourly is enough.
    private var prunedAt: Int64 = 0
    public var backoff = Backoff()
    /// The longest one step ships before it refreshes the grant and lock view (µs).
    public var shippingBudget: Int64 = 1_000_000
    /// Where the last pass that was cut short stopped.
    private var cursor: String?
    /// The longest a connect or statement may take before the central store is called away.
    public var timeout: TimeInterval = 5

    public init(_ config: HostConfiguration) throws {
        guard case .postgresql = config.store else {
            throw StoreError(.refused, "jitsh sync is for a fleet host: store: in jitsh.yaml is \(config.store), not postgresql://…")
        }
        self.config = config
        spool = try SQLiteStore(path: config.spoolPath, create: false)
    }

    static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    /// The central store, opened (and its schema checked) on first use and after it was lost.
    func centralStore() throws -> PostgresStore {
        if let central { return central }
        guard case .postgresql(let location) = config.store else { throw StoreError(.refused, "not a fleet host") }
        let password = try config.storePasswordFile.map { try StorePasswordFile.read($0) }
        let store = try PostgresStore(PostgresSettings(location: location, password: password, caFile: config.storeCAFile,
                                                       timeout: timeout, connections: 2))
        central = store
        return store
    }

    /// One attempt: ship what waits (for up to `shippingBudget`: `more` says it stopped there),
    /// then refresh the grant and lock view. The outcome is noted in the spool (`--status` reads
    /// it); a failure is thrown after that.
    @discardableResult
    public func step() throws -> ShipReport {
        do {
            let central = try centralStore()
            if !registered { try register(central) }
            let shipped = try Shipper(spool: spool, central: central, host: config.host.name).pass(budget: shippingBudget, after: cursor)
            cursor = shipped.more ? shipped.last : nil
            // Indexed as it arrives, off every session's path: a search finds it at once.
            if shipped.chunks > 0 { try central.indexRecordings(batch: 200, transactionMicroseconds: 50_000) }
            try refreshView(central)
            var report = shipped
            report.pruned = try pruneShipped(now: Self.now)
            try spool.noteSync(shippedAt: Self.now, error: nil, at: Self.now)
            return report
        } catch {
            // A connection that failed is dropped with its store; the next attempt opens anew.
            if (error as? StoreError)?.kind != .conflict { central = nil; changes = nil; registered = false }
            try? spool.noteSync(shippedAt: nil, error: "\(error)", at: Self.now)
            throw error
        }
    }

    /// Puts this host's public key and tags in the central store: other hosts verify its
    /// recordings with the key, and resolve host sets with the tags.
    func register(_ central: PostgresStore) throws {
        let key: SigningKey
        do { key = try SigningKey.load(config.signingKeyPath) } catch {
            throw StoreError(.missing, "the signing key \(config.signingKeyPath) cannot be read (\(error)); run jitsh init")
        }
        _ = try central.register(host: config.host.name, tags: config.host.tags, key: key.publicKey, at: Self.now)
        (registered, signingKey) = (true, key)
    }

    /// Removes from the spool the recordings that reached the central store whole and are older
    /// than spool_retention, each leaving a tombstone signed with this host's key; never one
    /// that was not shipped. At most hourly; returns how many.
    func pruneShipped(now: Int64) throws -> Int {
        guard let key = signingKey, now - prunedAt >= 3_600_000_000 else { return 0 }
        prunedAt = now
        let ids = try spool.prunable(before: now - config.spoolRetention * 1_000_000, shippedOnly: true)
        for id in ids { _ = try spool.prune(id, actor: "jitsh-sync", key: key, now: now) }
        return ids.count
    }

    /// Mirrors the grants a session here may need, and the locks on this host's open sessions.
    public func refreshView(_ central: PostgresStore) throws {
        let view = try central.grantView(now: Self.now, sessions: spool.openSessionIDs())
        // Every lock, lifted ones too: the spool keeps what the central store has, append-only.
        try spool.mirror(grants: view.grants, locks: view.locks, accessLocks: try central.locks(holdingAt: nil), at: Self.now)
    }

    /// Ships everything that waits, in steps (each refreshing the view), with up to `attempts`
    /// tries of a failed step and jittered backoff between them; throws the last failure. It
    /// returns after `maxSteps` steps even if live sessions still record faster than it ships.
    public func once(attempts: Int = 4, maxSteps: Int = 600, sleep: (Double) -> Void = { Thread.sleep(forTimeInterval: $0) }) throws -> ShipReport {
        var total = ShipReport()
        var attempt = 0, steps = 0
        while true {
            do {
                let r = try step()
                total.merge(r)
                attempt = 0
                steps += 1
                if !r.more || r.shipments == 0 || steps >= maxSteps { return total }
            } catch {
                attempt += 1
                if attempt >= attempts || (error as? StoreError)?.kind == .permission { throw error }
                sleep(backoff.delay(attempt: attempt - 1, unit: Double.random(in: 0..<1)))
            }
        }
    }

    /// Waits up to `timeout` seconds for a grant or lock change announced by the central store
    /// (LISTEN/NOTIFY); with no listening connection, just waits. True when one came.
    @discardableResult
    public func waitForChange(timeout: TimeInterval) -> Bool {
        if changes == nil || changes?.isOpen == false, let central = try? centralStore() {
            changes = try? central.grantChanges()
        }
        guard let changes, changes.isOpen else {
            Thread.sleep(forTimeInterval: timeout)
            return false
        }
        return changes.wait(timeout: timeout)
    }

    public func status() throws -> SpoolStatus { try spool.spoolStatus() }
}
