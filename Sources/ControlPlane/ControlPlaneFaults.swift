import Foundation
import Synchronization

/// Test hooks that make the control plane misbehave the way real API servers do, so
/// clients' retry, relist and backoff paths can be exercised on demand.
///
/// Every hook is safe to call from any task while the control plane is serving.
public final class ControlPlaneFaults: Sendable {
    struct State {
        var latency: Duration = .zero
        var failures: [(count: Int, status: Int, retryAfter: Int?, pathContains: String?)] = []
        var goneWatches = 0
    }

    private let state = Mutex(State())
    private let server: APIServer

    init(server: APIServer) {
        self.server = server
    }

    /// Delays every API request by `latency` before it is handled (`.zero` turns it off).
    public func setLatency(_ latency: Duration) {
        state.withLock { $0.latency = latency }
    }

    /// Answers the next `count` API requests whose path contains `pathContains` (all, if nil)
    /// with `status` (e.g. 500, 503 or 429) and a Kubernetes `Status` body; `retryAfter`
    /// adds a `Retry-After` header in seconds.
    public func failNextRequests(_ count: Int, status: Int = 500, retryAfter: Int? = nil, pathContains: String? = nil) {
        state.withLock { $0.failures.append((count, status, retryAfter, pathContains)) }
    }

    /// Makes the next `count` watch requests end at once with an `ERROR` event carrying `410 Gone`.
    public func expireNextWatches(_ count: Int = 1) {
        state.withLock { $0.goneWatches += count }
    }

    /// Ends every open watch stream now, as an API server restart or a load balancer would.
    public func closeWatches() async {
        await server.closeAllWatches()
    }

    /// Forgets the watch history: every watch or continue token older than the current
    /// resourceVersion now gets `410 Gone` (what etcd compaction does).
    public func compactHistory() async {
        await server.compactHistory()
    }

    /// Turns every fault off.
    public func reset() {
        state.withLock { $0 = State() }
    }

    var latency: Duration { state.withLock { $0.latency } }

    func takeFailure(path: String) -> (status: Int, retryAfter: Int?)? {
        state.withLock { state in
            guard let index = state.failures.firstIndex(where: { $0.pathContains.map(path.contains) ?? true }) else { return nil }
            let failure = state.failures[index]
            if failure.count <= 1 { state.failures.remove(at: index) } else { state.failures[index].count -= 1 }
            return (failure.status, failure.retryAfter)
        }
    }

    func takeGoneWatch() -> Bool {
        state.withLock { state in
            guard state.goneWatches > 0 else { return false }
            state.goneWatches -= 1
            return true
        }
    }
}
