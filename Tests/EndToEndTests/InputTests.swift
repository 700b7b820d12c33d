import Foundation
import Store
import Testing

/// Input no one should send, as a person might anyway: jitsh says no in one line and runs nothing.
extension SessionTests {
    @Test func aHugeLineIsRefusedWithAShortMessage() throws {
        try h.grant(role: "readonly")
        let c = try h.connect().exec("echo " + String(repeating: "a", count: 100_000))
        #expect(c.exitStatus == 126)
        #expect(c.text.isEmpty)
        #expect(c.errorText.contains("… (100005 bytes) — the line does not parse: 1:1: the line is 100005 bytes; the limit is 65536"))
        #expect(c.errorText.utf8.count < 400, "a \(c.errorText.utf8.count)-byte message")
    }

    @Test func invalidUTF8IsRefusedNotChanged() throws {
        try h.grant(role: "readonly")
        let marker = "/tmp/jitsh-e2e-utf8-\(getpid())"
        // Root may speak for an identity (--as); bash passes the raw bytes sshd would.
        let (status, output) = try Harness.execute("/bin/bash", ["-c",
            "SSH_ORIGINAL_COMMAND=$'echo \\xff > \(marker)' exec \(h.binary) --config \(h.config) --as \(Harness.user)"])
        #expect(status == 126)
        #expect(output.contains("jitsh: the command is not valid UTF-8"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }
}
