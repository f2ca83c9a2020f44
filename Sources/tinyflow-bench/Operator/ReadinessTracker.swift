import CRDModels
import KubernetesModels
import KubernetesRuntime
import Synchronization

/// The part of a TinyNode the bench follows: its Ready condition. Decoding only
/// this keeps the bench's own share of the two cores small.
struct NodeReadiness: KubernetesObject {
    struct Status: Codable, Sendable {
        var conditions: [Condition] = []
    }

    static var apiVersion: String { TinyNode.apiVersion }
    static var kind: String { TinyNode.kind }
    static var plural: String { TinyNode.plural }
    static var isNamespaced: Bool { TinyNode.isNamespaced }
    var metadata: ObjectMeta
    var status: Status?
}

/// Follows TinyNode watch events and tells when a number of nodes are Ready:
/// the bench's clock stops at the event that made the count reach it.
final class ReadinessTracker: Sendable {
    private struct State {
        var ready: Set<String> = []
        var lastChange = ContinuousClock.now
        var waiters: [(id: Int, count: Int, continuation: CheckedContinuation<ContinuousClock.Instant?, Never>)] = []
        var nextID = 0
    }

    private let store = Store<NodeReadiness>()
    private let state = Mutex(State())

    /// How many nodes are Ready now.
    var readyCount: Int { state.withLock { $0.ready.count } }

    /// Applies one watcher event (called from `Watcher.drive`).
    func apply(_ event: WatcherEvent<NodeReadiness>) {
        let changes = store.apply(event)
        guard !changes.isEmpty else { return }
        let now = ContinuousClock.now
        let resumed: [CheckedContinuation<ContinuousClock.Instant?, Never>] = state.withLock { state in
            state.lastChange = now
            for change in changes {
                if let new = change.new, new.status?.conditions.isTrue(TinyNodeCondition.ready) ?? false {
                    state.ready.insert(change.key.name)
                } else {
                    state.ready.remove(change.key.name)
                }
            }
            let count = state.ready.count
            var due: [CheckedContinuation<ContinuousClock.Instant?, Never>] = []
            state.waiters.removeAll { waiter in
                guard waiter.count <= count else { return false }
                due.append(waiter.continuation)
                return true
            }
            return due
        }
        for continuation in resumed { continuation.resume(returning: now) }
    }

    /// Waits until no TinyNode has changed for `quiet` (the operator has written
    /// every status it had to): what follows is its steady state.
    func waitUntilQuiet(for quiet: Duration, timeout: Duration) async throws {
        try await waitFor("the TinyNodes to stop changing", timeout: timeout) {
            ContinuousClock.now - state.withLock { $0.lastChange } >= quiet
        }
    }

    /// Waits until at least `count` nodes are Ready; returns when the event
    /// that reached the count arrived, or `nil` if the task was cancelled.
    func waitUntilReady(_ count: Int) async -> ContinuousClock.Instant? {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let answer: ContinuousClock.Instant?? = state.withLock { state in
                    if state.ready.count >= count { return .some(.now) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters.append((id, count, continuation))
                    return .none
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                state.waiters.firstIndex { $0.id == id }.map { state.waiters.remove(at: $0) }
            }
            waiter?.continuation.resume(returning: nil)
        }
    }
}
