import Foundation
import GRDB

/// A session as it started: who, as what, under which grant, from where.
public struct SessionRecord: Sendable, Equatable {
    public var id: String
    public var identity: String
    public var login: String
    public var role: String
    public var grantID: Int64?
    public var host: String
    public var client: String
    /// interactive, exec, transfer, verb
    public var mode: String
    public var command: String
    /// Microseconds since the epoch.
    public var startedAt: Int64
    public var width: Int
    public var height: Int

    public init(id: String, identity: String, login: String, role: String, grantID: Int64?, host: String, client: String,
                mode: String, command: String, startedAt: Int64, width: Int = 80, height: Int = 24) {
        self.id = id
        self.identity = identity
        self.login = login
        self.role = role
        self.grantID = grantID
        self.host = host
        self.client = client
        self.mode = mode
        self.command = command
        self.startedAt = startedAt
        self.width = width
        self.height = height
    }
}

/// One audit event: a decision, a confirmation, a blocked exec, a session start or end.
public struct AuditEvent: Sendable, Equatable {
    public var id: Int64 = 0
    /// Microseconds since the epoch.
    public var at: Int64
    public var sessionID: String?
    public var identity: String
    public var host: String
    public var kind: String
    public var line: String
    public var decision: String
    public var rule: String
    public var reason: String
    /// More, as a JSON object.
    public var data: String

    public init(at: Int64, sessionID: String?, identity: String, host: String, kind: AuditKind, line: String = "",
                decision: AuditDecision = .none, rule: String = "", reason: String = "", data: String = "{}") {
        self.init(read: at, sessionID: sessionID, identity: identity, host: host, kind: kind.rawValue, line: line,
                  decision: decision.rawValue, rule: rule, reason: reason, data: data)
    }

    /// An event as a store gives it back: kind and decision as written (a newer jitsh's too).
    public init(read at: Int64, sessionID: String?, identity: String, host: String, kind: String, line: String = "",
                decision: String = "", rule: String = "", reason: String = "", data: String = "{}") {
        self.at = at
        self.sessionID = sessionID
        self.identity = identity
        self.host = host
        self.kind = kind
        self.line = line
        self.decision = decision
        self.rule = rule
        self.reason = reason
        self.data = data
    }
}

extension SQLiteStore {
    public func startSession(_ s: SessionRecord, event: AuditEvent) throws {
        try database.write { db in
            try db.execute(sql: """
                INSERT INTO sessions (id, identity, login, role, grant_id, host, client, mode, command, started_at, width, height)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [s.id, s.identity, s.login, s.role, s.grantID, s.host, s.client, s.mode, s.command, s.startedAt,
                                 s.width, s.height])
            try Self.insert(event, db)
        }
    }

    public func appendChunk(_ c: Chunk) throws {
        try database.checkFile()
        // Keyed by session and sequence: the same chunk sent again (a retry, a shipper restarted)
        // is stored once; another chunk at a taken place is refused.
        let conflict: Bool = try database.write { db in
            // Cached: a session commits a chunk every 64 KiB of output (hundreds a second at line
            // rate); the statement is compiled once per connection, not once per chunk.
            try db.cachedStatement(sql: """
                INSERT INTO chunks (session_id, seq, started_at, frames, raw_bytes, data, prev_hash, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, seq) DO NOTHING
                """).execute(arguments: [c.sessionID, c.seq, c.startedAt, c.frames, c.rawBytes, Data(c.data), Data(c.previousHash),
                                         Data(c.hash)])
            guard db.changesCount == 0 else { return false }
            let stored = try Data.fetchOne(db, sql: "SELECT hash FROM chunks WHERE session_id = ? AND seq = ?", arguments: [c.sessionID, c.seq])
            return stored != Data(c.hash)
        }
        if conflict { throw ChunkConflict(sessionID: c.sessionID, seq: c.seq).error }
    }

    public func endSession(_ e: SessionEnd, event: AuditEvent) throws {
        try database.checkFile()
        try database.write { db in
            try db.execute(sql: """
                INSERT INTO session_ends (session_id, ended_at, exit_reason, exit_status, chunks, chain_head, signature, key_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [e.sessionID, e.endedAt, e.exitReason, e.exitStatus, e.chunks, Data(e.chainHead),
                                 e.signature.map { Data($0) }, e.keyID])
            try Self.insert(event, db)
        }
    }

    public func appendAudit(_ events: [AuditEvent]) throws {
        guard !events.isEmpty else { return }
        try database.write { db in for e in events { try Self.insert(e, db) } }
    }

    static func insert(_ e: AuditEvent, _ db: GRDB.Database) throws {
        try db.execute(sql: """
            INSERT INTO audit_events (at, session_id, identity, host, kind, line, decision, rule, reason, data)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [e.at, e.sessionID, e.identity, e.host, e.kind, e.line, e.decision, e.rule, e.reason, e.data])
    }

    public func latestSessionID() throws -> String? {
        try database.read { db in try String.fetchOne(db, sql: "SELECT id FROM sessions ORDER BY started_at DESC, rowid DESC LIMIT 1") }
    }

    public func session(_ id: String) throws -> SessionRecord? {
        try database.read { db in try Row.fetchOne(db, sql: "SELECT * FROM sessions WHERE id = ?", arguments: [id]).map(Self.session) }
    }

    static func session(_ r: Row) -> SessionRecord {
        SessionRecord(id: r["id"], identity: r["identity"], login: r["login"], role: r["role"], grantID: r["grant_id"], host: r["host"],
                      client: r["client"], mode: r["mode"], command: r["command"], startedAt: r["started_at"], width: r["width"],
                      height: r["height"])
    }

    public func sessionEnd(_ id: String) throws -> SessionEnd? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM session_ends WHERE session_id = ?", arguments: [id]).map { r in
                SessionEnd(sessionID: r["session_id"], endedAt: r["ended_at"], exitReason: r["exit_reason"], exitStatus: r["exit_status"],
                           chunks: r["chunks"], chainHead: Array(r["chain_head"] as Data),
                           signature: (r["signature"] as Data?).map { Array($0) }, keyID: r["key_id"])
            }
        }
    }

    public func chunks(session id: String, after seq: Int64, limit: Int) throws -> [Chunk] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM chunks WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                             arguments: [id, seq, limit]).map(Self.chunk)
        }
    }

    static func chunk(_ r: Row) -> Chunk {
        var c = Chunk(sessionID: r["session_id"], seq: r["seq"], startedAt: r["started_at"], frames: r["frames"],
                      rawBytes: r["raw_bytes"], data: Array(r["data"] as Data), previousHash: Array(r["prev_hash"] as Data))
        // Keep the stored hash: verification compares it with the recomputed one.
        c.hash = Array(r["hash"] as Data)
        return c
    }

    public func auditEvents(session id: String) throws -> [AuditEvent] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_events WHERE session_id = ? ORDER BY id", arguments: [id]).map(Self.audit)
        }
    }

    static func audit(_ r: Row) -> AuditEvent {
        var e = AuditEvent(read: r["at"], sessionID: r["session_id"], identity: r["identity"], host: r["host"], kind: r["kind"],
                           line: r["line"], decision: r["decision"], rule: r["rule"], reason: r["reason"], data: r["data"])
        e.id = r["id"]
        return e
    }

    /// The lines `identity` ran most recently, oldest first: the line editor's history.
    public func recentLines(identity: String, limit: Int) throws -> [String] {
        try database.read { db in
            try String.fetchAll(db, sql: """
                SELECT line FROM (SELECT id, line FROM audit_events WHERE identity = ? AND kind = \(AuditKind.line.sql) AND line != ''
                                  ORDER BY id DESC LIMIT ?) ORDER BY id
                """, arguments: [identity, limit])
        }
    }

    /// How many events of `kind` `identity` caused since `since` (µs): confirm limits count these.
    public func countAudit(kind: AuditKind, identity: String, since: Int64) throws -> Int {
        try database.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM audit_events WHERE identity = ? AND kind = ? AND at >= ?",
                             arguments: [identity, kind.rawValue, since]) ?? 0
        }
    }

    /// The time (µs) of the oldest `kind` event of `identity` since `since`: when a limit frees up.
    public func oldestAudit(kind: AuditKind, identity: String, since: Int64) throws -> Int64? {
        try database.read { db in
            try Int64.fetchOne(db, sql: "SELECT min(at) FROM audit_events WHERE identity = ? AND kind = ? AND at >= ?",
                               arguments: [identity, kind.rawValue, since])
        }
    }

    /// True when an event of `kind` with this exact `reason` exists (a confirm token already used).
    public func auditExists(kind: AuditKind, reason: String) throws -> Bool {
        try database.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM audit_events WHERE kind = ? AND reason = ?)",
                              arguments: [kind.rawValue, reason]) ?? false
        }
    }
}
