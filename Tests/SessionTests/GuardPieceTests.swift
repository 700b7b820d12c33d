import Foundation
@testable import Session
import Testing

/// The pure pieces of the guard's perimeter: the SFTP request filter, what a confirmation lets
/// run at exec time, and the family tree the session ends with its lines.
@Suite struct GuardPieceTests {
    static func packet(_ type: UInt8, id: UInt32 = 7, _ fields: [[UInt8]]) -> [UInt8] {
        let body = [type] + SFTPFilter.be32(id) + fields.flatMap { $0 }
        return SFTPFilter.be32(UInt32(body.count)) + body
    }

    static func string(_ s: String) -> [UInt8] { SFTPFilter.be32(UInt32(s.utf8.count)) + Array(s.utf8) }

    static let home = "/home/u"
    static func filter() -> SFTPFilter {
        SFTPFilter { path, ancestors in
            let p = path.hasPrefix("/") ? path : home + "/" + path
            let hit = ancestors ? LoginFilesProbe.inside(p) : LoginFilesProbe.covering(p)
            return hit ? "protected" : nil
        }
    }

    /// One request → refused (answered by jitsh) or passed to the server.
    static let requests: [(name: String, packet: [UInt8], refused: Bool)] = [
        ("open .bashrc for writing", packet(3, [string(".bashrc"), SFTPFilter.be32(0x02 | 0x08 | 0x10), SFTPFilter.be32(0)]), true),
        ("open .bashrc for reading", packet(3, [string(".bashrc"), SFTPFilter.be32(0x01), SFTPFilter.be32(0)]), false),
        ("open notes.txt for writing", packet(3, [string("notes.txt"), SFTPFilter.be32(0x1a), SFTPFilter.be32(0)]), false),
        ("open authorized_keys by absolute path", packet(3, [string("/home/u/.ssh/authorized_keys"), SFTPFilter.be32(0x0a), SFTPFilter.be32(0)]), true),
        ("open through ..", packet(3, [string("/home/u/x/../.profile"), SFTPFilter.be32(0x0a), SFTPFilter.be32(0)]), true),
        ("mkdir .ssh", packet(14, [string(".ssh"), SFTPFilter.be32(0)]), true),
        ("mkdir work", packet(14, [string("work"), SFTPFilter.be32(0)]), false),
        ("remove .zshenv", packet(13, [string(".zshenv")]), true),
        ("setstat .bash_login", packet(9, [string(".bash_login"), SFTPFilter.be32(0)]), true),
        ("rename onto .bashrc", packet(18, [string("x"), string(".bashrc")]), true),
        ("rename a tree onto .config", packet(18, [string("prepared"), string(".config")]), true),
        ("rename two plain files", packet(18, [string("a"), string("b")]), false),
        ("symlink to .ssh", packet(20, [string(".ssh"), string("link")]), true),
        ("posix-rename onto .profile", packet(200, [string("posix-rename@openssh.com"), string("x"), string(".profile")]), true),
        ("hardlink of .bashrc", packet(200, [string("hardlink@openssh.com"), string(".bashrc"), string("h")]), true),
        ("statvfs", packet(200, [string("statvfs@openssh.com"), string("/")]), false),
        ("read of a directory", packet(11, [string(".ssh")]), false),
    ]

    @Test(arguments: requests)
    func aRequestIsRefusedOrPassed(_ r: (name: String, packet: [UInt8], refused: Bool)) {
        var f = GuardPieceTests.filter()
        let (server, client) = f.feed(r.packet)
        #expect(server.isEmpty == r.refused, "\(r.name)")
        #expect(client.isEmpty == !r.refused, "\(r.name)")
        if r.refused {
            // SSH_FXP_STATUS for the same id, code 3 (permission denied).
            #expect(client.count > 17 && client[4] == 101 && SFTPFilter.u32(client, 5) == 7 && SFTPFilter.u32(client, 9) == 3)
        } else {
            #expect(server == r.packet)
        }
    }

    @Test func packetsSplitAnywhereAreFilteredTheSame() {
        let stream = GuardPieceTests.requests.flatMap(\.packet)
        var whole = GuardPieceTests.filter()
        let expected = whole.feed(stream)
        for step in [1, 3, 7, 64] {
            var f = GuardPieceTests.filter()
            var server: [UInt8] = [], client: [UInt8] = []
            var k = 0
            while k < stream.count {
                let (s, c) = f.feed(Array(stream[k..<min(stream.count, k + step)]))
                server += s
                client += c
                k += step
            }
            #expect(server == expected.toServer && client == expected.toClient, "step \(step)")
            #expect(f.refused.count == GuardPieceTests.requests.filter(\.refused).count)
        }
    }

    @Test func anImpossiblePacketLengthBreaksTheStream() {
        var f = GuardPieceTests.filter()
        let (server, _) = f.feed(SFTPFilter.be32(UInt32(SFTPFilter.maximumPacket + 1)) + [3, 0, 0, 0, 1])
        #expect(server.isEmpty && f.broken)
    }

    @Test func theFramerPassesOnlyWholePackets() {
        var framer = SFTPFramer()
        let a = GuardPieceTests.packet(101, [SFTPFilter.be32(0)]), b = GuardPieceTests.packet(102, [GuardPieceTests.string("h")])
        #expect(framer.feed(Array(a.prefix(3))).isEmpty)
        #expect(framer.feed(Array(a.dropFirst(3)) + Array(b.prefix(6))) == a)
        #expect(framer.feed(Array(b.dropFirst(6))) == b)
        #expect(framer.rest().isEmpty)
    }

    @Test(arguments: [
        (ConfirmedCommand(name: "rm", arguments: ["/tmp/d/a"]), ["rm"], ["/tmp/d/a"], true),
        (ConfirmedCommand(name: "rm", arguments: ["/tmp/d/a"]), ["rm"], ["/tmp/d/b"], false),
        (ConfirmedCommand(name: "rm", arguments: ["/tmp/d/a"]), ["rm"], ["-rf", "/tmp/d/a"], false),
        (ConfirmedCommand(name: "rm", arguments: ["/tmp/d/a"]), ["unlink"], ["/tmp/d/a"], false),
        (ConfirmedCommand(name: "rm", arguments: nil), ["rm"], ["anything"], true),
    ])
    func aConfirmationAdmitsExactlyItsArguments(_ c: ConfirmedCommand, names: [String], arguments: [String], admitted: Bool) {
        #expect(c.admits(names: names, arguments: arguments) == admitted)
    }

    @Test func subtreesKeepAStoppedJobAndWhatItStarted() {
        let members = [Family.Member(pid: 10, parent: 1), Family.Member(pid: 11, parent: 10), Family.Member(pid: 12, parent: 11),
                       Family.Member(pid: 20, parent: 1), Family.Member(pid: 21, parent: 20), Family.Member(pid: 30, parent: 1)]
        #expect(Family.subtrees(of: [10], in: members) == [10, 11, 12])
        #expect(Family.subtrees(of: [], in: members).isEmpty)
        #expect(Family.subtrees(of: [20, 30], in: members) == [20, 21, 30])
    }
}

import Policy

/// LoginFiles with the test's home.
enum LoginFilesProbe {
    static func covering(_ p: String) -> Bool { LoginFiles.covering(PathName.resolved(p, cwd: "/") ?? p, home: GuardPieceTests.home) != nil }
    static func inside(_ p: String) -> Bool { LoginFiles.inside(PathName.resolved(p, cwd: "/") ?? p, home: GuardPieceTests.home) != nil }
}
