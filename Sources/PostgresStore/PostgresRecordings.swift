import NIOCore
import PostgresNIO
import Store

extension PostgresStore {
    // MARK: Audit

    public func appendAudit(_ events: [AuditEvent]) throws { try appendAudit(events, alert: nil) }

    public func appendAudit(_ events: [AuditEvent], alert: Notification?) throws {
        guard !events.isEmpty || alert != nil else { return }
        try connections.transaction { link in
            for e in events { try insert(e, link) }
            // Outbox times are seconds, audit times microseconds: the alert is due at once.
            if let alert { try enqueue(alert, grant: nil, at: events.first?.at ?? 0, link) }
        }
    }

    func insert(_ e: AuditEvent, _ link: Link) throws {
        try link.query("""
            INSERT INTO audit_events (at, session_id, identity, host, kind, line, decision, rule, reason, data)
            VALUES (\(e.at), \(e.sessionID), \(e.identity), \(e.host), \(e.kind), \(e.line), \(e.decision), \(e.rule), \(e.reason), \(e.data))
            """)
    }

    public func auditEvents(session id: String) throws -> [AuditEvent] {
        try connections.with { link in
            try link.query("SELECT \(unescaped: Self.auditColumns) FROM audit_events a WHERE a.session_id = \(id) ORDER BY a.id").map(Self.auditEvent)
        }
    }

    public func recentLines(identity: String, limit: Int) throws -> [String] {
        try connections.with { link in
            try link.query("""
                SELECT line FROM (SELECT id, line FROM audit_events WHERE identity = \(identity) AND kind = \(AuditKind.line.rawValue) AND line <> ''
                                  ORDER BY id DESC LIMIT \(Int64(max(0, limit)))) recent ORDER BY id
                """).map { try $0[0].decode(String.self) }
        }
    }

    public func countAudit(kind: AuditKind, identity: String, since: Int64) throws -> Int {
        try connections.with { link in
            let rows = try link.query("SELECT count(*)::bigint FROM audit_events WHERE identity = \(identity) AND kind = \(kind.rawValue) AND at >= \(since)")
            return Int(try Schema.decode(Int64.self, rows.first, 0))
        }
    }

    public func oldestAudit(kind: AuditKind, identity: String, since: Int64) throws -> Int64? {
        try connections.with { link in
            let rows = try link.query("SELECT min(at) FROM audit_events WHERE identity = \(identity) AND kind = \(kind.rawValue) AND at >= \(since)")
            return try Schema.decode(Int64?.self, rows.first, 0)
        }
    }

    public func auditExists(kind: AuditKind, reason: String) throws -> Bool {
        try connections.with { link in
            let rows = try link.query("SELECT EXISTS (SELECT 1 FROM audit_events WHERE kind = \(kind.rawValue) AND reason = \(reason))")
            return try Schema.decode(Bool.self, rows.first, 0)
        }
    }

    // MARK: Recording

    public func startSession(_ s: SessionRecord, event: AuditEvent) throws {
        try connections.transaction { link in
            try link.query("""
                INSERT INTO sessions (id, identity, login, role, grant_id, host, client, mode, command, started_at, width, height)
                VALUES (\(s.id), \(s.identity), \(s.login), \(s.role), \(s.grantID), \(s.host), \(s.client), \(s.mode), \(s.command),
                        \(s.startedAt), \(Int64(s.width)), \(Int64(s.height)))
                """)
            try insert(event, link)
        }
    }

    /// A chunk sent again (a retry, a shipper restarted) is stored once; another chunk at a
    /// taken place is refused, as by the SQLite store.
    public func appendChunk(_ c: Chunk) throws {
        try connections.with { link in
            let inserted = try link.query("""
                INSERT INTO chunks (session_id, seq, started_at, frames, raw_bytes, data, prev_hash, hash)
                VALUES (\(c.sessionID), \(c.seq), \(c.startedAt), \(Int64(c.frames)), \(Int64(c.rawBytes)), \(ByteBuffer(bytes: c.data)),
                        \(ByteBuffer(bytes: c.previousHash)), \(ByteBuffer(bytes: c.hash)))
                ON CONFLICT (session_id, seq) DO NOTHING RETURNING seq
                """)
            guard inserted.isEmpty else { return }
            let stored = try link.query("SELECT hash FROM chunks WHERE session_id = \(c.sessionID) AND seq = \(c.seq)")
            guard try Self.bytes(stored.first, 0) == c.hash else { throw ChunkConflict(sessionID: c.sessionID, seq: c.seq).error }
        }
    }

    public func endSession(_ e: SessionEnd, event: AuditEvent) throws {
        try connections.transaction { link in
            try link.query("""
                INSERT INTO session_ends (session_id, ended_at, exit_reason, exit_status, chunks, chain_head, signature, key_id)
                VALUES (\(e.sessionID), \(e.endedAt), \(e.exitReason), \(e.exitStatus.map(Int64.init)), \(e.chunks),
                        \(ByteBuffer(bytes: e.chainHead)), \(e.signature.map { ByteBuffer(bytes: $0) }), \(e.keyID))
                """)
            try insert(event, link)
        }
    }

    public func session(_ id: String) throws -> SessionRecord? {
        try connections.with { link in
            try link.query("""
                SELECT id, identity, login, role, grant_id, host, client, mode, command, started_at, width, height FROM sessions
                WHERE id = \(id)
                """).first.map { r in
                try SessionRecord(id: r[0].decode(String.self), identity: r[1].decode(String.self), login: r[2].decode(String.self),
                                  role: r[3].decode(String.self), grantID: r[4].decode(Int64?.self), host: r[5].decode(String.self),
                                  client: r[6].decode(String.self), mode: r[7].decode(String.self), command: r[8].decode(String.self),
                                  startedAt: r[9].decode(Int64.self), width: Int(r[10].decode(Int64.self)), height: Int(r[11].decode(Int64.self)))
            }
        }
    }

    public func sessionEnd(_ id: String) throws -> SessionEnd? {
        try connections.with { link in
            try link.query("""
                SELECT session_id, ended_at, exit_reason, exit_status, chunks, chain_head, signature, key_id FROM session_ends
                WHERE session_id = \(id)
                """).first.map { r in
                try SessionEnd(sessionID: r[0].decode(String.self), endedAt: r[1].decode(Int64.self), exitReason: r[2].decode(String.self),
                               exitStatus: r[3].decode(Int64?.self).map(Int.init), chunks: r[4].decode(Int64.self), chainHead: Self.bytes(r, 5),
                               signature: r[6].decode(ByteBuffer?.self).map { Array($0.readableBytesView) }, keyID: r[7].decode(String.self))
            }
        }
    }

    public func chunks(session id: String, after seq: Int64, limit: Int) throws -> [Chunk] {
        try connections.with { link in
            let bound = limit < 0 ? "" : "LIMIT \(limit)"
            return try link.query("""
                SELECT session_id, seq, started_at, frames, raw_bytes, data, prev_hash, hash FROM chunks
                WHERE session_id = \(id) AND seq > \(seq) ORDER BY seq \(unescaped: bound)
                """).map { r in
                var c = try Chunk(sessionID: r[0].decode(String.self), seq: r[1].decode(Int64.self), startedAt: r[2].decode(Int64.self),
                                  frames: Int(r[3].decode(Int64.self)), rawBytes: Int(r[4].decode(Int64.self)), data: Self.bytes(r, 5),
                                  previousHash: Self.bytes(r, 6))
                // The stored hash: verification compares it with the recomputed one.
                c.hash = try Self.bytes(r, 7)
                return c
            }
        }
    }

    static func bytes(_ row: PostgresRandomAccessRow?, _ column: Int) throws -> [UInt8] {
        Array(try Schema.decode(ByteBuffer.self, row, column).readableBytesView)
    }

    // MARK: Full text

    /// Indexes the chunks not indexed yet, in batches: each rendered outside any transaction,
    /// then inserted (a chunk indexed twice by two indexers at once is kept once). A host's role
    /// indexes its own sessions (its sync does, as they arrive); the owner indexes every host's.
    @discardableResult
    public func indexRecordings(batch: Int = 200, transactionMicroseconds: Int64 = 50_000) throws -> Int {
        var total = 0
        while true {
            let pending: [Chunk] = try connections.with { link in
                try link.query("""
                    SELECT c.session_id, c.seq, c.started_at, c.frames, c.raw_bytes, c.data FROM chunks c
                    WHERE NOT EXISTS (SELECT 1 FROM recording_text r WHERE r.session_id = c.session_id AND r.seq = c.seq)
                      AND (jitsh_host() IS NULL OR c.session_id IN (SELECT id FROM sessions WHERE host = jitsh_host()))
                    ORDER BY c.session_id, c.seq LIMIT \(Int64(max(1, batch)))
                    """).map { r in
                    try Chunk(sessionID: r[0].decode(String.self), seq: r[1].decode(Int64.self), startedAt: r[2].decode(Int64.self),
                              frames: Int(r[3].decode(Int64.self)), rawBytes: Int(r[4].decode(Int64.self)), data: Self.bytes(r, 5),
                              previousHash: [])
                }
            }
            if pending.isEmpty { return total }
            let rows = pending.map { c in (chunk: c, text: Transcript.searchableText(c.decodedFrames() ?? [])) }
            try connections.transaction { link in
                for (c, text) in rows {
                    try link.query("""
                        INSERT INTO recording_text (session_id, seq, at, body, document)
                        VALUES (\(c.sessionID), \(c.seq), \(c.startedAt), \(text), \(FullTextDocument.tsvector(text))::tsvector)
                        ON CONFLICT (session_id, seq) DO NOTHING
                        """)
                }
            }
            total += pending.count
        }
    }

    public func searchRecordings(_ text: String, limit: Int, newestFirst: Bool) throws -> [TextHit] {
        let query = try TextQuery.parse(text)
        let order = newestFirst ? "DESC" : "ASC"
        return try connections.with { link in
            try link.query("""
                SELECT r.session_id, r.seq, r.at - s.started_at, r.body FROM recording_text r JOIN sessions s ON s.id = r.session_id
                WHERE r.document @@ \(FullTextDocument.tsquery(query))::tsquery
                ORDER BY r.at \(unescaped: order), r.session_id, r.seq LIMIT \(Int64(max(0, limit)))
                """).map { r in
                try TextHit(sessionID: r[0].decode(String.self), seq: r[1].decode(Int64.self), offset: r[2].decode(Int64.self),
                            snippet: query.snippet(r[3].decode(String.self)))
            }
        }
    }
}

/// PostgreSQL's text search over jitsh's own tokens: the document is written as a tsvector
/// literal (each token and its positions), the query as a tsquery literal, so neither goes
/// through a dictionary and every back end agrees on what matches.
enum FullTextDocument {
    /// PostgreSQL keeps positions up to 16383 and lexemes shorter than 2 KiB.
    static let lastPosition = 16383
    static let longestLexeme = 2046

    static func tsvector(_ text: String) -> String {
        var positions: [String: [Int]] = [:]
        var order: [String] = []
        for (k, token) in TextQuery.tokens(text).enumerated() where token.utf8.count <= longestLexeme {
            if positions[token] == nil { order.append(token) }
            positions[token, default: []].append(min(k + 1, lastPosition))
        }
        return order.map { t in "'\(t)':" + positions[t]!.map(String.init).joined(separator: ",") }.joined(separator: " ")
    }

    /// Tokens are letters and digits only, so they need no escaping inside the quotes.
    static func tsquery(_ q: TextQuery) -> String {
        switch q {
        case .phrase(let words, let prefix):
            // A phrase of no tokens matches nothing, as in FTS5: no document holds the lexeme "-".
            guard !words.isEmpty else { return "'-'" }
            return "(" + words.enumerated().map { k, w in "'\(w)'" + (prefix && k == words.count - 1 ? ":*" : "") }.joined(separator: " <-> ") + ")"
        case .and(let a, let b): return "(\(tsquery(a)) & \(tsquery(b)))"
        case .or(let a, let b): return "(\(tsquery(a)) | \(tsquery(b)))"
        case .not(let a, let b): return "(\(tsquery(a)) & !\(tsquery(b)))"
        }
    }
}
