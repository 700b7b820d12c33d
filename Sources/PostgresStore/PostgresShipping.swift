import Foundation
import NIOCore
import Policy
import PostgresNIO
import Store

/// The central store's side of fleet shipping and of every host's grant view.
extension PostgresStore: ShipmentSink {
    /// One transaction per shipment; every row keyed so that a resend changes nothing: the
    /// session by id (and it must be this host's), chunks by session and sequence (the same
    /// hash, or a conflict), events by host and spool id, the end by session.
    public func receive(_ s: Shipment) throws {
        try connections.transaction { link in
            func refuse(_ why: String) -> StoreError { StoreError(.conflict, "the central store refused session \(s.sessionID ?? "-") of \(s.host): \(why)") }
            if let r = s.session {
                guard r.host == s.host else { throw refuse("its row names host \(r.host)") }
                try link.query("""
                    INSERT INTO sessions (id, identity, login, role, grant_id, host, client, mode, command, started_at, width, height)
                    VALUES (\(r.id), \(r.identity), \(r.login), \(r.role), \(r.grantID), \(r.host), \(r.client), \(r.mode), \(r.command),
                            \(r.startedAt), \(Int64(r.width)), \(Int64(r.height)))
                    ON CONFLICT (id) DO NOTHING
                    """)
            }
            if let id = s.sessionID, s.session != nil || !s.chunks.isEmpty || !s.images.isEmpty || s.end != nil {
                let owner = try link.query("SELECT host FROM sessions WHERE id = \(id)")
                guard let row = owner.first else { throw refuse("its session row was never shipped") }
                let host = try Schema.decode(String.self, row, 0)
                guard host == s.host else { throw refuse("the central store holds it as a session of host \(host)") }
            }
            for c in s.chunks {
                let inserted = try link.query("""
                    INSERT INTO chunks (session_id, seq, started_at, frames, raw_bytes, data, prev_hash, hash)
                    VALUES (\(c.sessionID), \(c.seq), \(c.startedAt), \(Int64(c.frames)), \(Int64(c.rawBytes)), \(ByteBuffer(bytes: c.data)),
                            \(ByteBuffer(bytes: c.previousHash)), \(ByteBuffer(bytes: c.hash)))
                    ON CONFLICT (session_id, seq) DO NOTHING RETURNING seq
                    """)
                if inserted.isEmpty {
                    let stored = try link.query("SELECT hash FROM chunks WHERE session_id = \(c.sessionID) AND seq = \(c.seq)")
                    guard try Self.bytes(stored.first, 0) == c.hash else { throw ChunkConflict(sessionID: c.sessionID, seq: c.seq).error }
                }
            }
            for e in s.events {
                guard e.host == s.host else { throw refuse("event \(e.id) names host \(e.host)") }
                try link.query("""
                    INSERT INTO audit_events (at, session_id, identity, host, kind, line, decision, rule, reason, data, origin_host, origin_id)
                    VALUES (\(e.at), \(e.sessionID), \(e.identity), \(e.host), \(e.kind), \(e.line), \(e.decision), \(e.rule), \(e.reason),
                            \(e.data), \(s.host), \(e.id))
                    ON CONFLICT (origin_host, origin_id) DO NOTHING
                    """)
            }
            try Self.receive(images: s.images, contents: s.contents, link)
            if let e = s.end {
                let inserted = try link.query("""
                    INSERT INTO session_ends (session_id, ended_at, exit_reason, exit_status, chunks, chain_head, signature, key_id)
                    VALUES (\(e.sessionID), \(e.endedAt), \(e.exitReason), \(e.exitStatus.map(Int64.init)), \(e.chunks),
                            \(ByteBuffer(bytes: e.chainHead)), \(e.signature.map { ByteBuffer(bytes: $0) }), \(e.keyID))
                    ON CONFLICT (session_id) DO NOTHING RETURNING session_id
                    """)
                if inserted.isEmpty {
                    let stored = try link.query("SELECT chain_head FROM session_ends WHERE session_id = \(e.sessionID)")
                    guard try Self.bytes(stored.first, 0) == e.chainHead else { throw refuse("its end is stored with another chain head") }
                }
            }
        }
    }

    /// The grants a host may still need (live, pending, or changed within the last day; `now`
    /// in seconds) with their events, and the locks on the given sessions: one host's view.
    public func grantView(now: Int64, sessions: [String]) throws -> (grants: [Grant], locks: [SessionLock]) {
        try connections.transaction { link in
            // One snapshot for both reads: a grant and its events are seen as of one moment.
            try link.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            let since = now - 86_400 * Duration.second
            var grants = try link.query("""
                SELECT \(unescaped: Self.grantColumns) FROM grants
                WHERE starts_at + greatest(duration, max_duration) >= \(since) OR requested_at + pending_ttl >= \(since)
                   OR id IN (SELECT grant_id FROM grant_events WHERE at >= \(since))
                ORDER BY id
                """).map(Self.grant)
            let events = try self.events(link, grants: grants.map(\.id))
            for k in grants.indices { grants[k].events = events[grants[k].id] ?? [] }
            let locks = sessions.isEmpty ? [] : try link.query("""
                SELECT session_id, actor, reason, at FROM session_locks WHERE session_id = ANY(\(sessions))
                """).map { r in
                try SessionLock(sessionID: r[0].decode(String.self), actor: r[1].decode(String.self), reason: r[2].decode(String.self),
                                at: r[3].decode(Int64.self))
            }
            return (grants, locks)
        }
    }

    /// Opens a connection that listens for grant and lock changes (LISTEN/NOTIFY).
    public func grantChanges() throws -> GrantChanges {
        try GrantChanges(connections)
    }
}

/// A connection of its own that LISTENs for grant and lock inserts anywhere in the fleet; the
/// sync waits on it between polls, so a change is mirrored within a round trip, not a poll.
public final class GrantChanges: @unchecked Sendable {
    // `pending` is guarded by `signal`'s lock; the connection is only closed once.
    private let signal = NSCondition()
    private var pending = false
    private let connection: PostgresConnection
    private let connections: Connections

    init(_ connections: Connections) throws {
        self.connections = connections
        connection = try connections.connect(id: 1_000_000)
        connection.addListener(channel: Schema.grantChannel) { [weak self] _, _ in self?.announce() }
        do {
            _ = try connections.wait(connection.query(PostgresQuery(unsafeSQL: "LISTEN \(Schema.grantChannel)"), logger: connections.logger),
                                     "listening")
        } catch {
            close()
            throw error
        }
    }

    private func announce() {
        signal.lock()
        pending = true
        signal.broadcast()
        signal.unlock()
    }

    /// False once the connection is gone (the database restarted): open a new one.
    public var isOpen: Bool { !connection.isClosed }

    /// Waits up to `timeout` for a change; true when one was announced (and clears it).
    public func wait(timeout: TimeInterval) -> Bool {
        signal.lock()
        defer { signal.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while !pending && !connection.isClosed {
            if !signal.wait(until: min(deadline, Date().addingTimeInterval(0.25))) && Date() >= deadline { break }
        }
        let was = pending
        pending = false
        return was
    }

    public func close() {
        let closed: EventLoopFuture<Void> = connection.close()
        _ = try? connections.wait(closed, "closing")
    }

    deinit { if !connection.isClosed { close() } }
}
