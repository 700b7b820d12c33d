import Foundation
import Hummingbird
import NIOCore

/// The files the pages load: the stylesheet, the player, and xterm.js. The only scripts are
/// these files (the Content-Security-Policy allows no inline script).
///
/// xterm.js comes from Debian's installed files. Bookworm's libjs-xterm ships a 288-byte stub
/// that `require`s modules it does not include; node-xterm (the same upstream 3.8.1) has those
/// CommonJS modules, so they are wrapped here, once at start, into one browser script with a
/// tiny `require`. No build step, no copy of xterm.js in this repository.
struct Assets: Sendable {
    let files: [String: (type: String, body: String)]

    init(xtermDirectory: String) throws {
        let css = (try? String(contentsOfFile: xtermDirectory + "/xterm.css", encoding: .utf8)) ?? ""
        files = ["style.css": ("text/css; charset=utf-8", Assets.style),
                 "player.js": ("text/javascript; charset=utf-8", PlayerScript.source),
                 "xterm.js": ("text/javascript; charset=utf-8", try Assets.xtermBundle(xtermDirectory)),
                 "xterm.css": ("text/css; charset=utf-8", css)]
    }

    func response(_ name: String) throws -> Response {
        guard let file = files[name] else { return Page.error(status: .notFound, "no such file") }
        return Response(status: .ok, headers: [.contentType: file.type, .cacheControl: "private, max-age=3600"],
                        body: .init(byteBuffer: ByteBuffer(string: file.body)))
    }

    static func xtermBundle(_ directory: String) throws -> String {
        guard let walker = FileManager.default.enumerator(atPath: directory) else {
            throw ServeError(description: "xterm.js is not installed at \(directory): apt-get install node-xterm (the player needs it)")
        }
        var modules: [String] = []
        for case let path as String in walker where path.hasSuffix(".js") && !path.hasSuffix(".test.js") && !path.hasPrefix("addons/") {
            guard let source = try? String(contentsOfFile: directory + "/" + path, encoding: .utf8) else { continue }
            let body = source.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("//# sourceMappingURL=") }.joined(separator: "\n")
            let name = String(path.dropLast(3))
            modules.append("define(\"\(name)\", function (require, module, exports) {\n\(body)\n});")
        }
        guard modules.contains(where: { $0.hasPrefix("define(\"xterm\"") }) else {
            throw ServeError(description: "\(directory) holds no xterm.js module: apt-get install node-xterm (the player needs it)")
        }
        return """
            // xterm.js \(directory), its CommonJS modules wrapped by jitsh serve.
            (function () {
              'use strict';
              var defs = {}, cache = {};
              function define(name, fn) { defs[name] = fn; }
              function resolve(from, to) {
                var parts = from.split('/'); parts.pop();
                to.split('/').forEach(function (p) { if (p === '..') parts.pop(); else if (p !== '.') parts.push(p); });
                return parts.join('/').replace(/\\.js$/, '');
              }
              function load(name) {
                if (cache[name]) return cache[name].exports;
                if (!defs[name]) throw new Error('xterm module ' + name + ' is missing');
                var m = { exports: {} };
                cache[name] = m;
                defs[name].call(m.exports, function (to) { return load(resolve(name, to)); }, m, m.exports);
                return m.exports;
              }
            \(modules.joined(separator: "\n"))
              window.Terminal = load('xterm');
            })();

            """
    }

    static let style = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2329; background: #f6f7f9; }
        header { background: #1d2329; color: #fff; padding: .5em 1em; display: flex; gap: 1em; align-items: center; }
        header nav { display: flex; gap: 1em; align-items: center; flex: 1; }
        header a { color: #cfe3ff; }
        header form.signout { margin-left: auto; }
        main { padding: 1em; }
        table { border-collapse: collapse; background: #fff; width: 100%; }
        th, td { border-bottom: 1px solid #dde1e6; padding: .3em .5em; text-align: left; vertical-align: top; }
        tr.flagged td { background: #fff3f0; }
        form.filters { display: flex; flex-wrap: wrap; gap: .5em 1em; margin-bottom: 1em; align-items: end; }
        form.filters input[name]:not([type=checkbox]) { width: 9em; }
        form.action { display: inline-flex; gap: .3em; margin: 0 .3em .3em 0; }
        .problem { color: #a40000; } .notice.ok { color: #055f2b; }
        .verification.ok { color: #055f2b; } .verification.bad { color: #a40000; font-weight: bold; }
        .review { display: flex; gap: 1em; align-items: flex-start; }
        .player { flex: 0 0 auto; }
        .controls { display: flex; flex-wrap: wrap; gap: .5em; align-items: center; margin-bottom: .5em; }
        #seek { width: 20em; }
        #terminal { background: #000; padding: 4px; display: inline-block; }
        aside { flex: 1; min-width: 18em; }
        ol.timeline { padding-left: 1.2em; max-height: 32em; overflow: auto; }
        ol.timeline li { margin-bottom: .2em; }
        .decision { font-weight: bold; } .decision.deny { color: #a40000; } .decision.confirm { color: #8a5a00; }
        .decision.allow { color: #055f2b; }
        code, pre { font-family: ui-monospace, monospace; }
        pre#screen-text { background: #fff; padding: .5em; max-width: 60em; overflow: auto; }
        """
}
