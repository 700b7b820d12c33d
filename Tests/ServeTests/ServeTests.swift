import Foundation
import Store
import Testing

/// `jitsh serve` over HTTP, against the real server and a store filled by real sessions.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ServeTests {
    var bed: Bed { get throws { try Bed.instance } }

    @Test func signInLinkWorksOnceAndBecomesAStrictCookie() throws {
        let bed = try bed
        let link = try bed.signInLink("rita")
        let first = try HTTP.request(port: bed.port, "GET", link)
        #expect(first.status == 303)
        let cookie = try #require(first.setCookie)
        for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age=", "Path=/"] { #expect(cookie.contains(attribute), "\(cookie)") }
        #expect(!cookie.contains("Secure"), "no Secure without TLS: the browser would drop it on http")
        let again = try HTTP.request(port: bed.port, "GET", link)
        #expect(again.status == 401)
        #expect(again.body.contains("already used"))
        #expect(again.setCookie == nil)
        let list = try HTTP.request(port: bed.port, "GET", "/sessions", cookie: first.cookie)
        #expect(list.status == 200)
        // The token is only ever hashed in the store.
        let token = String(link.split(separator: "=")[1])
        let dump = try Bed.execute("/bin/sh", ["-c", "cat \"$0\"* | grep -ac -e \"$1\"", bed.storePath, token])
        #expect(dump.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let events = try bed.store().auditEvents(matching: try AuditQuery(["kind web-sign-in"], now: Bed.now))
        #expect(events.contains { $0.identity == "rita" && $0.decision == "allow" })
    }

    /// `ssh host review login`: the forced command handles the verb itself, no shell, no session.
    @Test func theReservedVerbOverSSHPrintsAWorkingLink() throws {
        let bed = try bed
        let sessions = try bed.store().allSessionIDs().count
        let (status, output) = try Bed.execute(bed.binary, ["--config", bed.config, "--as", "rita"],
                                               environment: ["SSH_ORIGINAL_COMMAND": "review login --next /grants"])
        #expect(status == 0, "\(output)")
        let link = try #require(output.firstMatch(of: /\/login\?token=[A-Za-z0-9_-]+&next=[%0-9A-Za-z]+/)?.0)
        let reply = try HTTP.request(port: bed.port, "GET", String(link))
        #expect(reply.status == 303)
        #expect(reply.header("location") == "/grants")
        #expect(try bed.store().allSessionIDs().count == sessions, "a verb is not a recorded session")
    }

    @Test func expiredForgedAndMissingSignInsAreRefused() throws {
        let bed = try bed
        let short = try bed.signInLink("rita", validFor: 1)
        Thread.sleep(forTimeInterval: 2.2)
        let expired = try HTTP.request(port: bed.port, "GET", short)
        #expect(expired.status == 401)
        #expect(expired.body.contains("expired"))
        let forged = try HTTP.request(port: bed.port, "GET", "/login?token=" + ReviewToken.random())
        #expect(forged.status == 401)
        #expect(forged.setCookie == nil)
        for path in ["/sessions", "/grants", "/search?q=x", "/sessions/\(bed.sessions["alice-echo"]!)/recording"] {
            #expect(try HTTP.request(port: bed.port, "GET", path).status == 401, "\(path) without a cookie")
            #expect(try HTTP.request(port: bed.port, "GET", path, cookie: ReviewToken.random()).status == 401, "\(path) with a forged cookie")
        }
        // A link lives two minutes at most, and says so.
        #expect(try bed.run(["review", "login", "--config", bed.config, "--as", "rita"]).contains("within 120 seconds"))
        #expect(try Bed.execute(bed.binary, ["review", "login", "--config", bed.config, "--as", "rita", "--valid-for", "121"]).0 != 0)
        // Someone who may neither review nor approve gets no link at all.
        let (status, output) = try Bed.execute(bed.binary, ["review", "login", "--config", bed.config, "--as", "nobody-special"])
        #expect(status == 1)
        #expect(output.contains("may neither review"))
    }

    @Test func signInIsRateLimitedPerAddress() throws {
        let bed = try bed
        var statuses: [Int] = []
        for _ in 0..<12 {
            statuses.append(try HTTP.request(port: bed.port, "GET", "/login?token=" + ReviewToken.random(), from: "127.0.0.9").status)
        }
        #expect(statuses.prefix(10).allSatisfy { $0 == 401 })
        #expect(statuses.suffix(2).allSatisfy { $0 == 429 })
        // Another address is not held back.
        #expect(try HTTP.request(port: bed.port, "GET", try bed.signInLink("rita")).status == 303)
    }

    @Test func anApproverSeesTheInboxButNoRecordingAndApproves() throws {
        let bed = try bed
        let cookie = try bed.signIn("adam")
        #expect(try HTTP.request(port: bed.port, "GET", "/sessions", cookie: cookie).status == 403)
        #expect(try HTTP.request(port: bed.port, "GET", "/sessions/\(bed.sessions["alice-echo"]!)", cookie: cookie).status == 403)
        #expect(try HTTP.request(port: bed.port, "GET", "/sessions/\(bed.sessions["alice-echo"]!)/export.cast", cookie: cookie).status == 403)
        let inbox = try HTTP.request(port: bed.port, "GET", "/grants", cookie: cookie)
        #expect(inbox.status == 200)
        #expect(inbox.body.contains("INC-7 approve me &lt;b&gt;please&lt;/b&gt;"))
        let csrf = try #require(inbox.body.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1)
        let id = bed.pendingGrant
        // Without the form's token (a cross-site post), nothing happens.
        let forged = try HTTP.request(port: bed.port, "POST", "/grants/\(id)/approve", cookie: cookie, form: ["comment": "x"])
        #expect(forged.status == 403)
        #expect(try bed.store().grant(id)?.state(at: Bed.now) == .pending)
        let approved = try HTTP.request(port: bed.port, "POST", "/grants/\(id)/approve", cookie: cookie, form: ["csrf": String(csrf), "comment": "ok"])
        #expect(approved.status == 200)
        #expect(approved.body.contains("approved, now active"))
        let grant = try #require(try bed.store().grant(id))
        #expect(grant.state(at: Bed.now) == .active)
        #expect(grant.events.contains { $0.kind == .approved && $0.actor == "adam" })
        // bob cannot approve his own (he is no approver either): the same rules as the CLI.
        let again = try HTTP.request(port: bed.port, "POST", "/grants/\(id)/approve", cookie: cookie, form: ["csrf": String(csrf)])
        #expect(again.status == 403)
        #expect(again.body.contains("not pending"))
        let events = try bed.store().auditEvents(matching: try AuditQuery(["kind web-grant"], now: Bed.now))
        #expect(events.contains { $0.identity == "adam" && $0.decision == "approve" })
    }

    @Test(arguments: [
        ("user=alice", ["alice-echo", "alice-denied", "hostile", "interactive"], ["carol-echo"]),
        ("user=carol", ["carol-echo"], ["alice-echo", "hostile"]),
        ("denied=1", ["alice-denied"], ["alice-echo", "carol-echo"]),
        ("command=rm", ["alice-denied"], ["alice-echo", "carol-echo"]),
        ("user=a*&host=serve-host&role=readonly&since=1d", ["alice-echo", "interactive"], ["carol-echo"]),
        ("until=2020-01-01T00:00Z", [], ["alice-echo", "carol-echo"]),
    ])
    func filtersReturnTheRightSessions(query: String, present: [String], absent: [String]) throws {
        let bed = try bed
        let cookie = try bed.signIn("rita")
        let page = try HTTP.request(port: bed.port, "GET", "/sessions?" + query, cookie: cookie)
        #expect(page.status == 200)
        for name in present { #expect(page.body.contains("/sessions/\(bed.sessions[name]!)"), "\(query) should list \(name)") }
        for name in absent { #expect(!page.body.contains("/sessions/\(bed.sessions[name]!)"), "\(query) should not list \(name)") }
    }

    @Test func pagingWalksTheList() throws {
        let bed = try bed
        let cookie = try bed.signIn("rita")
        let first = try HTTP.request(port: bed.port, "GET", "/sessions", cookie: cookie)
        #expect(first.body.contains("page 1"))
        #expect(!first.body.contains("rel=\"prev\""))
        let beyond = try HTTP.request(port: bed.port, "GET", "/sessions?page=9", cookie: cookie)
        #expect(beyond.status == 200)
        #expect(!beyond.body.contains("/sessions/\(bed.sessions["alice-echo"]!)"))
        #expect(beyond.body.contains("rel=\"prev\""))
    }

    @Test func searchFindsTheSessionAndJumpsToTheMoment() throws {
        let bed = try bed
        let cookie = try bed.signIn("rita")
        let page = try HTTP.request(port: bed.port, "GET", "/search?q=serve-word-beta", cookie: cookie)
        #expect(page.status == 200)
        #expect(page.body.contains("/sessions/\(bed.sessions["carol-echo"]!)?t="))
        #expect(!page.body.contains("/sessions/\(bed.sessions["alice-echo"]!)?t="))
        let bad = try HTTP.request(port: bed.port, "GET", "/search?q=%22unclosed", cookie: cookie)
        #expect(bad.status == 200)
        #expect(bad.body.contains("not valid"))
    }

    @Test func userTextComesBackEscapedAndOutputOnlyAsData() throws {
        let bed = try bed
        let cookie = try bed.signIn("rita")
        let id = bed.sessions["hostile"]!
        let page = try HTTP.request(port: bed.port, "GET", "/sessions/\(id)", cookie: cookie)
        #expect(page.status == 200)
        #expect(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!page.body.contains("<script>alert"))
        #expect(page.body.contains("\\e[31mred"), "the escape character is shown, not sent")
        #expect(!page.body.contains("\u{1b}"))
        let csp = try #require(page.header("content-security-policy"))
        #expect(csp.contains("script-src 'self'"))
        #expect(!csp.contains("unsafe-inline"))
        #expect(page.header("x-content-type-options") == "nosniff")
        // The page's scripts are files; none is inline.
        #expect(page.body.components(separatedBy: "<script").dropFirst().allSatisfy { $0.hasPrefix(" src=") })
        let list = try HTTP.request(port: bed.port, "GET", "/sessions?user=alice", cookie: cookie)
        #expect(!list.body.contains("\u{1b}"))
        let recording = try HTTP.request(port: bed.port, "GET", "/sessions/\(id)/recording", cookie: cookie)
        #expect(recording.status == 200)
        #expect(recording.header("content-type")?.hasPrefix("application/x-ndjson") == true)
        #expect(recording.body.contains("\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"))
        #expect(recording.body.contains("\\u001b[31mred"))
        #expect(!recording.body.contains("<"))
        #expect(!bed.serveLog.contains("alert(1)"), "no recording bytes in the server's log")
    }

    @Test func recordingsStreamChunkByChunkAndExport() throws {
        let bed = try bed
        let cookie = try bed.signIn("rita")
        let id = bed.sessions["interactive"]!
        let chunks = try bed.store().chunks(session: id)
        let stream = try HTTP.request(port: bed.port, "GET", "/sessions/\(id)/recording", cookie: cookie)
        let lines = stream.body.split(separator: "\n")
        #expect(lines.count == chunks.count + 1)
        #expect(lines.last?.contains("\"end\":true,\"ended\":true") == true)
        let rest = try HTTP.request(port: bed.port, "GET", "/sessions/\(id)/recording?after=\(chunks.count - 2)", cookie: cookie)
        #expect(rest.body.split(separator: "\n").count == 2)
        let cast = try HTTP.request(port: bed.port, "GET", "/sessions/\(id)/export.cast", cookie: cookie)
        #expect(cast.status == 200)
        #expect(cast.body.hasPrefix("{\"env\""))
        #expect(cast.header("content-disposition")?.contains("attachment") == true)
        let text = try HTTP.request(port: bed.port, "GET", "/sessions/\(id)/export.txt", cookie: cookie)
        #expect(text.body.contains("player-check-42"))
        let events = try bed.store().auditEvents(matching: try AuditQuery(["kind web-export"], now: Bed.now))
        #expect(events.filter { $0.identity == "rita" }.count >= 2)
    }

    @Test func theSessionPageShowsGrantTimelineAndVerification() throws {
        let bed = try bed
        let cookie = try bed.signIn("rita")
        let page = try HTTP.request(port: bed.port, "GET", "/sessions/\(bed.sessions["alice-denied"]!)", cookie: cookie)
        #expect(page.body.contains("Recording: Intact"))
        #expect(page.body.contains("via contract serve-auto"))
        #expect(page.body.contains("decision deny"))
        #expect(page.body.contains("data-t="))
        let views = try bed.store().auditEvents(matching: try AuditQuery(["kind web-view"], now: Bed.now))
        #expect(views.contains { $0.identity == "rita" && $0.line.contains(bed.sessions["alice-denied"]!) })
    }

    /// What a line changed in watched files is on the session page at that moment, escaped.
    @Test func theSessionPageShowsWhatALineChangedInWatchedFiles() throws {
        let bed = try bed
        let cookie = try bed.signIn("rita")
        let page = try HTTP.request(port: bed.port, "GET", "/sessions/\(bed.sessions["snapshot"]!)", cookie: cookie)
        #expect(page.body.contains("<span class=\"kind\">snapshot</span>"), "\(page.body.suffix(2000))")
        #expect(page.body.contains("+listen &lt;b&gt;80&lt;/b&gt;;"), "\(page.body.suffix(2000))")
        #expect(!page.body.contains("<b>80</b>"))
    }
}
