import Foundation
import PostgresStore
import Store
import Testing
import TestSupport

/// What every back end implements and the suite checks.
typealias ConformingStore = Store & ReviewStore

enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, memory, postgresql

    var testDescription: String { rawValue }

    /// The back ends whose database refuses changes by itself (the memory store has no way to
    /// change a row, so there is nothing to refuse).
    static let databases: [Backend] = [.sqlite, .postgresql]
}

/// One back end's store for one test: a new SQLite file, a new memory store, or a new database
/// in the private PostgreSQL. Removed when the test ends.
final class Bed {
    let backend: Backend
    let store: any ConformingStore
    let sqlitePath: String?
    let database: String?

    init(_ backend: Backend) throws {
        self.backend = backend
        switch backend {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-conformance-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            sqlitePath = dir + "/jitsh.db"
            database = nil
            store = try SQLiteStore(path: dir + "/jitsh.db", create: true)
        case .memory:
            sqlitePath = nil
            database = nil
            store = MemoryStore()
        case .postgresql:
            let pg = try PrivatePostgres.server()
            let name = try pg.database()
            sqlitePath = nil
            database = name
            store = try PostgresStore(pg.settings(database: name), migrate: true)
        }
    }

    deinit {
        if let sqlitePath { try? FileManager.default.removeItem(atPath: (sqlitePath as NSString).deletingLastPathComponent) }
    }

    /// Another store on the same data, as another process or host opens it (the memory store
    /// has no other process: itself).
    func another() throws -> any ConformingStore {
        switch backend {
        case .sqlite: return try SQLiteStore(path: sqlitePath!)
        case .memory: return store
        case .postgresql: return try PostgresStore(try PrivatePostgres.server().settings(database: database!))
        }
    }

    /// SQL run past jitsh with the database's own client, as its owner: whether the database
    /// took it, and what it said.
    func raw(_ sql: String) throws -> (ok: Bool, output: String) {
        switch backend {
        case .sqlite:
            let script = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute(sys.argv[2])\nc.commit()\n"
            let (status, output) = try PrivatePostgres.execute("/usr/bin/python3", ["-c", script, sqlitePath!, sql], timeout: 30)
            return (status == 0, output)
        case .postgresql:
            let (status, output) = try PrivatePostgres.server().run(sql, database: database!)
            return (status == 0, output)
        case .memory:
            Issue.record("the memory store has no SQL")
            return (false, "")
        }
    }

    func scalar(_ sql: String) throws -> String {
        let (ok, output) = try raw(sql)
        guard ok else { throw PrivatePostgres.Failure(description: "\(sql): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Recordings and grants as the suite writes them.
enum Fixture {
    static let start: Int64 = 1_767_614_400_000_000

    static func session(_ id: String, identity: String = "alice") -> SessionRecord {
        SessionRecord(id: id, identity: identity, login: identity, role: "operator", grantID: nil, host: "prod-1", client: "10.0.0.1",
                      mode: "interactive", command: "", startedAt: start)
    }

    static func event(_ kind: AuditKind, session: String?, identity: String = "alice", at: Int64 = start, line: String = "",
                      reason: String = "") -> AuditEvent {
        AuditEvent(at: at, sessionID: session, identity: identity, host: "prod-1", kind: kind, line: line,
                   decision: kind == .line ? .allow : .none, reason: reason)
    }

    /// Chunk `seq` of a session showing `text`, chained to `previous`.
    static func chunk(_ id: String, _ seq: Int64, _ text: String, after previous: [UInt8]) -> Chunk {
        var raw: [UInt8] = []
        FrameCodec.encode(Frame(.output, offset: UInt64(seq) * 1_000_000, data: Array(text.utf8)), into: &raw)
        return Chunk(sessionID: id, seq: seq, startedAt: start + seq * 1_000_000, frames: 1, rawBytes: raw.count,
                     data: Deflate.compress(raw), previousHash: previous)
    }

    /// A started session whose chunks show `texts`, one chunk each; returns the chunks.
    @discardableResult
    static func record(_ store: any ConformingStore, _ id: String, _ texts: [String]) throws -> [Chunk] {
        try store.startSession(session(id), event: event(.sessionStart, session: id))
        var head = Chunk.genesis(id)
        var chunks: [Chunk] = []
        for (k, text) in texts.enumerated() {
            let c = chunk(id, Int64(k), text, after: head)
            try store.appendChunk(c)
            head = c.hash
            chunks.append(c)
        }
        return chunks
    }

    static func grant(identity: String = "alice", approvals: Int = 1) -> Grant {
        Grant(identity: identity, role: "operator", contract: "one", hostPattern: "prod-*", reason: "INC-1 disk full",
              requestedAt: 1_767_614_400, startsAt: 1_767_614_400, duration: 3600, approvalsNeeded: approvals, maxDuration: 14400,
              pendingTTL: 3600, events: [GrantEvent(.requested, actor: identity, at: 1_767_614_400, comment: "INC-1 disk full")])
    }
}

/// Microseconds in a second: the store counts every time in microseconds.
let sec: Int64 = 1_000_000
