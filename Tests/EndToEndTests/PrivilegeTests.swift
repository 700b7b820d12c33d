import Foundation
import Testing

/// Privilege by construction: the installed setgid jitsh drops its group at start and raises it
/// only to open the store, the key and the configuration, so nothing a person types reaches
/// what the group may read.
extension SessionTests {
    /// The `Gid:` line of the jitsh process above the job: real, effective, saved, file system.
    static let jitshGids = """
        python3 -c 'import os
        p = os.getppid()
        while p > 1:
            s = open("/proc/%d/status" % p).read()
            if s.split("\\n")[0].split("\\t")[1] == "jitsh":
                print([l for l in s.split("\\n") if l.startswith("Gid:")][0])
                break
            p = int([l for l in s.split("\\n") if l.startswith("PPid:")][0].split()[1])'
        """

    @Test func aSessionRunsWithThePersonsGroupAndKeepsJitshsOnlyAsTheSavedOne() throws {
        try h.grant(role: "e2e-escapes")
        let c = try h.connect().exec(SessionTests.jitshGids)
        let fields = c.text.split(separator: "\n").first { $0.hasPrefix("Gid:") }?.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst()
            .compactMap { UInt32($0) } ?? []
        let jitsh = getgrnam("jitsh").pointee.gr_gid
        #expect(fields.count == 4, "\(c.text) \(c.errorText)")
        guard fields.count == 4 else { return }
        #expect(fields[0] != jitsh, "the test account's own group is jitsh's: \(fields)")
        #expect(fields[1] == fields[0] && fields[3] == fields[0], "effective and file-system groups are not the person's: \(fields)")
        #expect(fields[2] == jitsh, "the saved group is not jitsh's, so the store could not be reached: \(fields)")
        // And the session still recorded through the connection opened before the drop.
        let last = try h.lastSession()
        #expect(last.end?.exitReason == "exit", "\(String(describing: last.end))")
        #expect(last.frames.contains { String(decoding: $0.data, as: UTF8.self).contains("Gid:") })
    }

    /// Completion lists what the person may list: the store's directory is the jitsh group's.
    @Test func completionDoesNotListTheStoresDirectory() throws {
        try h.grant(role: "e2e-escapes")
        let directory = (h.storePath as NSString).deletingLastPathComponent
        let (client, c) = try shell()
        _ = client
        let from = c.output.count
        c.write("cat \(directory)/jit\t")
        c.drain(timeout: 0.4)
        c.write("\t\t")
        c.drain(timeout: 0.4)
        let shown = String(decoding: c.output[from...], as: UTF8.self)
        #expect(shown.contains("\(directory)/jit"), "\(shown)")
        #expect(!shown.contains("sh.db") && !shown.contains("signing"), "completion read the store's directory: \(shown)")
        c.write([3])
    }
}
