import Foundation
import GRDB
import Posix

/// A fleet host's spool: the same SQLite store a lone host has (sessions record into it the
/// same way), plus what shipping needs: each session's commit point, the sync's last outcome,
/// and the grants and locks mirrored from the central store with the time of that view.
extension SQLiteStore {
    static func registerSpool(_ m: inout DatabaseMigrator) {
        m.registerMigration("v8 spool: commit points, sync state") { db in
            try db.execute(sql: """
                CREATE TABLE commit_points (
                    session_id TEXT PRIMARY KEY,
                    started INTEGER NOT NULL DEFAULT 0,
                    chunk_seq INTEGER NOT NULL DEFAULT -1,
                    chain_head BLOB NOT NULL,
                    audit_id INTEGER NOT NULL DEFAULT 0,
                    ended INTEGER NOT NULL DEFAULT 0,
                    quarantined TEXT,
                    shipped_at INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                CREATE TABLE sync_state (
                    key TEXT PRIMARY KEY,
                    value INTEGER,
                    text TEXT
                ) WITHOUT ROWID;
                """)
        }
    }

    static func registerImageShipping(_ m: inout DatabaseMigrator) {
        // Sessions that ended before images shipped have -1: their images ship after the upgrade.
        m.registerMigration("v11 spool: snapshot images shipped") { db in
            try db.execute(sql: """
                ALTER TABLE commit_points ADD COLUMN image_seq INTEGER NOT NULL DEFAULT -1;
                ALTER TABLE commit_points ADD COLUMN image_head BLOB;
                """)
        }
    }

    // MARK: Shipping

    /// The sessions the central store does not have whole yet, oldest first (quarantined ones
    /// are left out), and "" when events of no session wait.
    public func pendingCommitPoints() throws -> [CommitPoint] {
        try database.read { db in
            var out = try Row.fetchAll(db, sql: """
                SELECT s.id, p.started, p.chunk_seq, p.chain_head, p.audit_id, p.image_seq, p.image_head FROM sessions s
                LEFT JOIN commit_points p ON p.session_id = s.id
                WHERE p.session_id IS NULL OR (p.quarantined IS NULL AND (p.ended = 0 OR EXISTS (
                    SELECT 1 FROM audit_events e WHERE e.session_id = s.id AND e.id > p.audit_id) OR EXISTS (
                    SELECT 1 FROM snapshot_images i WHERE i.session_id = s.id AND i.seq > p.image_seq)))
                ORDER BY s.started_at
                """).map(Self.point)
            let loose = try Row.fetchOne(db, sql: "SELECT * FROM commit_points WHERE session_id = ''").map(Self.point)
                ?? CommitPoint(sessionID: "", chainHead: [])
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM audit_events WHERE session_id IS NULL AND id > ?)",
                                 arguments: [loose.auditID]) == true {
                out.append(loose)
            }
            return out
        }
    }

    static func point(_ r: Row) -> CommitPoint {
        let id: String = r[0]
        var p = CommitPoint(sessionID: id, chainHead: (r[3] as Data?).map(Array.init) ?? Chunk.genesis(id))
        p.started = (r[1] as Bool?) ?? false
        p.chunkSeq = (r[2] as Int64?) ?? -1
        p.auditID = (r[4] as Int64?) ?? 0
        p.imageSeq = (r[5] as Int64?) ?? -1
        p.imageHead = (r[6] as Data?).map(Array.init)
        return p
    }

    /// What follows `p`: at most about `maxBytes` of chunks and image contents, the events after
    /// its audit id, and the end once no chunk or image before it is left. Read in one
    /// transaction, so the end, its chunks and its images agree.
    public func nextShipment(after p: CommitPoint, host: String, maxBytes: Int = 4 << 20, maxEvents: Int = 500,
                             maxImages: Int = 256) throws -> Shipment {
        try database.read { db in
            guard !p.sessionID.isEmpty else {
                let events = try Row.fetchAll(db, sql: "SELECT * FROM audit_events WHERE session_id IS NULL AND id > ? ORDER BY id LIMIT ?",
                                              arguments: [p.auditID, maxEvents]).map(Self.audit)
                return Shipment(host: host, sessionID: nil, events: events)
            }
            var s = Shipment(host: host, sessionID: p.sessionID)
            if !p.started {
                s.session = try Row.fetchOne(db, sql: "SELECT * FROM sessions WHERE id = ?", arguments: [p.sessionID]).map(Self.session)
            }
            var bytes = 0
            var after = p.chunkSeq
            reading: while true {
                let batch = try Row.fetchAll(db, sql: "SELECT * FROM chunks WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT 16",
                                             arguments: [p.sessionID, after]).map(Self.chunk)
                for c in batch {
                    if !s.chunks.isEmpty && bytes + c.data.count > maxBytes { break reading }
                    s.chunks.append(c)
                    bytes += c.data.count
                    after = c.seq
                }
                if batch.count < 16 { break }
            }
            s.events = try Row.fetchAll(db, sql: "SELECT * FROM audit_events WHERE session_id = ? AND id > ? ORDER BY id LIMIT ?",
                                        arguments: [p.sessionID, p.auditID, maxEvents]).map(Self.audit)
            var imagesLeft = false
            for image in try Self.images(db, session: p.sessionID, line: nil, after: p.imageSeq, limit: maxImages + 1) {
                let named = Set([image.before?.digest, image.after?.digest].compactMap { $0 }.filter { !$0.isEmpty })
                    .subtracting(s.contents.map(\.digest))
                let contents = try Self.contents(db, session: p.sessionID, digests: named.sorted())
                let size = contents.reduce(0) { $0 + $1.deflated.count }
                if s.images.count == maxImages || (!s.images.isEmpty || !s.chunks.isEmpty) && bytes + size > maxBytes {
                    imagesLeft = true
                    break
                }
                s.images.append(image)
                s.contents += contents
                bytes += size
            }
            if !p.ended, !imagesLeft, let end = try Row.fetchOne(db, sql: "SELECT * FROM session_ends WHERE session_id = ?", arguments: [p.sessionID]),
               (end["chunks"] as Int64) - 1 == after {
                s.end = SessionEnd(sessionID: end["session_id"], endedAt: end["ended_at"], exitReason: end["exit_reason"],
                                   exitStatus: end["exit_status"], chunks: end["chunks"], chainHead: Array(end["chain_head"] as Data),
                                   signature: (end["signature"] as Data?).map(Array.init), keyID: end["key_id"])
            }
            return s
        }
    }

    /// Ends the spool could not take when its sessions ended (its disk was full) and that their
    /// end notes kept: each signed end that matches the chunks stored goes into the spool with
    /// its session-end event, and its note goes, so it ships as any end does. A note that does
    /// not match is left for `sessions verify` to name; one that cannot be taken yet (the disk
    /// still full) is tried again next pass. The ids of the sessions whose end was taken.
    public func adoptEndNotes() -> [String] {
        let dir = EndNote.directory(forStore: location)
        let names = JitshGroup.raised(.endNote) { (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] }
        var adopted: [String] = []
        for name in names where name.hasSuffix(".end") {
            let id = String(name.dropLast(4))
            // A live session's room holds no note yet.
            guard let note = EndNote.read(id, store: location), let session = try? session(id) else { continue }
            if (try? sessionEnd(id)) != nil {
                EndNote.remove(id, store: location)
                continue
            }
            let stored = try? database.read { db in
                try Row.fetchOne(db, sql: "SELECT count(*), (SELECT hash FROM chunks WHERE session_id = ? ORDER BY seq DESC LIMIT 1) FROM chunks WHERE session_id = ?",
                                 arguments: [id, id])
            }
            guard let stored, let count = stored[0] as Int64?, count == note.end.chunks,
                  ((stored[1] as Data?).map(Array.init) ?? Chunk.genesis(id)) == note.end.chainHead else { continue }
            var data: [String: JSONText] = ["chunks": .int(Int(note.end.chunks)), "status": note.end.exitStatus.map { .int($0) } ?? .null]
            data["cause"] = .string("the end could not be stored: \(note.cause); kept in its end note and taken into the spool by jitsh sync")
            let event = AuditEvent(at: note.end.endedAt, sessionID: id, identity: session.identity, host: session.host, kind: .sessionEnd,
                                   reason: note.end.exitReason, data: JSONText.object(data).text)
            guard (try? endSession(note.end, event: event)) != nil else { continue }
            EndNote.remove(id, store: location)
            adopted.append(id)
        }
        return adopted
    }

    /// Records that the central store committed `p` (called after its commit, never before).
    public func advance(_ p: CommitPoint, at now: Int64) throws {
        try database.write { db in
            try db.execute(sql: """
                INSERT INTO commit_points (session_id, started, chunk_seq, chain_head, audit_id, ended, quarantined, shipped_at,
                                           image_seq, image_head)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (session_id) DO UPDATE SET started = excluded.started, chunk_seq = excluded.chunk_seq,
                    chain_head = excluded.chain_head, audit_id = excluded.audit_id, ended = excluded.ended,
                    quarantined = excluded.quarantined, shipped_at = excluded.shipped_at, image_seq = excluded.image_seq,
                    image_head = excluded.image_head
                """, arguments: [p.sessionID, p.started, p.chunkSeq, Data(p.chainHead), p.auditID, p.ended, p.quarantined, now,
                                 p.imageSeq, p.imageHead.map { Data($0) }])
        }
    }

    /// Holds a session back from shipping, with the event that says why (an event of no
    /// session, so it ships itself and the central store learns of the quarantine).
    public func quarantine(_ p: CommitPoint, reason: String, event: AuditEvent, at now: Int64) throws {
        var held = p
        held.quarantined = reason
        try advance(held, at: now)
        try appendAudit([event])
    }

    public func quarantinedSessions() throws -> [(id: String, reason: String)] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT session_id, quarantined FROM commit_points WHERE quarantined IS NOT NULL ORDER BY session_id")
                .map { ($0[0], $0[1]) }
        }
    }

    /// Chunk bytes the central store does not have: what `spool_quota:` bounds.
    public func queuedBytes() throws -> Int64 {
        try database.read { db in try Self.queuedBytes(db) }
    }

    static func queuedBytes(_ db: GRDB.Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: """
            SELECT coalesce(sum(length(c.data)), 0) FROM sessions s LEFT JOIN commit_points p ON p.session_id = s.id
            JOIN chunks c ON c.session_id = s.id AND c.seq > coalesce(p.chunk_seq, -1)
            WHERE coalesce(p.ended, 0) = 0
            """) ?? 0
    }

    /// Bytes an unprivileged writer may still put on the file system holding the spool, or nil
    /// when it cannot be asked.
    public func freeBytes() -> Int64? {
        var fs = statvfs()
        guard statvfs((location as NSString).deletingLastPathComponent, &fs) == 0 else { return nil }
        return Int64(fs.f_bavail) * Int64(fs.f_frsize)
    }

    /// The outcome of a shipping pass: `shipped` when it reached the central store, or why not.
    public func noteSync(shippedAt: Int64?, error: String?, at now: Int64) throws {
        try database.write { db in
            if let shippedAt {
                try db.execute(sql: "INSERT OR REPLACE INTO sync_state (key, value, text) VALUES ('shipped', ?, NULL)", arguments: [shippedAt])
            }
            try db.execute(sql: "INSERT OR REPLACE INTO sync_state (key, value, text) VALUES ('error', ?, ?)", arguments: [now, error])
        }
    }

    public func spoolStatus() throws -> SpoolStatus {
        try database.read { db in
            var s = SpoolStatus()
            s.queuedBytes = try Self.queuedBytes(db)
            let pending = try Row.fetchOne(db, sql: """
                SELECT count(*), min(coalesce((SELECT min(c.started_at) FROM chunks c WHERE c.session_id = s.id
                                                AND c.seq > coalesce(p.chunk_seq, -1)),
                                              CASE WHEN coalesce(p.started, 0) = 0 THEN s.started_at END))
                FROM sessions s LEFT JOIN commit_points p ON p.session_id = s.id
                WHERE p.session_id IS NULL OR (p.quarantined IS NULL AND p.ended = 0
                    AND (p.started = 0 OR EXISTS (SELECT 1 FROM chunks c WHERE c.session_id = s.id AND c.seq > p.chunk_seq)))
                """)
            s.queuedSessions = pending?[0] ?? 0
            s.oldestUnshipped = pending?[1]
            s.quarantined = try Int.fetchOne(db, sql: "SELECT count(*) FROM commit_points WHERE quarantined IS NOT NULL") ?? 0
            s.lastShipped = try Int64.fetchOne(db, sql: "SELECT value FROM sync_state WHERE key = 'shipped'")
            s.lastError = try String.fetchOne(db, sql: "SELECT text FROM sync_state WHERE key = 'error'")
            s.viewRefreshed = try Int64.fetchOne(db, sql: "SELECT value FROM sync_state WHERE key = 'view'")
            return s
        }
    }
}
