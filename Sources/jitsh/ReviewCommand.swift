import ArgumentParser
import Foundation
import Policy
import Session
import Store

/// `jitsh review login` (and `ssh HOST review login`, a reserved verb like `grant`): a one-time
/// link into `jitsh serve`, bound to the person this host knows, so the web app needs no passwords.
struct ReviewGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Sign in to the web app (jitsh serve) with a one-time link.",
        discussion: """
            Example:
              ssh review-host review login
              open the printed link (valid for two minutes, usable once) in your browser
            """,
        subcommands: [Login.self])

    struct Login: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a one-time sign-in link for jitsh serve (reviewers and approvers).")
        @OptionGroup var identity: HostOptions
        @Option(help: ArgumentHelp("The web app's address (default: review_url in jitsh.yaml).", valueName: "url"))
        var url: String?
        @Option(help: ArgumentHelp("The page to open after signing in (/sessions/3f2a).", valueName: "path"))
        var next: String?
        @Option(name: .customLong("valid-for"), help: .hidden)
        var validFor: Int = Int(ReviewToken.signInLifetime / Duration.second)

        func validate() throws {
            guard (1...Int(ReviewToken.signInLifetime / Duration.second)).contains(validFor) else { throw ValidationError("--valid-for: 1 to 120 seconds") }
            if let next, !next.hasPrefix("/") || next.hasPrefix("//") { throw ValidationError("--next: a path on the web app, like /sessions") }
        }

        func run() throws {
            let boot = try Bootstrap.verb(identity)
            let (installation, policy, requester) = (boot.installation, boot.policy, boot.requester)
            let store = try boot.sqliteStore(for: "jitsh review")
            guard ReviewAccess.mayReview(requester) || ReviewAccess.mayApprove(requester, policy: policy) else {
                Console.error("\(requester.identity) may neither review recordings nor approve grants on this host")
                throw ExitCode(1)
            }
            // Unix groups belong to the account: they count only when the person is the account.
            let login = Account.loginName()
            let who = ReviewIdentity(identity: requester.identity, isRoot: requester.isRoot,
                                     unixGroups: requester.identity == login ? Account.groups(of: requester.identity) : [])
            let now = Clock.now
            let token: String
            do { token = try store.issueSignInToken(for: who, now: now, lifetime: Duration.microseconds(seconds: validFor)) } catch {
                Console.error("\(error)")
                throw ExitCode(ExitStatus.error)
            }
            try? AuditTrail(store: store, identity: requester.identity, host: installation.configuration.host.name,
                            syslog: installation.configuration.auditSyslog)
                .record(.webSignInLink, decision: .allow, reason: "one-time link issued, valid \(validFor) s")
            let base = url.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? installation.configuration.reviewURL
            var link = "\(base)/login?token=\(token)"
            if let next { link += "&next=" + (next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/") }
            Console.line("Open this link in your browser within \(validFor) seconds (it works once) to sign in as \(requester.identity.visible):")
            Console.line(link)
        }
    }
}
