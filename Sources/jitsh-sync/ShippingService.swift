import Fleet
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Store

/// The loop of `jitsh sync`: a step (ship for up to a second, refresh the view) whenever the
/// central store announces a grant or lock change, at least every second, and straight after a
/// step that left shipping behind; after a failure, jittered backoff. On
/// SIGTERM it ships what it can once more, then returns.
struct ShippingService: Service {
    let sync: FleetSync
    let logger: Logger

    let lag = Gauge(label: "jitsh_sync_lag_seconds")
    let queued = Gauge(label: "jitsh_sync_queued_bytes")
    let quarantined = Gauge(label: "jitsh_sync_quarantined_sessions")
    let viewAge = Gauge(label: "jitsh_sync_view_age_seconds")
    let shippedBytes = Counter(label: "jitsh_sync_shipped_bytes_total")
    let failures = Counter(label: "jitsh_sync_failures_total")

    func run() async throws {
        var attempt = 0
        var lastError: String?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let outcome = await blocking { Result { try sync.step() } }
            switch outcome {
            case .success(let r):
                if attempt > 0 { logger.info("the central store is reachable again") }
                attempt = 0
                lastError = nil
                if r.shipments > 0 { logger.info("shipped \(r.chunks) chunks (\(r.bytes) bytes), \(r.events) events, \(r.ended) ended sessions") }
                for id in r.adoptedEnds { logger.warning("session \(id): its signed end, refused by the spool's full disk, was taken from its end note") }
                for id in r.quarantined { logger.error("quarantined \(id.isEmpty ? "events of no session" : "session \(id)"): held in the spool") }
                shippedBytes.increment(by: Int(r.bytes))
            case .failure(let e):
                attempt += 1
                failures.increment()
                if "\(e)" != lastError { logger.warning("cannot ship: \(e)") }
                lastError = "\(e)"
            }
            await record()
            if case .success(let r) = outcome, r.more {
                continue
            } else if attempt == 0 {
                await blocking { _ = sync.waitForChange(timeout: 1) }
            } else {
                let delay = sync.backoff.delay(attempt: attempt - 1, unit: Double.random(in: 0..<1))
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int(delay * 1000))) }
            }
        }
        logger.info("stopping: shipping what waits")
        let last = await blocking { Result { try sync.once(attempts: 2) } }
        if case .failure(let e) = last { logger.warning("stopped with rows left in the spool: \(e)") }
        await record()
    }

    private func record() async {
        guard let s = await blocking({ try? sync.status() }) else { return }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        lag.record(s.lag(now: now))
        queued.record(Double(s.queuedBytes))
        quarantined.record(Double(s.quarantined))
        viewAge.record(s.viewRefreshed.map { Double(max(0, now - $0)) / 1_000_000 } ?? -1)
    }

    /// The store's calls block (bounded); they run off the cooperative pool.
    private func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { done in
            DispatchQueue.global().async { done.resume(returning: body()) }
        }
    }
}
