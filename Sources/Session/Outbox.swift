import Foundation
import Policy
import Posix
import Store

/// Delivers webhook notifications from the outbox. A grant change is committed with its
/// notification first; delivery comes after, waits a bounded time, and a failure only leaves
/// the message for the next attempt (`jitsh grant notify`, a systemd timer).
public struct Outbox: Sendable {
    public let store: any OutboxStore
    public let webhook: String?

    public init(store: any OutboxStore, webhook: String?) {
        self.store = store
        self.webhook = webhook
    }

    public struct Report: Sendable, Equatable {
        public var delivered = 0
        public var failed = 0
        public var lastError: String?
    }

    /// Sends what is due, spending at most `budget` seconds in all.
    @discardableResult
    public func deliver(now: Int64, budget: TimeInterval = 2) -> Report {
        var report = Report()
        guard let webhook, let url = URL(string: webhook) else { return report }
        guard let due = try? store.dueNotifications(now: now, limit: 20) else { return report }
        let deadline = Date().addingTimeInterval(budget)
        for item in due {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0.05 else { break }
            switch Self.post(item.payload, to: url, timeout: remaining) {
            case .success:
                try? store.markDelivered(item.id, at: now)
                report.delivered += 1
            case .failure(let message):
                // Back off: 30 s, 1 min, 2 min … up to an hour.
                let delay = Int64(min(3600, 30 << min(item.attempts, 7))) * Duration.second
                try? store.markFailed(item.id, error: message, retryAt: now + delay)
                report.failed += 1
                report.lastError = message
            }
        }
        return report
    }

    enum PostResult { case success, failure(String) }

    /// POSTs with curl(1) rather than URLSession: linking FoundationNetworking would load libcurl
    /// and thirty libraries more on every SSH connection (8 ms of jitsh's start), for a webhook
    /// that grant commands alone send. curl runs without jitsh's group, the payload on its stdin.
    /// Where curl(1) is, if installed.
    public static var curlPath: String? {
        let candidates: [String] = ["/usr/bin/curl", "/usr/local/bin/curl", "/bin/curl"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func post(_ payload: String, to url: URL, timeout: TimeInterval) -> PostResult {
        guard let curl = curlPath else {
            return .failure("curl is not installed; webhook notifications wait in the outbox until it is")
        }
        let argv = [curl, "--silent", "--show-error", "--output", "/dev/null", "--write-out", "%{http_code}",
                    "--max-time", String(format: "%.3f", max(0.1, timeout)), "--header", "Content-Type: application/json",
                    "--data-binary", "@-", "--", url.absoluteString]
        let run = ChildProcess.run(argv, input: Array(payload.utf8), timeout: timeout + 1)
        guard let status = run.status else { return .failure("no answer within \(Int(timeout * 1000)) ms") }
        let code = Int(String(decoding: run.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        if status != 0 {
            let message = String(decoding: run.errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return .failure(message.isEmpty ? "curl exited with status \(status)" : message)
        }
        return (200..<300).contains(code) ? .success : .failure("HTTP \(code)")
    }
}
