import Synchronization

/// Wakes the consumers of a queue when work may have arrived, and its senders when room may
/// have been made, without polling: a store signals after each commit, and a waiter that read
/// a queue's ``generation(_:)`` before looking at the store never misses a signal given after.
///
/// Signals coalesce: a waiter learns that something happened, not how often. Nothing runs
/// while nothing is signalled; a wait with a deadline sleeps only until then.
public final class QueueSignals: Sendable {
    /// What a signal is about.
    public enum Key: Sendable, Hashable {
        /// Messages may be available to claim in the queue.
        case work(DurableQueue)
        /// Messages left the queue: senders held back by its backlog limit may go on.
        case space(DurableQueue)
    }

    private typealias Machine = QueueSignalsStateMachine<Key, CheckedContinuation<Void, Never>>
    private let state = Mutex(Machine())
    /// Where signals given here are passed on to other processes, once set (``relay(to:)``).
    private let relay = Mutex<Relay?>(nil)

    /// A relay function in a struct of its own. Kept bare in the `Mutex` (generic storage), the
    /// function was converted between its generic and its concrete representation at every
    /// access — `withLock` reads and writes back its value — and each conversion wrapped it in
    /// one more reabstraction thunk: every signal made the next one slower (a chain as deep as
    /// the signals given, a stack overflow in the end). A struct's field keeps one representation.
    private struct Relay: Sendable {
        let pass: @Sendable ([Key]) -> Void
    }

    /// Signals nobody is waiting for yet.
    public init() {}

    /// A number that changes whenever `key` is signalled (or its queue forgotten), and never
    /// comes back to an earlier value: read it before looking at the store, and pass it to
    /// ``wait(for:after:until:)``. Only its changes mean something, not its value.
    public func generation(_ key: Key) -> UInt64 {
        state.withLock { $0.generation(key) }
    }

    /// Signals `keys`: waiters of each wake up, and the relay (if set) passes them on.
    public func signal(_ keys: some Sequence<Key>) {
        let keys = Array(keys)
        guard !keys.isEmpty else { return }
        wake(keys)
        relay.withLock { $0 }?.pass(keys)
    }

    /// Wakes this process's waiters of `keys` without relaying: for signals that came from
    /// another process (relaying them would pass them back and forth), and for wake-ups that
    /// concern this process only (a consumer asked to stop, a flow paused or resumed).
    public func wakeLocally(_ keys: some Sequence<Key>) {
        let keys = Array(keys)
        guard !keys.isEmpty else { return }
        wake(keys)
    }

    /// Passes every signal given with ``signal(_:)`` from now on to `relay` too: how a store
    /// without notifications of its own (SQLite) reaches the other processes sharing it.
    public func relay(to relay: @escaping @Sendable ([Key]) -> Void) {
        self.relay.withLock { $0 = Relay(pass: relay) }
    }

    private func wake(_ keys: [Key]) {
        let waiters = state.withLock { machine in
            var waiters: [CheckedContinuation<Void, Never>] = []
            for key in keys { waiters += machine.signal(key) }
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Signals one key.
    public func signal(_ key: Key) { signal(CollectionOfOne(key)) }

    /// Forgets `queue`'s generations (its node was deleted), so that the signals do not grow
    /// with every queue that ever existed; its waiters wake, and so does a waiter that read a
    /// generation of it before and waits after.
    public func forget(_ queue: DurableQueue) {
        let waiters = state.withLock { machine in machine.forget(.work(queue)) + machine.forget(.space(queue)) }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once `key` was signalled after generation `seen` (at once if it already was),
    /// at `deadline` if one is given, or when the task is cancelled.
    public func wait(for key: Key, after seen: UInt64, until deadline: ContinuousClock.Instant? = nil) async {
        guard let deadline else {
            await waitForSignal(key, after: seen)
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal(key, after: seen) }
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Whether nothing is kept: no generation, no waiter (what tests check after the waits ended).
    var isIdle: Bool { state.withLock { $0.isEmpty } }

    private func waitForSignal(_ key: Key, after seen: UInt64) async {
        let id = state.withLock { $0.reserve() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // No `Task.isCancelled` shortcut: a task cancelled before it got here had its
                // cancellation handler run already, which marked the id, and the parking refuses
                // (and forgets the mark). Skipping the parking would keep the mark for ever.
                let parked = state.withLock { machine in machine.park(continuation, id: id, for: key, after: seen) }
                if !parked { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.cancel(id, for: key) }?.resume()
        }
    }
}
