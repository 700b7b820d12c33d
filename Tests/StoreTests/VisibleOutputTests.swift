import Foundation
@testable import Store
import Testing
import TestSupport

/// What a reviewer sees is what happened: a grant reason, a command line and recorded output
/// full of terminal sequences and newlines go through every human-readable command of the
/// built jitsh; no control byte reaches the output, no row is forged, JSON keeps the exact text.
@Suite(.serialized) struct VisibleOutputTests {
    /// Clipboard write, clear screen, erase line, carriage return, and a forged row.
    static let evil = "INC-1 \u{1B}]52;c;cm0gLXJmIH4=\u{7}\u{1B}[2J\u{1B}[2K\rok\nFORGED\t99\tactive\u{9B}6n\u{202E}"
    let dir: URL
    let config: String
    let start = (Int64(Date().timeIntervalSince1970) - 60) * 1_000_000

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-visible-\(UUID().uuidString.prefix(8))")
        let policies = dir.appendingPathComponent("policies")
        for sub in ["roles", "contracts"] {
            try FileManager.default.createDirectory(at: policies.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try "people:\n  alice: [oncall]\n".write(to: policies.appendingPathComponent("policy.yaml"), atomically: true, encoding: .utf8)
        try "role: readonly\nallow:\n  - cmd: ls\n".write(to: policies.appendingPathComponent("roles/readonly.yaml"), atomically: true, encoding: .utf8)
        try "contract: auto\nrole: readonly\nrequesters: {groups: [oncall]}\napproval: {auto: true}\nreason: {required: false}\n"
            .write(to: policies.appendingPathComponent("contracts/auto.yaml"), atomically: true, encoding: .utf8)
        config = dir.appendingPathComponent("jitsh.yaml").path
        try "store: \(dir.path)/jitsh.db\npolicies: \(policies.path)\nsigning_key: \(dir.path)/key\nhost: {name: prod-1}\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let initialized = try Binary.run(["init", "--config", config])
        #expect(initialized.status == 0, "\(initialized)")
    }

    func jitsh(_ arguments: [String]) throws -> Binary.Result { try Binary.run(arguments + ["--config", config]) }

    /// A session by alice whose line, reason and output carry `text`.
    func recordSession(_ id: String, _ text: String) throws {
        let store = try SQLiteStore(path: dir.appendingPathComponent("jitsh.db").path)
        try store.startSession(SessionRecord(id: id, identity: "alice", login: "alice", role: "readonly", grantID: nil, host: "prod-1",
                                             client: "10.0.0.1", mode: "exec", command: "ls \(text)", startedAt: start),
                               event: AuditEvent(at: start, sessionID: id, identity: "alice", host: "prod-1", kind: .sessionStart))
        var raw: [UInt8] = []
        FrameCodec.encode(Frame(.output, offset: 0, data: Array("needle \(text)\r\n".utf8)), into: &raw)
        FrameCodec.encode(Frame(.stdin, offset: 1, data: Array("piped \(text)\n".utf8)), into: &raw)
        try store.appendChunk(Chunk(sessionID: id, seq: 0, startedAt: start, frames: 2, rawBytes: raw.count, data: Deflate.compress(raw),
                                    previousHash: Chunk.genesis(id)))
        try store.appendAudit([AuditEvent(at: start + 1, sessionID: id, identity: "alice", host: "prod-1", kind: .line,
                                          line: "ls \(text)", decision: .deny, rule: "roles/readonly.yaml:3", reason: "because \(text)",
                                          data: "{\"cwd\":\"/\"}")])
    }

    /// Control bytes a terminal would act on: C0 but newline, DEL, C1 in UTF-8, bidi overrides.
    static func controls(_ s: String) -> [Unicode.Scalar] {
        s.unicodeScalars.filter { u in
            (u.value < 0x20 && u != "\n") || (0x7F...0x9F).contains(u.value) || (0x202A...0x202E).contains(u.value)
        }
    }

    /// Runs a command; its output and errors hold no control byte and (unless the recording
    /// itself printed that line, as a transcript shows) no row the text forged.
    func shows(_ arguments: [String], rows: Int? = nil, status: Int32? = 0, transcript: Bool = false,
               sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try jitsh(arguments)
        if let status { #expect(r.status == status, "\(arguments): \(r)", sourceLocation: sourceLocation) }
        for text in [r.output, r.error] {
            #expect(VisibleOutputTests.controls(text).isEmpty, "\(arguments): \(text.debugDescription)", sourceLocation: sourceLocation)
            if !transcript {
                #expect(!text.split(separator: "\n").contains { $0.hasPrefix("FORGED") }, "\(arguments): a forged row", sourceLocation: sourceLocation)
            }
        }
        if let rows { #expect(r.output.split(separator: "\n").count == rows, "\(arguments): \(r.output)", sourceLocation: sourceLocation) }
        return r.output
    }

    @Test func everyHumanReadableCommandShowsTheTextVisibly() throws {
        let created = try jitsh(["grant", "create", "--for", "alice", "--role", "readonly", "--reason", VisibleOutputTests.evil])
        #expect(created.status == 0, "\(created)")
        try recordSession("0123456789abcdef", VisibleOutputTests.evil)

        let list = try shows(["grant", "list"], rows: 2)
        #expect(list.contains("INC-1 \\e]52;c;cm0gLXJmIH4=\\x07\\e[2J\\e[2K\\rok⏎FORGED\\t99\\tactive\\u009b6n\\u202e"), "\(list)")
        _ = try shows(["grant", "show", "1"])
        _ = try shows(["sessions", "list"], rows: 2)
        let show = try shows(["sessions", "show", "0123"])
        #expect(show.contains("standard input: "), "\(show)")
        #expect(show.split(separator: "\n").filter { $0.contains("#1 deny") }.count == 1)
        _ = try shows(["audit", "search", "user", "alice"])
        _ = try shows(["audit", "tail", "-n", "50"])
        // The output erased its own first word (ESC [ 2 K), as the screen did; the piped input is searchable.
        let hits = try shows(["audit", "search", "--text", "piped"])
        #expect(hits.contains("1 hit"), "\(hits)")
        let text = try shows(["sessions", "export", "0123", "--format", "text"], transcript: true)
        #expect(text.contains("piped INC-1 \\e]52"), "\(text)")
        // Replay draws what the terminal drew (erase, carriage return) but no clipboard write or request.
        let replay = try jitsh(["sessions", "replay", "0123", "--speed", "1000"])
        #expect(replay.status == 0)
        #expect(!replay.output.contains("\u{1B}]") && !replay.output.contains("\u{9B}") && replay.output.contains("\u{1B}[2J"), "\(replay.output.debugDescription)")
        #expect(replay.error.contains("jitsh: replay left out 2 terminal sequences that could act on your terminal: C1 control ×1, clipboard write (OSC 52) ×1"),
                "\(replay.error.debugDescription)")
        _ = try shows(["policy", "whatif", "--policy-dir", dir.appendingPathComponent("policies").path, "--since", "1d"])
        _ = try shows(["check", "--policy-dir", dir.appendingPathComponent("policies").path, "--role", "readonly", "--",
                       "ls \(VisibleOutputTests.evil)"], status: nil)
        _ = try shows(["check", "--policy-dir", dir.appendingPathComponent("policies").path, "--role", "readonly", "--",
                       "rm \(VisibleOutputTests.evil)"], status: nil)
        let parsed = try Binary.run(["parse", "--", "echo '\(VisibleOutputTests.evil)'"])
        #expect(parsed.status == 0 && VisibleOutputTests.controls(parsed.output).isEmpty, "\(parsed)")
        // A usage error quotes the argument: shown too.
        _ = try shows(["sessions", "show", VisibleOutputTests.evil], status: 1)
        _ = try shows(["grant", "show", VisibleOutputTests.evil], status: 64)

        // JSON keeps the exact text (escaped as JSON escapes it).
        let json = try jitsh(["grant", "list", "--json"])
        let grants = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]])
        #expect(grants.first?["reason"] as? String == VisibleOutputTests.evil)
        #expect(VisibleOutputTests.controls(json.output).isEmpty)
        let tail = try jitsh(["audit", "tail", "--json", "-n", "50"])
        let lines = tail.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.contains { $0["line"] as? String == "ls \(VisibleOutputTests.evil)" })
        #expect(VisibleOutputTests.controls(tail.output).isEmpty)
    }

    /// Any text in a reason, however hostile: `grant list` has exactly one row a grant and no control byte.
    @Test func anyReasonStaysOnItsRow() throws {
        var g = RobustnessTests.Generator(state: 1616)
        let pool: [Unicode.Scalar] = (1...0x20).compactMap(Unicode.Scalar.init) + (0x7F...0xA0).compactMap(Unicode.Scalar.init)
            + ["a", "é", "\u{202E}", "\u{2028}", "\u{1F600}", "\\", "\t", "\n", "\r"]
        var reasons: [String] = []
        for _ in 0..<12 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 1...30, using: &g) { s.append(pool.randomElement(using: &g)!) }
            reasons.append(String(s))
        }
        for reason in reasons {
            let r = try jitsh(["grant", "create", "--for", "alice", "--role", "readonly", "--reason", reason])
            #expect(r.status == 0, "\(reason.debugDescription): \(r)")
        }
        _ = try shows(["grant", "list"], rows: reasons.count + 1)
        let json = try jitsh(["grant", "list", "--json"])
        let grants = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]])
        #expect(Set(grants.compactMap { $0["reason"] as? String }) == Set(reasons))
    }
}
