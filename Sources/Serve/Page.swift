import Foundation
import Hummingbird
import Policy
import Store

/// The frame of every page: navigation for what the viewer may do, and their sign-out form.
/// Server-rendered; the only scripts are the player's, on the session page.
enum Page {
    static func layout(_ title: String, viewer: Viewer?, scripts: [String] = [], _ body: HTML) -> HTML {
        var nav: [HTML] = []
        if let v = viewer {
            if v.mayReview {
                nav += [#"<a href="/sessions">Sessions</a>"#, #"<a href="/search">Search</a>"#, #"<a href="/live">Live</a>"#]
            }
            if v.mayApprove || v.mayReview { nav.append(#"<a href="/grants">Grants</a>"#) }
            nav.append("""
                <form class="signout" method="post" action="/logout"><input type="hidden" name="csrf" value="\(v.csrf)">\
                <span>\(v.identity)</span> <button type="submit">Sign out</button></form>
                """)
        }
        let scriptTags = scripts.map { HTML(raw: "<script src=\"\(HTML.escape($0))\" defer></script>") }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) · jitsh</title>
            <link rel="stylesheet" href="/assets/style.css">\(scriptTags)</head>
            <body><header><strong>jitsh</strong> review <nav>\(nav)</nav></header>
            <main>\(body)</main></body></html>
            """
    }

    static func error(status: HTTPResponse.Status, _ message: String, viewer: Viewer? = nil) -> Response {
        .html(layout("\(status.code)", viewer: viewer, "<h1>\(status.code) \(status.reasonPhrase)</h1><p>\(message)</p>"), status: status)
    }

    /// 401: no browser session. Signing in needs no password: the person proves who they are to
    /// this host (ssh or a local login) and gets a one-time link.
    static func signInNeeded(_ why: String = "You are not signed in, or your sign-in has expired.",
                             status: HTTPResponse.Status = .unauthorized) -> Response {
        .html(layout("Sign in", viewer: nil, """
            <h1>Sign in</h1><p>\(why)</p>
            <p>Get a one-time link (valid for two minutes, usable once) from this host:</p>
            <pre>ssh HOST review login</pre><p>or, signed in on the host itself:</p><pre>jitsh review login</pre>
            <p>Open the link it prints in this browser.</p>
            """), status: status)
    }

    static func redirect(_ location: String, cookie: String? = nil) -> Response {
        var headers: HTTPFields = [.location: location]
        if let cookie { headers[.setCookie] = cookie }
        return Response(status: .seeOther, headers: headers)
    }

    static func time(_ microseconds: Int64) -> String {
        Timestamp.format(microseconds: microseconds).replacingOccurrences(of: "T", with: " ")
    }

    static func duration(_ microseconds: Int64) -> String {
        let s = Int(microseconds / 1_000_000)
        return s < 60 ? "\(s)s" : s < 3600 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s / 3600)h\(String(format: "%02d", s / 60 % 60))m"
    }

    /// A form that POSTs one action with this browser session's CSRF token.
    static func action(_ path: String, _ label: String, viewer: Viewer, field: String? = nil, placeholder: String = "") -> HTML {
        let input: HTML = field.map { HTML(raw: "<input name=\"\(HTML.escape($0))\" placeholder=\"\(HTML.escape(placeholder))\">") } ?? ""
        return """
            <form class="action" method="post" action="\(path)"><input type="hidden" name="csrf" value="\(viewer.csrf)">\
            \(input)<button type="submit">\(label)</button></form>
            """
    }
}
