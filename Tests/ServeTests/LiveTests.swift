import Foundation
import Store
import Testing
#if canImport(Glibc)
import Glibc
import TestSupport
#endif

/// Live sessions (watch and terminate) and the other ways to listen: TLS and a Unix socket.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct LiveTests {
    @Test func aReviewerWatchesAndTerminatesALiveSession() throws {
        let bed = try Bed.instance
        let (process, id) = try bed.runningSession("dora", "sleep 60")
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let cookie = try bed.signIn("sam")
        let live = try HTTP.request(port: bed.port, "GET", "/live", cookie: cookie)
        #expect(live.body.contains("/sessions/\(id)"))
        #expect(!live.body.contains("/sessions/\(bed.sessions["alice-echo"]!)"), "ended sessions are not live")
        let page = try HTTP.request(port: bed.port, "GET", "/sessions/\(id)", cookie: cookie)
        #expect(page.body.contains("data-live=\"1\""))
        let csrf = try #require(page.body.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1)
        // An auditor watches but may not end a session: only admins lock.
        let auditor = try bed.signIn("rita")
        let auditorPage = try HTTP.request(port: bed.port, "GET", "/sessions/\(id)", cookie: auditor)
        let auditorCSRF = try #require(auditorPage.body.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1)
        let refused = try HTTP.request(port: bed.port, "POST", "/live/\(id)/terminate", cookie: auditor,
                                       form: ["csrf": String(auditorCSRF), "reason": "x"])
        #expect(refused.status == 403)
        #expect(refused.body.contains("only admins (or root) end a live session"))
        let noReason = try HTTP.request(port: bed.port, "POST", "/live/\(id)/terminate", cookie: cookie, form: ["csrf": String(csrf)])
        #expect(noReason.status == 400)
        let done = try HTTP.request(port: bed.port, "POST", "/live/\(id)/terminate", cookie: cookie,
                                    form: ["csrf": String(csrf), "reason": "INC-9 stop"])
        #expect(done.status == 303)
        // The session's watchdog looks every 5 s and ends the session; its grant stays active.
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { usleep(100_000) }
        #expect(!process.isRunning)
        let end = try bed.store().sessionEnd(id)
        #expect(end?.exitReason == "locked", "\(String(describing: end))")
        let record = try #require(try bed.store().session(id))
        #expect(try bed.store().grant(record.grantID!)?.state(at: Int64(Date().timeIntervalSince1970 * 1_000_000)) == .active)
        #expect(try bed.store().sessionLock(id)?.reason == "INC-9 stop")
        let events = try bed.store().auditEvents(matching: try AuditQuery(["kind web-terminate"], now: Bed.now))
        #expect(events.contains { $0.identity == "sam" && $0.decision == "allow" && $0.reason == "INC-9 stop" })
    }

    @Test func tlsServesHTTPSWithSecureCookies() throws {
        let bed = try Bed.instance
        let dir = bed.root + "/tls"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let made = try Bed.execute("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                                        "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem", "-days", "1", "-subj", "/CN=127.0.0.1"])
        try #require(made.status == 0, "\(made.output)")
        let port = try Loopback.freePort()
        let server = try bed.serve(["--listen", "127.0.0.1:\(port)", "--tls-cert", dir + "/cert.pem", "--tls-key", dir + "/key.pem"], port: port)
        defer { kill(server.processIdentifier, SIGKILL) }
        let link = try bed.signInLink("rita")
        let (status, out) = try Bed.execute("/usr/bin/curl", ["-sk", "-o", "/dev/null", "-D", "-", "https://127.0.0.1:\(port)" + link])
        #expect(status == 0)
        #expect(out.contains("303"))
        let cookie = try #require(out.split(whereSeparator: \.isNewline).first { $0.lowercased().hasPrefix("set-cookie:") }, "\(out)")
        #expect(cookie.contains("; Secure"))
        #expect(cookie.contains("HttpOnly"))
        let plain = try Bed.execute("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/"])
        #expect(plain.output != "200", "plain HTTP is not served on the TLS port")
    }

    @Test func aUnixSocketServesTheSamePages() throws {
        let bed = try Bed.instance
        let socket = bed.root + "/serve.sock"
        let server = try bed.serve(["--listen", "unix:" + socket], socket: socket)
        defer { kill(server.processIdentifier, SIGKILL) }
        let (_, out) = try Bed.execute("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", socket, "http://localhost/sessions"])
        #expect(out == "401")
        var st = stat()
        #expect(stat(socket, &st) == 0 && st.st_mode & 0o777 == 0o660)
    }
}
