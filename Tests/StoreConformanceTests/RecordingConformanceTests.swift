import Foundation
import Store
import Testing

/// Sessions, chunks, ends, the audit log and full text, the same on every back end.
@Suite(.timeLimit(.minutes(1)))
struct RecordingConformanceTests {
    /// Keyed by session and sequence: a chunk sent again is stored once, whatever order they
    /// came in they read back in order, and a different chunk at a taken place is refused.
    @Test(arguments: Backend.allCases)
    func chunksAreIdempotentAndInOrder(_ backend: Backend) throws {
        let bed = try Bed(backend)
        try bed.store.startSession(Fixture.session("s1"), event: Fixture.event(.sessionStart, session: "s1"))
        let c0 = Fixture.chunk("s1", 0, "zero\r\n", after: Chunk.genesis("s1"))
        let c1 = Fixture.chunk("s1", 1, "one\r\n", after: c0.hash)
        let c2 = Fixture.chunk("s1", 2, "two\r\n", after: c1.hash)
        for c in [c0, c2, c1, c1, c0] { try bed.store.appendChunk(c) }
        #expect(try bed.store.chunks(session: "s1") == [c0, c1, c2])
        #expect(try bed.store.chunks(session: "s1", after: 0, limit: 1) == [c1])
        #expect(try bed.store.chunks(session: "s1", after: 2, limit: 10).isEmpty)
        let forged = Fixture.chunk("s1", 1, "not what was shown\r\n", after: c0.hash)
        #expect(storeError { try bed.store.appendChunk(forged) } == .conflict)
        #expect(try bed.store.chunks(session: "s1") == [c0, c1, c2])
        #expect(storeError { try bed.store.appendChunk(Fixture.chunk("nobody", 0, "x", after: [])) } == .conflict)
    }

    @Test(arguments: Backend.allCases)
    func aSessionEndsOnce(_ backend: Backend) throws {
        let bed = try Bed(backend)
        let chunks = try Fixture.record(bed.store, "s2", ["a\r\n", "b\r\n"])
        #expect(try bed.store.session("s2") == Fixture.session("s2"))
        #expect(try bed.store.sessionEnd("s2") == nil)
        let end = SessionEnd(sessionID: "s2", endedAt: Fixture.start + 5_000_000, exitReason: "exit", exitStatus: 0, chunks: 2,
                             chainHead: chunks[1].hash, signature: Array(repeating: 7, count: 64), keyID: "k1")
        try bed.store.endSession(end, event: Fixture.event(.sessionEnd, session: "s2", at: end.endedAt))
        #expect(try bed.store.sessionEnd("s2") == end)
        #expect(storeError { try bed.store.endSession(end, event: Fixture.event(.sessionEnd, session: "s2")) } == .conflict)
        #expect(try bed.store.auditEvents(session: "s2").map(\.kind) == ["session-start", "session-end"])
        let unsigned = SessionEnd(sessionID: "s3", endedAt: Fixture.start, exitReason: "recording-failed", exitStatus: nil, chunks: 0,
                                  chainHead: Chunk.genesis("s3"))
        try bed.store.startSession(Fixture.session("s3"), event: Fixture.event(.sessionStart, session: "s3"))
        try bed.store.endSession(unsigned, event: Fixture.event(.sessionEnd, session: "s3"))
        #expect(try bed.store.sessionEnd("s3") == unsigned)
    }

    /// The questions a session asks of its audit trail: history, confirm limits, used tokens.
    @Test(arguments: Backend.allCases)
    func theAuditLogAnswersASessionsQuestions(_ backend: Backend) throws {
        let bed = try Bed(backend)
        try Fixture.record(bed.store, "s4", [])
        let t = Fixture.start
        try bed.store.appendAudit([
            Fixture.event(.line, session: "s4", at: t + 1, line: "ls"),
            Fixture.event(.line, session: "s4", at: t + 2, line: "df -h"),
            Fixture.event(.line, session: "s4", identity: "bob", at: t + 3, line: "whoami"),
            Fixture.event(.confirmed, session: "s4", at: t + 4, reason: "token-1"),
            Fixture.event(.confirmed, session: "s4", at: t + 9, reason: "token-2"),
        ])
        try bed.store.appendAudit([Fixture.event(.guard, session: "s4", at: t + 10)],
                                  alert: Notification(event: "alert", text: "jitsh alert", fields: [:]))
        #expect(try bed.store.recentLines(identity: "alice", limit: 1) == ["df -h"])
        #expect(try bed.store.recentLines(identity: "alice", limit: 10) == ["ls", "df -h"])
        #expect(try bed.store.countAudit(kind: .confirmed, identity: "alice", since: t + 5) == 1)
        #expect(try bed.store.oldestAudit(kind: .confirmed, identity: "alice", since: t) == t + 4)
        #expect(try bed.store.oldestAudit(kind: .confirmed, identity: "alice", since: t + 10) == nil)
        #expect(try bed.store.auditExists(kind: .confirmed, reason: "token-2"))
        #expect(try !bed.store.auditExists(kind: .confirmed, reason: "token-3"))
        let events = try bed.store.auditEvents(session: "s4")
        #expect(events.map(\.kind) == ["session-start", "line", "line", "line", "confirmed", "confirmed", "guard"])
        #expect(events.map(\.id) == events.map(\.id).sorted() && Set(events.map(\.id)).count == events.count)
        // Due from the event that raised it, in the store's one unit.
        #expect(try bed.store.dueNotifications(now: t + 9, limit: 10).isEmpty)
        #expect(try bed.store.dueNotifications(now: t + 10, limit: 10).map(\.event) == ["alert"])
    }

    /// Append-only by the database itself: jitsh's own role, past jitsh, cannot change history.
    @Test(arguments: Backend.databases)
    func historyCannotBeChangedPastJitsh(_ backend: Backend) throws {
        let bed = try Bed(backend)
        try Fixture.record(bed.store, "s5", ["secret shown\r\n"])
        let g = try bed.store.insertGrant(Fixture.grant(), notifications: [])
        for sql in ["UPDATE audit_events SET identity = 'mallory'", "DELETE FROM audit_events",
                    "UPDATE chunks SET data = data WHERE session_id = 's5'", "DELETE FROM grant_events",
                    "UPDATE grants SET identity = 'mallory' WHERE id = \(g.id)", "DELETE FROM sessions"] {
            let (ok, output) = try bed.raw(sql)
            #expect(!ok, "\(backend): \(sql) was taken")
            #expect(output.contains("append-only"), "\(backend): \(sql): \(output)")
        }
        #expect(try bed.store.auditEvents(session: "s5").map(\.identity) == ["alice"])
        #expect(try bed.store.grant(g.id)?.identity == "alice")
        #expect(try bed.store.chunks(session: "s5").count == 1)
    }

    /// `--text` as people type it (ReviewTests' table, less FTS5's own NEAR): each back end's
    /// engine gives the same hits.
    static let textQueries: [(String, Int)] = [
        ("rm -rf", 1), ("rm -rf /tmp/x", 1), ("-rf", 1), ("/tmp/x", 1), ("rm -r*", 1), ("need*", 2), ("NEED*", 2),
        ("\"rm -rf\"", 1), ("\"rf rm\"", 0), ("rm OR needle1", 2), ("rm AND needle1", 0), ("needle1 NOT rm", 1),
        ("(rm OR needle2) NOT tmp", 1), ("x:y", 0), ("C:\\", 0), ("café", 1), ("--", 0),
    ]

    @Test(arguments: Backend.allCases)
    func fullTextFindsWhatWasShown(_ backend: Backend) throws {
        let bed = try Bed(backend)
        try Fixture.record(bed.store, "s6", ["$ rm -rf /tmp/x\r\n", "chunk 1 says needle1\r\n", "chunk 2 says needle2 at the Cafe\r\n"])
        #expect(try bed.store.indexRecordings(batch: 2, transactionMicroseconds: 0) == 3)
        #expect(try bed.store.indexRecordings(batch: 2, transactionMicroseconds: 0) == 0)
        for (text, expected) in Self.textQueries {
            #expect(try bed.store.searchRecordings(text, limit: 100, newestFirst: false).count == expected, "\(backend): \(text)")
        }
        let hits = try bed.store.searchRecordings("needle*", limit: 100, newestFirst: true)
        #expect(hits.map(\.seq) == [2, 1])
        #expect(hits.first?.offset == 2_000_000)
        #expect(hits.first?.snippet.contains("[needle2]") == true, "\(hits)")
        #expect(try bed.store.searchRecordings("needle*", limit: 1, newestFirst: false).map(\.seq) == [1])
        for text in ["NOT rm", "\"rm -rf", "rm AND", "(rm"] {
            let error = #expect(throws: FullTextQuery.SyntaxError.self, "\(backend): \(text)") {
                try bed.store.searchRecordings(text, limit: 10, newestFirst: false)
            }
            #expect(error?.text == text)
        }
    }
}

/// The kind of store failure `body` threw; nil when it threw none or another error.
func storeError(_ body: () throws -> Void) -> StoreError.Kind? {
    do {
        try body()
        return nil
    } catch let e as StoreError {
        return e.kind
    } catch {
        return nil
    }
}
