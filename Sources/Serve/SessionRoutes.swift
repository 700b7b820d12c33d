import Foundation
import Hummingbird
import NIOCore
import Policy
import Session
import Store

/// Recordings: the list with filters and paging, a session's page with its player, the
/// recording streamed chunk by chunk, downloads, and full-text search. Reviewers only.
extension WebApp {
    static let pageSize = 50

    func sessionRoutes(_ router: Router<WebContext>) {
        router.get("/sessions") { request, context in try self.list(request, client: context.client, live: false) }
        router.get("/live") { request, context in try self.list(request, client: context.client, live: true) }
        router.get("/sessions/:id") { request, context in try self.sessionPage(request, context) }
        router.get("/sessions/:id/recording") { request, context in try self.recording(request, context) }
        router.get("/sessions/:id/export.cast") { request, context in try self.export(request, context, asciicast: true) }
        router.get("/sessions/:id/export.txt") { request, context in try self.export(request, context, asciicast: false) }
        router.get("/search") { request, context in try self.search(request, client: context.client) }
    }

    func list(_ request: Request, client: String, live: Bool) throws -> Response {
        let viewer: Viewer
        switch try require(request, review: true) { case .allowed(let v): viewer = v; case .refused(let r): return r }
        let q = FormData.parse(request.uri.query ?? "")
        var f = SessionFilter()
        func text(_ key: String) -> String? { q[key].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 } }
        f.user = text("user"); f.host = text("host"); f.role = text("role"); f.command = text("command")
        f.grant = text("grant").flatMap { Int64($0) }
        var problems: [String] = []
        for (key, keyPath) in [("since", \SessionFilter.since), ("until", \SessionFilter.until)] {
            guard let t = text(key) else { continue }
            if let at = AuditQuery.time(t, now: Clock.now) { f[keyPath: keyPath] = at } else {
                problems.append("\(key) \(t): give a time like 7d, \"2 hours ago\" or 2026-11-27T10:00Z")
            }
        }
        f.deniedOnly = q["denied"] != nil
        f.confirmedOnly = q["confirmed"] != nil
        f.blockedOnly = q["guard"] != nil
        f.runningOnly = live || q["running"] != nil
        let page = max(1, text("page").flatMap { Int($0) } ?? 1)
        f.limit = Self.pageSize + 1
        f.offset = (page - 1) * Self.pageSize
        let found = try store.sessionSummaries(f)
        audit(.webView, viewer.identity, client: client, line: live ? "/live" : "/sessions", decision: .allow,
              reason: FormData.encode(q.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
        return .html(SessionPages.list(Array(found.prefix(Self.pageSize)), query: q, page: page, more: found.count > Self.pageSize,
                                       problems: problems, live: live, viewer: viewer))
    }

    /// A session id from the path: hex, as jitsh makes them; a prefix names one session or none.
    func sessionID(_ context: WebContext) throws -> String? {
        guard let raw = context.parameters.get("id"), (4...64).contains(raw.count), raw.allSatisfy({ $0.isHexDigit || $0 == "-" }) else { return nil }
        let ids = try store.sessionIDs(matching: raw.lowercased())
        return ids.count == 1 ? ids[0] : nil
    }

    /// The diffs of the session's snapshot markers, read only for a session whose role watched
    /// files (it has snapshot events), a page of chunks at a time and at most 4,096 chunks.
    func snapshotDiffs(_ id: String, _ events: [AuditEvent]) throws -> [String] {
        guard events.contains(where: { $0.kind == "snapshot" }) else { return [] }
        var diffs: [String] = []
        var after: Int64 = -1
        for _ in 0..<64 {
            let page = try store.chunks(session: id, after: after, limit: 64)
            guard let last = page.last else { break }
            diffs += Transcript.snapshotDiffs(page.flatMap { $0.decodedFrames() ?? [] })
            after = last.seq
        }
        return diffs
    }

    func sessionPage(_ request: Request, _ context: WebContext) throws -> Response {
        let viewer: Viewer
        switch try require(request, review: true) { case .allowed(let v): viewer = v; case .refused(let r): return r }
        guard let id = try sessionID(context), let record = try store.session(id) else {
            return Page.error(status: .notFound, "no such session", viewer: viewer)
        }
        let end = try store.sessionEnd(id)
        let grant = try record.grantID.flatMap { try store.grant($0) }
        let verification: String
        if let key = publicKey {
            let v = try store.verify(id, key: key)
            verification = v.ok ? "Intact: \(v.summary)." : "NOT INTACT: " + v.problems.joined(separator: "; ")
        } else {
            verification = "not checked: this server cannot read the host signing key"
        }
        audit(.webView, viewer.identity, client: context.client, line: "/sessions/\(id)", decision: .allow, session: id)
        let q = FormData.parse(request.uri.query ?? "")
        let events = try store.auditEvents(session: id)
        return .html(SessionPages.session(record, end: end, grant: grant, events: events, diffs: try snapshotDiffs(id, events),
                                          verification: verification, start: q["t"].flatMap(Double.init), autoplay: q["autoplay"] != nil,
                                          intact: verification.hasPrefix("Intact"), viewer: viewer, now: Clock.now))
    }

    /// The recording as JSON lines, one a chunk, written as they are read: the player starts on
    /// the first while the rest is on its way. `after` continues a live session from a chunk.
    func recording(_ request: Request, _ context: WebContext) throws -> Response {
        switch try require(request, review: true) { case .allowed: break; case .refused(let r): return r }
        guard let id = try sessionID(context) else { return Page.error(status: .notFound, "no such session") }
        let after = FormData.parse(request.uri.query ?? "")["after"].flatMap { Int64($0) } ?? -1
        let store = self.store
        let body = ResponseBody { writer in
            var feed = PlayerFeed()
            var seq = after
            while true {
                // A few chunks a read: small enough for the first to leave at once, large enough to be cheap.
                let chunks = try store.chunks(session: id, after: seq, limit: seq == after ? 2 : 32)
                if chunks.isEmpty { break }
                var text = ""
                for c in chunks { text += feed.line(c); seq = c.seq }
                try await writer.write(ByteBuffer(string: text))
            }
            let ended = try store.sessionEnd(id) != nil
            try await writer.write(ByteBuffer(string: feed.end(ended: ended, lastSeq: seq)))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson; charset=utf-8"], body: body)
    }

    func export(_ request: Request, _ context: WebContext, asciicast: Bool) throws -> Response {
        let viewer: Viewer
        switch try require(request, review: true) { case .allowed(let v): viewer = v; case .refused(let r): return r }
        guard let id = try sessionID(context), let record = try store.session(id) else {
            return Page.error(status: .notFound, "no such session", viewer: viewer)
        }
        let frames = try store.chunks(session: id, after: -1, limit: -1).flatMap { $0.decodedFrames() ?? [] }
        let text = asciicast ? Transcript.asciicast(record, frames) : Transcript.render(frames)
        audit(.webExport, viewer.identity, client: context.client, line: "/sessions/\(id)/export.\(asciicast ? "cast" : "txt")",
              decision: .allow, session: id)
        let name = "jitsh-\(id.prefix(12)).\(asciicast ? "cast" : "txt")"
        return Response(status: .ok, headers: [.contentType: asciicast ? "application/x-asciicast" : "text/plain; charset=utf-8",
                                               .contentDisposition: "attachment; filename=\"\(name)\""],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func search(_ request: Request, client: String) throws -> Response {
        let viewer: Viewer
        switch try require(request, review: true) { case .allowed(let v): viewer = v; case .refused(let r): return r }
        let text = FormData.parse(request.uri.query ?? "")["q"]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        var hits: [TextHit] = []
        var problem: String?
        if !text.isEmpty {
            index(wait: true)
            do { hits = try store.searchRecordings(text, limit: 100, newestFirst: true) } catch let e as FullTextQuery.SyntaxError { problem = e.description }
            audit(.webSearch, viewer.identity, client: client, line: text, decision: .allow, reason: "\(hits.count) hits")
        }
        let sessions = try store.sessions(Array(Set(hits.map(\.sessionID))))
        return .html(SessionPages.search(text, hits: hits, sessions: sessions, problem: problem, viewer: viewer))
    }
}
