import Foundation
import GRDB
import Session
import Testing
@testable import Store

/// A store that cannot be trusted or used makes jitsh refuse, naming the cause.
struct StoreFailureTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-fail-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func kind(_ body: () throws -> Void) -> StoreError.Kind? {
        do { try body(); return nil } catch let e as StoreError { return e.kind } catch { return .other }
    }

    @Test func aMissingStoreIsNotCreatedBehindTheOperatorsBack() {
        let path = directory.appendingPathComponent("nope.db").path
        #expect(kind { _ = try SQLiteStore(path: path) } == .missing)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// A store unlinked or replaced under a session: the next chunk fails, naming the cause.
    @Test func aStoreRemovedOrReplacedInUseIsNoticedAtTheNextChunk() throws {
        func chunk(_ id: String, _ seq: Int64, after previous: [UInt8]) -> Chunk {
            let raw = Array("chunk \(seq)".utf8)
            return Chunk(sessionID: id, seq: seq, startedAt: 1, frames: 1, rawBytes: raw.count, data: Deflate.compress(raw), previousHash: previous)
        }
        for replaced in [false, true] {
            let path = directory.appendingPathComponent("in-use-\(replaced).db").path
            let store = try SQLiteStore(path: path, create: true)
            try store.startSession(SessionRecord(id: "s", identity: "a", login: "a", role: "r", grantID: nil, host: "h", client: "c",
                                                 mode: "exec", command: "", startedAt: 1),
                                   event: AuditEvent(at: 1, sessionID: "s", identity: "a", host: "h", kind: .sessionStart))
            let first = chunk("s", 0, after: Chunk.genesis("s"))
            try store.appendChunk(first)
            try FileManager.default.moveItem(atPath: path, toPath: path + ".moved")
            if replaced { _ = try SQLiteStore(path: path, create: true) }
            #expect(kind { try store.appendChunk(chunk("s", 1, after: first.hash)) } == (replaced ? .conflict : .missing))
        }
    }

    @Test func aCorruptStoreIsRefused() throws {
        let path = directory.appendingPathComponent("corrupt.db").path
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect(kind { _ = try SQLiteStore(path: path) } == .corrupt)
    }

    @Test func aStoreLockedPastTheTimeoutIsRefusedNotWaitedOnForever() throws {
        let path = directory.appendingPathComponent("locked.db").path
        let store = try SQLiteStore(path: path, create: true)
        _ = store
        let slow = try SQLiteStore(path: path, busyTimeout: 0.2)
        let holder = try DatabaseQueue(path: path)
        try holder.inTransaction(.exclusive) { _ in
            #expect(kind { _ = try slow.insertGrant(Grant(identity: "a", role: "r", contract: "c", hostPattern: "h", reason: "",
                                                          requestedAt: 0, startsAt: 0, duration: 1, approvalsNeeded: 0, maxDuration: 1,
                                                          pendingTTL: 1), notifications: []) } == .locked)
            return .rollback
        }
    }

    /// As a user without write access (what a wrong group or mode looks like), through the binary.
    @Test func aStoreTheUserCannotWriteIsRefusedWithTheCause() throws {
        let path = directory.appendingPathComponent("ro.db").path
        _ = try SQLiteStore(path: path, create: true)
        chmod(directory.path, 0o755)
        chmod(path, 0o644)
        let config = directory.appendingPathComponent("jitsh.yaml")
        try "store: \(path)\npolicies: \(Binary.repository.appendingPathComponent("policies").path)\n".write(to: config, atomically: true, encoding: .utf8)
        chmod(config.path, 0o644)
        let r = try Binary.run(["grant", "request", "--config", config.path, "--role", "readonly", "--reason", "INC-1"], as: "65534")
        #expect(r.status == 3, "\(r)")
        #expect(r.error.contains("read-only") || r.error.contains("no permission") || r.error.contains("cannot open"), "\(r.error)")
    }
}

/// The outbox reaches a real HTTP server on loopback; a server that is down only delays delivery.
struct OutboxTests {
    @Test func notificationsArePostedAndFailuresRetriedLater() throws {
        let t = try TemporaryStore()
        let server = try HookServer()
        defer { server.stop() }
        let service = t.service()
        _ = try service.request(.init(role: "readonly", reason: "INC-7 db"), by: TestPolicy.person("alice"), now: TestPolicy.monday)
        let report = Outbox(store: t.store, webhook: "http://127.0.0.1:\(server.port)/hook").deliver(now: TestPolicy.monday, budget: 5)
        #expect(report.delivered == 2 && report.failed == 0, "\(report)")
        let bodies = server.bodies()
        #expect(bodies.count == 2)
        #expect(bodies.first?.contains("\"text\":\"alice requested readonly on prod-1 for 30m: INC-7 db\"") == true, "\(bodies)")

        _ = try service.request(.init(role: "readonly", reason: "INC-8"), by: TestPolicy.person("bob"), now: TestPolicy.monday)
        let down = Outbox(store: t.store, webhook: "http://127.0.0.1:9/hook").deliver(now: TestPolicy.monday, budget: 2)
        #expect(down.delivered == 0 && down.failed == 2)
        #expect(try t.store.dueNotifications(now: TestPolicy.monday, limit: 10).isEmpty)
        #expect(try t.store.dueNotifications(now: TestPolicy.monday + 30 * second, limit: 10).count == 2)
    }
}

/// A webhook receiver: python3's http.server on a free loopback port, keeping what it is sent.
final class HookServer {
    let process = Process()
    let port: Int
    let log: URL

    init() throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("hook-\(UUID().uuidString).log")
        let script = """
            import http.server, sys
            log = open(sys.argv[1], 'ab', buffering=0)
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                    log.write(body + b'\\n')
                    self.send_response(200); self.end_headers(); self.wfile.write(b'ok')
                def log_message(self, *a): pass
            s = http.server.HTTPServer(('127.0.0.1', 0), H)
            open(sys.argv[2], 'w').write(str(s.server_address[1]))
            s.serve_forever()
            """
        let portFile = log.path + ".port"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, log.path, portFile]
        try process.run()
        var found: Int?
        for _ in 0..<100 where found == nil {
            found = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0) }
            if found == nil { usleep(50_000) }
        }
        guard let found else { throw GrantRefusal("the hook server did not start") }
        port = found
    }

    func bodies() -> [String] {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func stop() {
        // SIGKILL: a child of Foundation's Process inherits a signal mask that blocks SIGTERM.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: log)
    }
}
