import Foundation
import PostgresStore
import Store
import Testing
import TestSupport

extension SessionTests {
    /// Watched files on a fleet host: the images a line's changes left in the spool reach the
    /// central store with the recording that names them, so it verifies them as the spool does
    /// and keeps them after the spool prunes the recording.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct FleetSnapshotTests {
        static let watched = "/tmp/jitsh-fleetsnap"

        @Test func aLinesImagesShipWithItsRecordingAndOutliveTheSpool() async throws {
            let fm = FileManager.default
            try? fm.removeItem(atPath: Self.watched)
            try fm.createDirectory(atPath: Self.watched + "/conf", withIntermediateDirectories: true)
            defer { try? fm.removeItem(atPath: Self.watched) }
            let conf = Self.watched + "/conf/app.conf"
            try Data("listen 80\nserver_name example\n".utf8).write(to: URL(fileURLWithPath: conf))
            try Harness.run("/bin/chown", ["-R", Harness.user + ":", Self.watched])
            let bed = try FleetBed(role: """
                role: operator
                recording: buffered
                offline: {cached: 1h}
                allow:
                  - cmd: [seq, sleep, sed, cat]
                writes: ["/tmp/**"]
                snapshot:
                  - paths: ["\(Self.watched)/conf/**"]
                """)
            defer { bed.close() }
            _ = try await bed.grant()
            try await bed.syncAll()
            let host = bed.hosts[1]

            try await FleetBed.blocking {
                let c = try SSHClient(port: host.port, user: Harness.user, keyFile: bed.aliceKey).shell()
                guard c.wait(for: "] ~$ ", timeout: 15) else { throw FleetBed.Failure(description: "no prompt: \(c.text)") }
                for line in ["sed -i s/80/8080/ \(conf)", "sed -i s/example/example.org/ \(conf)"] {
                    let from = c.output.count
                    c.write(line + "\r")
                    // sed -i destroys what was there: confirmed, as an engineer would.
                    guard c.wait(for: SessionTests.phrasePrompt, from: from, timeout: 15) else {
                        throw FleetBed.Failure(description: "no confirmation asked for \(line): \(c.text.debugDescription)")
                    }
                    let asked = c.output.count
                    c.write("yes\r")
                    guard c.wait(for: "] ~$ ", from: asked, timeout: 15) else {
                        throw FleetBed.Failure(description: "after \(line): \(c.text.debugDescription)")
                    }
                }
                c.write("exit\r")
                c.drain(timeout: 10)
            }
            #expect(try String(contentsOfFile: conf, encoding: .utf8) == "listen 8080\nserver_name example.org\n")
            let spool = try bed.spool(host)
            let id = try #require(try spool.latestSessionID())
            let images = try spool.images(session: id)
            #expect(images.count == 2 && images.allSatisfy { $0.path == conf }, "\(images)")
            try await bed.syncAll()

            let central = try bed.central()
            #expect(try central.images(session: id) == images)
            let digests = Set(images.flatMap { [$0.before?.digest, $0.after?.digest] }.compactMap { $0 })
            #expect(digests.count == 3)
            for d in digests {
                let content = try #require(try central.imageContent(session: id, digest: d), "content \(d) not central")
                #expect(content == (try spool.imageContent(session: id, digest: d)))
            }
            #expect(try bed.sql("SELECT count(*) FROM snapshot_contents WHERE session_id = '\(id)'") == "3")
            let key = try SigningKey.load(host.signingKey).publicKey
            let verified = try central.verify(id, key: key)
            #expect(verified.ok && verified.summary.contains("2 snapshot images"), "\(verified)")
            // Reviewed from another host: the same verdict, through the CLI.
            let shown = try await bed.jitsh(bed.hosts[2], ["sessions", "verify", id])
            #expect(shown.status == 0 && shown.output.contains("2 snapshot images"), "\(shown)")
            // Syncing again sends nothing twice.
            try await bed.syncAll()
            #expect(try bed.sql("SELECT count(*) FROM snapshot_images WHERE session_id = '\(id)'") == "2")

            // The spool prunes the recording and its images; the central store keeps them.
            try await Task.sleep(for: .milliseconds(1100))
            let pruned = try await bed.jitsh(host, ["sessions", "prune", "--older-than", "1s"])
            #expect(pruned.status == 0 && pruned.output.contains("pruned \(id)"), "\(pruned)")
            #expect(try spool.images(session: id).isEmpty)
            #expect(try central.verify(id, key: key).ok)
        }
    }
}
