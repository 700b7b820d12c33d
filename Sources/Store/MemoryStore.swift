import Foundation

/// A store that lives and dies with the process: the conformance suite's third back end, and a
/// reference for what the roles promise without any engine's help (one lock is the transaction).
/// Nothing is ever changed in place but the outbox's delivery state, as in the databases.
public final class MemoryStore: Store, AuditLog, RecordingSink, RecordingSearch, SnapshotImageStore, @unchecked Sendable {
    // Every field below is read and written under `lock` only.
    private let lock = NSLock()
    private var grantRows: [Grant] = []
    private var sessions: [String: SessionRecord] = [:]
    private var ends: [String: SessionEnd] = [:]
    private var chunkRows: [String: [Int64: Chunk]] = [:]
    private var audit: [AuditEvent] = []
    private var locks: [String: SessionLock] = [:]
    private var lockRows: [Lock] = []
    private var outbox: [(item: OutboxItem, dueAt: Int64, deliveredAt: Int64?, lastError: String)] = []
    private var indexed: [String: [Int64: (at: Int64, text: String, tokens: [String])]] = [:]
    private var imageHeads: [String: (head: [UInt8], count: Int64)] = [:]

    public let location = "memory"

    public init() {}

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    public func integrity() throws -> [String] { ["ok"] }

    // MARK: Grants

    public func insertGrant(_ grant: Grant, notifications: [Notification]) throws -> Grant {
        locked {
            var stored = grant
            stored.id = Int64(grantRows.count + 1)
            grantRows.append(stored)
            for n in notifications { enqueue(n, grant: stored.id, at: grant.requestedAt) }
            return stored
        }
    }

    public func changeGrant(_ id: Int64, _ change: (Grant) throws -> (events: [GrantEvent], notifications: [Notification])) throws -> Grant {
        try locked {
            guard let k = grantRows.firstIndex(where: { $0.id == id }) else { throw GrantRefusal("there is no grant \(id)") }
            let outcome = try change(grantRows[k])
            grantRows[k].events += outcome.events
            for n in outcome.notifications { enqueue(n, grant: id, at: outcome.events.last?.at ?? 0) }
            return grantRows[k]
        }
    }

    public func grant(_ id: Int64) throws -> Grant? { locked { grantRows.first { $0.id == id } } }

    public func grants(identity: String?) throws -> [Grant] {
        locked { grantRows.filter { identity == nil || $0.identity == identity } }
    }

    public func sessionLock(_ id: String) throws -> SessionLock? { locked { locks[id] } }

    public func addLock(_ lock: Lock) throws -> Lock {
        locked {
            var stored = lock
            stored.id = Int64(lockRows.count + 1)
            lockRows.append(stored)
            return stored
        }
    }

    public func removeLock(_ id: Int64, _ removal: Lock.Removal) throws -> Lock? {
        locked {
            guard let k = lockRows.firstIndex(where: { $0.id == id }) else { return nil }
            if lockRows[k].removal == nil { lockRows[k].removal = removal }
            return lockRows[k]
        }
    }

    public func locks(holdingAt now: Int64?) throws -> [Lock] {
        locked { lockRows.filter { now == nil || $0.holds(at: now!) } }
    }

    public func lockSession(_ lock: SessionLock) throws {
        locked { if locks[lock.sessionID] == nil { locks[lock.sessionID] = lock } }
    }

    // MARK: Outbox

    private func enqueue(_ n: Notification, grant: Int64?, at: Int64) {
        let n = n.addressed(to: grant)
        outbox.append((OutboxItem(id: Int64(outbox.count + 1), event: n.event, payload: n.payload, attempts: 0), at, nil, ""))
    }

    public func dueNotifications(now: Int64, limit: Int) throws -> [OutboxItem] {
        locked { Array(outbox.filter { $0.deliveredAt == nil && $0.dueAt <= now }.prefix(max(0, limit)).map(\.item)) }
    }

    public func markDelivered(_ id: Int64, at: Int64) throws {
        locked {
            guard let k = outbox.firstIndex(where: { $0.item.id == id }) else { return }
            outbox[k].deliveredAt = at
            outbox[k].item.attempts += 1
        }
    }

    public func markFailed(_ id: Int64, error: String, retryAt: Int64) throws {
        locked {
            guard let k = outbox.firstIndex(where: { $0.item.id == id }) else { return }
            outbox[k].item.attempts += 1
            outbox[k].lastError = error
            outbox[k].dueAt = retryAt
        }
    }

    // MARK: Audit

    public func appendAudit(_ events: [AuditEvent]) throws { try appendAudit(events, alert: nil) }

    public func appendAudit(_ events: [AuditEvent], alert: Notification?) throws {
        locked {
            for e in events { insert(e) }
            // As the databases do: the alert is due at once (outbox times are seconds).
            if let alert { enqueue(alert, grant: nil, at: events.first?.at ?? 0) }
        }
    }

    private func insert(_ e: AuditEvent) {
        var e = e
        e.id = Int64(audit.count + 1)
        audit.append(e)
    }

    public func auditEvents(session id: String) throws -> [AuditEvent] { locked { audit.filter { $0.sessionID == id } } }

    public func recentLines(identity: String, limit: Int) throws -> [String] {
        locked { Array(audit.filter { $0.identity == identity && $0.kind == "line" && !$0.line.isEmpty }.suffix(max(0, limit)).map(\.line)) }
    }

    public func countAudit(kind: AuditKind, identity: String, since: Int64) throws -> Int {
        locked { audit.filter { $0.identity == identity && $0.kind == kind.rawValue && $0.at >= since }.count }
    }

    public func oldestAudit(kind: AuditKind, identity: String, since: Int64) throws -> Int64? {
        locked { audit.filter { $0.identity == identity && $0.kind == kind.rawValue && $0.at >= since }.map(\.at).min() }
    }

    public func auditExists(kind: AuditKind, reason: String) throws -> Bool {
        locked { audit.contains { $0.kind == kind.rawValue && $0.reason == reason } }
    }

    // MARK: Recording

    public func startSession(_ s: SessionRecord, event: AuditEvent) throws {
        try locked {
            guard sessions[s.id] == nil else { throw StoreError(.conflict, "the store refused a change: session \(s.id) exists") }
            sessions[s.id] = s
            insert(event)
        }
    }

    public func appendChunk(_ c: Chunk) throws {
        try locked {
            guard sessions[c.sessionID] != nil else { throw StoreError(.conflict, "the store refused a change: no session \(c.sessionID)") }
            if let stored = chunkRows[c.sessionID]?[c.seq] {
                guard stored.hash == c.hash else { throw ChunkConflict(sessionID: c.sessionID, seq: c.seq).error }
                return
            }
            chunkRows[c.sessionID, default: [:]][c.seq] = c
        }
    }

    public func endSession(_ e: SessionEnd, event: AuditEvent) throws {
        try locked {
            guard sessions[e.sessionID] != nil, ends[e.sessionID] == nil else {
                throw StoreError(.conflict, "the store refused a change: session \(e.sessionID) cannot end twice")
            }
            ends[e.sessionID] = e
            insert(event)
        }
    }

    public func session(_ id: String) throws -> SessionRecord? { locked { sessions[id] } }

    public func sessions(_ ids: [String]) throws -> [String: SessionRecord] {
        locked { sessions.filter { ids.contains($0.key) } }
    }

    /// Oldest first, as the databases order them (by start, then id).
    public func allSessionIDs(host: String?) throws -> [String] {
        locked {
            sessions.values.filter { s in host.map { StoreGlob.matches($0, s.host) } ?? true }
                .sorted { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }.map(\.id)
        }
    }

    public func auditEvents(after id: Int64, limit: Int) throws -> [AuditEvent] {
        locked { Array(audit.filter { $0.id > id }.prefix(max(0, limit))) }
    }

    public func lastAuditID() throws -> Int64 { locked { audit.last?.id ?? 0 } }

    public func sessionEnd(_ id: String) throws -> SessionEnd? { locked { ends[id] } }

    public func chunks(session id: String, after seq: Int64, limit: Int) throws -> [Chunk] {
        locked {
            let ordered = (chunkRows[id] ?? [:]).values.filter { $0.seq > seq }.sorted { $0.seq < $1.seq }
            return limit < 0 ? ordered : Array(ordered.prefix(limit))
        }
    }

    // MARK: Search

    @discardableResult
    public func indexRecordings(batch: Int = 200, transactionMicroseconds: Int64 = 50_000) throws -> Int {
        locked {
            var count = 0
            for (id, rows) in chunkRows {
                for (seq, c) in rows where indexed[id]?[seq] == nil {
                    let text = Transcript.searchableText(c.decodedFrames() ?? [])
                    indexed[id, default: [:]][seq] = (c.startedAt, text, TextQuery.tokens(text))
                    count += 1
                }
            }
            return count
        }
    }

    public func searchRecordings(_ text: String, limit: Int, newestFirst: Bool) throws -> [TextHit] {
        let query = try TextQuery.parse(text)
        return locked {
            var hits: [(at: Int64, hit: TextHit)] = []
            for (id, rows) in indexed {
                guard let started = sessions[id]?.startedAt else { continue }
                for (seq, row) in rows where !row.text.isEmpty && query.matches(row.tokens) {
                    hits.append((row.at, TextHit(sessionID: id, seq: seq, offset: row.at - started, snippet: query.snippet(row.text))))
                }
            }
            hits.sort { newestFirst ? $0.at > $1.at : $0.at < $1.at }
            return Array(hits.prefix(max(0, limit)).map(\.hit))
        }
    }

    // MARK: Snapshots

    public func appendImages(session id: String, line: Int, at: Int64, changes: [FileChange],
                             contents: [String: [UInt8]]) throws -> (head: [UInt8], count: Int64) {
        locked {
            var (head, seq) = imageHeads[id] ?? (SnapshotImage.genesis(id), 0)
            for c in changes {
                head = SnapshotImage(sessionID: id, seq: seq, line: line, at: at, path: c.path, before: c.before, after: c.after,
                                     previousHash: head).hash
                seq += 1
            }
            imageHeads[id] = (head, seq)
            return (head, seq)
        }
    }
}
