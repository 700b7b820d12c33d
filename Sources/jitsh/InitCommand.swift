import ArgumentParser
import Foundation
import Session
import Store

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create this host's store and signing key where jitsh.yaml says (run by make install).",
        discussion: """
            Existing files are kept. As root, the store directory and files get group jitsh and no access \
            for others, and the key is readable by that group only.

            Example:
              sudo jitsh init
            """
    )

    @Option(help: ArgumentHelp("The host configuration (root only).", valueName: "path"))
    var config: String?

    func run() throws {
        let installation: Installation
        do { installation = try Installation.load(override: config) } catch {
            Console.error("\(error)")
            throw ExitCode(ExitStatus.error)
        }
        let c = installation.configuration
        let fm = FileManager.default
        let group = Account.groupID("jitsh")
        func own(_ path: String, mode: Int) {
            if Account.isRoot, let group { _ = chown(path, 0, group) }
            _ = chmod(path, mode_t(mode))
        }
        do {
            let directory = (c.storePath as NSString).deletingLastPathComponent
            if !fm.fileExists(atPath: directory) {
                try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
                own(directory, mode: 0o770)
                Console.line("created \(directory)")
            }
            let existed = fm.fileExists(atPath: c.storePath)
            let store = try SQLiteStore(path: c.storePath, create: true)
            _ = try store.integrity()
            for suffix in ["", "-wal", "-shm"] where fm.fileExists(atPath: c.storePath + suffix) { own(c.storePath + suffix, mode: 0o660) }
            Console.line(existed ? "store \(c.storePath) is there" : "created store \(c.storePath)")
            if fm.fileExists(atPath: c.signingKeyPath) {
                let key = try SigningKey.load(c.signingKeyPath)
                Console.line("signing key \(c.signingKeyPath) is there (id \(key.id))")
            } else {
                let keyDirectory = (c.signingKeyPath as NSString).deletingLastPathComponent
                try fm.createDirectory(atPath: keyDirectory, withIntermediateDirectories: true)
                let key = try SigningKey.create(c.signingKeyPath)
                own(c.signingKeyPath, mode: 0o640)
                Console.line("created signing key \(c.signingKeyPath) (id \(key.id))")
            }
        } catch {
            Console.error("\(error)")
            throw ExitCode(ExitStatus.error)
        }
    }
}
