import Crypto
import Foundation
import Policy
import ShellSyntax
import Store

/// A confirmation for automation without a terminal: a dry run prints a token bound to the
/// identity, the host, the exact line and the dry run's result, valid five minutes, usable once.
/// It is a MAC under a key derived from the host's signing key, so nothing is stored until used.
struct ConfirmToken {
    static let lifetime: Int64 = 300

    let key: SymmetricKey

    init(signingKey: SigningKey) {
        let material = Data("jitsh confirm token v1".utf8) + signingKey.privateKey.rawRepresentation
        key = SymmetricKey(data: SHA256.hash(data: material))
    }

    func make(identity: String, host: String, line: String, fingerprints: [[UInt8]], expires: Int64) -> String {
        "\(expires)-" + mac(identity: identity, host: host, line: line, fingerprints: fingerprints, expires: expires)
    }

    enum Check: Equatable {
        case valid(expires: Int64)
        case malformed
        case expired
        /// The line, the identity or the dry run's result differ from what the token was made for.
        case mismatch
    }

    func check(_ token: String, identity: String, host: String, line: String, fingerprints: [[UInt8]], now: Int64) -> Check {
        let parts = token.split(separator: "-", maxSplits: 1)
        guard parts.count == 2, let expires = Int64(parts[0]), parts[1].count == 32 else { return .malformed }
        let expected = mac(identity: identity, host: host, line: line, fingerprints: fingerprints, expires: expires)
        // Compared in constant time: the token is a secret until used.
        guard expected.utf8.count == parts[1].utf8.count,
              zip(expected.utf8, parts[1].utf8).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { return .mismatch }
        guard now <= expires else { return .expired }
        return .valid(expires: expires)
    }

    private func mac(identity: String, host: String, line: String, fingerprints: [[UInt8]], expires: Int64) -> String {
        var message = Data()
        for field in [identity, host, line, String(expires)] { message += Data(field.utf8) + Data([0]) }
        for f in fingerprints { message += Data(f) + Data([0]) }
        return HMAC<SHA256>.authenticationCode(for: message, using: key).prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}

extension Session {
    /// The grant's contract lets automation confirm with a token.
    var tokensAllowed: Bool {
        setup.policy.contracts.first { $0.name == setup.grant.contract }?.confirmTokens ?? false
    }

    /// Exec mode without a terminal: either a refusal naming `ssh -t`, or, where the contract allows
    /// it, the dry run and a token; with a valid token, the line runs once.
    func confirmWithoutTerminal(_ line: String, _ decision: Decision, token: String?) -> JobOutcome {
        let stderr = { (text: String) in self.say(text, stream: .stderr) }
        guard tokensAllowed else {
            stderr("\(decision.headline(line: line))\njitsh: it needs a terminal to confirm: ssh -t \(setup.host.shortName) '…'; nothing ran\n")
            return .exited(126)
        }
        guard let current = prepare(line, decision, stream: .stderr) else { return .exited(126) }
        let tokens = ConfirmToken(signingKey: setup.signingKey)
        guard let token else {
            let made = tokens.make(identity: setup.identity, host: setup.host.name, line: line, fingerprints: current.fingerprints,
                                   expires: now / Duration.second + ConfirmToken.lifetime)
            stderr("\(decision.headline(line: line))\n" + current.reports.flatMap(\.lines).joined(separator: "\n") + "\n"
                   + "jitsh: nothing ran. To run exactly this line once, within 5 minutes:\n"
                   + "  ssh \(setup.host.shortName) confirm \(made) \(Quote.always(line))\n")
            confirmEvent(.confirmShown, line, decision: .confirm, reason: "token issued", data: ["count": .int(current.count)])
            return .exited(126)
        }
        let refuse = { (why: String) -> JobOutcome in
            stderr("jitsh: the confirm token is refused: \(why); nothing ran\n")
            self.confirmEvent(.confirmCancelled, line, decision: .deny, reason: "token refused: \(why)")
            return .exited(126)
        }
        switch tokens.check(token, identity: setup.identity, host: setup.host.name, line: line, fingerprints: current.fingerprints, now: now / Duration.second) {
        case .malformed: return refuse("it is not a token jitsh printed")
        case .expired: return refuse("it has expired; run the line again for a new one")
        case .mismatch: return refuse("it was made for another line, or the dry run's result has changed since")
        case .valid:
            break
        }
        if (try? setup.store.auditExists(kind: .confirmTokenUsed, reason: token)) != false {
            return refuse("it was used already")
        }
        guard audit(.confirmTokenUsed, line: line, decision: .allow, reason: token),
              confirmEvent(.confirmed, line, decision: .allow, reason: "confirm token", data: ["count": .int(current.count)]) else {
            return refuse("its use cannot be recorded (\(auditFailure ?? "store error"))")
        }
        confirmed = confirmedCommands(decision)
        defer { confirmed = [] }
        return runPiped(line)
    }
}
