import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Delivers webhook notifications from the outbox. A grant change is committed with its
/// notification first; delivery comes after, waits a bounded time, and a failure only leaves
/// the message for the next attempt (`jitsh grant notify`, a systemd timer).
public struct Outbox: Sendable {
    public let store: Store
    public let webhook: String?

    public init(store: Store, webhook: String?) {
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
                let delay = Int64(min(3600, 30 << min(item.attempts, 7)))
                try? store.markFailed(item.id, error: message, retryAt: now + delay)
                report.failed += 1
                report.lastError = message
            }
        }
        return report
    }

    enum PostResult { case success, failure(String) }

    static func post(_ payload: String, to url: URL, timeout: TimeInterval) -> PostResult {
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(payload.utf8)
        let done = DispatchSemaphore(value: 0)
        let result = Locked<PostResult>(.failure("no answer within \(Int(timeout * 1000)) ms"))
        let task = URLSession.shared.dataTask(with: request) { _, response, error in
            if let error {
                result.set(.failure(error.localizedDescription))
            } else if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
                result.set(.failure("HTTP \(http.statusCode)"))
            } else {
                result.set(.success)
            }
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeout) == .timedOut { task.cancel() }
        return result.get()
    }
}

/// A value shared with a callback on another thread.
final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
}
