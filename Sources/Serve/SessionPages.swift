import Foundation
import Store

/// The recordings' pages, from values (no store, no clock but what is passed). Every string a
/// person typed or a program printed goes in through `HTML`'s escaping interpolation.
enum SessionPages {
    static let filterFields: [(key: String, label: String, hint: String)] = [
        ("user", "User", "alice or a*"), ("host", "Host", "prod-*"), ("role", "Role", "operator"), ("grant", "Grant", "17"),
        ("since", "Since", "7d"), ("until", "Until", "2 hours ago"), ("command", "Command", "rm or kube*"),
    ]
    static let flags: [(key: String, label: String)] = [("denied", "denied"), ("confirmed", "confirmed"), ("guard", "guard block"), ("running", "running")]

    static func list(_ sessions: [SessionSummary], query: [String: String], page: Int, more: Bool, problems: [String], live: Bool,
                     viewer: Viewer) -> HTML {
        let inputs: [HTML] = filterFields.map { f in
            "<label>\(f.label) <input name=\"\(f.key)\" value=\"\(query[f.key] ?? "")\" placeholder=\"\(f.hint)\"></label>"
        }
        let checks: [HTML] = live ? [] : flags.map { f in
            "<label><input type=\"checkbox\" name=\"\(f.key)\" value=\"1\"\(HTML(raw: query[f.key] != nil ? " checked" : ""))> \(f.label)</label>"
        }
        let rows: [HTML] = sessions.map { s in
            let r = s.session
            let end: String = s.pruned ? "pruned" : s.end?.exitReason ?? "running (or killed)"
            let duration = s.end.map { Page.duration($0.endedAt - r.startedAt) } ?? "–"
            let mark: HTML = s.denied + s.blocked > 0 ? #" class="flagged""# : ""
            return """
                <tr\(mark)><td><a href="/sessions/\(r.id)">\(String(r.id.prefix(8)))</a></td><td>\(r.identity)</td><td>\(r.role)</td>\
                <td>\(r.grantID.map { String($0) } ?? "–")</td><td>\(r.host)</td><td>\(Page.time(r.startedAt))</td><td>\(duration)</td>\
                <td>\(s.lines)</td><td>\(s.denied)</td><td>\(s.confirmed)</td><td>\(s.blocked)</td><td>\(end)</td></tr>
                """
        }
        let base = query.filter { $0.key != "page" }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let path = live ? "/live" : "/sessions"
        var paging: [HTML] = []
        if page > 1 { paging.append("<a rel=\"prev\" href=\"\(path)?\(FormData.encode(base + [("page", String(page - 1))]))\">← newer</a>") }
        paging.append("<span>page \(page)</span>")
        if more { paging.append("<a rel=\"next\" href=\"\(path)?\(FormData.encode(base + [("page", String(page + 1))]))\">older →</a>") }
        let notes: [HTML] = problems.map { "<p class=\"problem\">\($0)</p>" }
        let intro: HTML = live ? "<p>Sessions being recorded now (no end yet). Open one to watch it or to end it.</p>" : ""
        return Page.layout(live ? "Live sessions" : "Sessions", viewer: viewer, """
            <h1>\(live ? "Live sessions" : "Sessions")</h1>\(intro)
            <form class="filters" method="get" action="\(path)">\(inputs)\(checks)<button type="submit">Filter</button></form>\(notes)
            <table class="sessions"><thead><tr><th>Session</th><th>User</th><th>Role</th><th>Grant</th><th>Host</th><th>Started</th>\
            <th>Duration</th><th>Lines</th><th>Denied</th><th>Confirmed</th><th>Guard</th><th>End</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            <p class="paging">\(paging)</p>
            """)
    }

    static func session(_ r: SessionRecord, end: SessionEnd?, grant: Grant?, events: [AuditEvent], diffs: [String] = [], verification: String,
                        start: Double?, autoplay: Bool, intact: Bool, viewer: Viewer, now: Int64) -> HTML {
        let ended: HTML = end.map { e in
            "ended \(Page.time(e.endedAt)) (\(e.exitReason)\(e.exitStatus.map { ", status \($0)" } ?? "")), \(Page.duration(e.endedAt - r.startedAt))"
        } ?? "<strong>no end yet</strong>: running, or jitsh was killed"
        var diffs = diffs[...]
        let timeline: [HTML] = events.filter { $0.kind != "session-start" && $0.kind != "session-end" }.map { e in
            let t = Double(max(0, e.at - r.startedAt)) / 1_000_000
            let at = String(format: "%.3f", t)
            let what: HTML
            switch e.kind {
            case "line": what = "<span class=\"decision \(e.decision)\">\(e.decision)</span> <code>\(e.line)</code>\(e.rule.isEmpty ? "" : HTML(" [\(e.rule)]"))\(e.decision == "allow" || e.decision == "builtin" ? "" : HTML(" — \(e.reason)"))"
            case "guard": what = "<span class=\"decision deny\">guard blocked</span> <code>\(e.line)</code> — \(e.reason)"
            case "confirmed": what = "<span class=\"decision confirm\">confirmed</span> <code>\(e.line)</code>"
            case "snapshot":
                // What the line changed in watched files; the diff as text, escaped like all else.
                let diff = diffs.popFirst() ?? ""
                what = "<span class=\"kind\">snapshot</span> \(e.reason)\(diff.isEmpty ? "" : HTML("<details open><summary>diff</summary><pre class=\"diff\">\(lines: diff)</pre></details>"))"
            default: what = "<span class=\"kind\">\(e.kind)</span> \(e.decision) <code>\(e.line)</code>\(e.reason.isEmpty ? "" : HTML(" — \(e.reason)"))"
            }
            let kind = e.kind == "line" ? "command" : e.kind
            return "<li class=\"\(kind)\"><a class=\"seek\" href=\"?t=\(at)\" data-t=\"\(at)\">\(Page.duration(Int64(t * 1_000_000)))</a> \(what)</li>"
        }
        let grantHTML: HTML
        if let g = grant {
            let history: [HTML] = g.events.map { e in
                "<li>\(Page.time(e.at)) \(e.kind.rawValue) by \(e.actor)\(e.comment.isEmpty ? "" : HTML(": \(e.comment)"))</li>"
            }
            grantHTML = """
                <section class="grant"><h2>Grant \(g.id)</h2><p>\(g.role) via contract \(g.contract)\(g.breakGlass ? HTML(" <strong>(BREAK-GLASS)</strong>") : ""), \
                now \(g.state(at: now).description)</p><p>Reason: \(g.reason)</p><ul>\(history)</ul></section>
                """
        } else {
            grantHTML = "<section class=\"grant\"><h2>Grant</h2><p>none recorded</p></section>"
        }
        let terminate: HTML = end == nil && viewer.requester.isAdmin
            ? """
              <section class="terminate"><h2>End this session</h2><p>Locks this session: it ends within seconds (the user is \
              told who ended it and why), exit reason <code>locked</code>; other sessions of its grant go on.</p>\
              \(Page.action("/live/\(r.id)/terminate", "Terminate", viewer: viewer, field: "reason", placeholder: "reason (required)"))</section>
              """
            : ""
        let data: HTML = """
            data-session="\(r.id)" data-cols="\(r.width)" data-rows="\(r.height)" data-live="\(end == nil ? "1" : "0")" \
            data-start="\(start.map { String(format: "%.3f", $0) } ?? "")" data-autoplay="\(autoplay ? "1" : "0")"
            """
        return Page.layout("Session \(r.id.prefix(8))", viewer: viewer, scripts: ["/assets/xterm.js", "/assets/player.js"], """
            <link rel="stylesheet" href="/assets/xterm.css">
            <h1>Session <code>\(String(r.id.prefix(12)))</code></h1>
            <p class="meta">\(r.identity) (login \(r.login)) as <strong>\(r.role)</strong> on \(r.host) from \(r.client), \(r.mode)\
            \(r.command.isEmpty ? "" : HTML(": <code>\(r.command)</code>")); started \(Page.time(r.startedAt)), \(ended)</p>
            <p class="verification \(intact ? "ok" : "bad")">Recording: \(verification)</p>
            <div class="review"><div class="player" id="player" \(data)>
            <div class="controls"><button type="button" id="play">Play</button>
            <label>Speed <select id="speed"><option>0.5</option><option selected>1</option><option>2</option><option>4</option><option>8</option><option>16</option></select></label>
            <label>Idle limit <select id="idle"><option value="0">none</option><option value="1">1 s</option><option value="2" selected>2 s</option><option value="5">5 s</option></select></label>
            <button type="button" id="next">Next command</button>
            <input type="range" id="seek" min="0" max="0" step="0.01" value="0" aria-label="position">
            <span id="clock">0:00</span> <span id="status">loading…</span></div>
            <div id="terminal"></div>
            <details><summary>Screen as text</summary><pre id="screen-text"></pre></details>
            <p class="downloads">Download: <a href="/sessions/\(r.id)/export.cast">asciicast</a> · <a href="/sessions/\(r.id)/export.txt">text transcript</a></p>
            </div>
            <aside><h2>Timeline</h2><ol id="timeline" class="timeline">\(timeline)</ol>\(grantHTML)\(terminate)</aside></div>
            """)
    }

    static func search(_ text: String, hits: [TextHit], sessions: [String: SessionRecord], problem: String?, viewer: Viewer) -> HTML {
        let rows: [HTML] = hits.map { h in
            let s = sessions[h.sessionID]
            let t = String(format: "%.3f", Double(max(0, h.offset)) / 1_000_000)
            return """
                <li><a href="/sessions/\(h.sessionID)?t=\(t)">\(String(h.sessionID.prefix(8))) at \(Page.duration(max(0, h.offset)))</a> \
                \(s.map { "\($0.identity) as \($0.role) on \($0.host), \(Page.time($0.startedAt))" } ?? "") <q>\(h.snippet)</q></li>
                """
        }
        let result: HTML = problem.map { "<p class=\"problem\">\($0)</p>" }
            ?? (text.isEmpty ? "" : "<p>\(hits.count) hit\(hits.count == 1 ? "" : "s")\(hits.count >= 100 ? " (the newest 100)" : "")</p>")
        return Page.layout("Search", viewer: viewer, """
            <h1>Search recordings</h1>
            <form class="filters" method="get" action="/search"><input name="q" value="\(text)" size="50" placeholder="words, \"a phrase\", prefix*, AND/OR/NOT">\
            <button type="submit">Search</button></form>\(result)<ol class="hits">\(rows)</ol>
            """)
    }
}
