/// The controller's queue of keys to reconcile: a key added many times is
/// processed once, never by two workers at once; failures back off per key
/// exponentially (5 ms → 1000 s by default) under an overall token bucket.
///
/// Workers loop: `while let key = await queue.next() { …; queue.done(key) }`.
public final class WorkQueue<Key: Hashable & Sendable>: Sendable {
    private let storage: WorkQueueStorage<Key>

    /// A queue; see ``WorkQueueStateMachine/init(baseDelay:maxDelay:rate:burst:)`` for the limits.
    public init(
        baseDelay: Duration = .milliseconds(5), maxDelay: Duration = .seconds(1000), rate: Double = 10, burst: Int = 100,
        onDepthChange: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        storage = WorkQueueStorage(
            machine: WorkQueueStateMachine(baseDelay: baseDelay, maxDelay: maxDelay, rate: rate, burst: burst),
            onDepthChange: onDepthChange)
    }

    /// Adds `key` (no-op if it is already waiting).
    public func add(_ key: Key) { storage.update { machine, _ in machine.add(key) } }

    /// Adds `key` after `delay` (requeue-after).
    public func add(_ key: Key, after delay: Duration) {
        storage.update { machine, now in machine.add(key, after: delay, now: now) }
    }

    /// Adds `key` after its backoff, counting a failure; returns the delay.
    @discardableResult
    public func addRateLimited(_ key: Key) -> Duration {
        storage.update { machine, now in machine.addRateLimited(key, now: now) }
    }

    /// Forgets `key`'s failures.
    public func forget(_ key: Key) { storage.update { machine, _ in machine.forget(key) } }

    /// The next key to process, waiting until one is ready; nil after ``shutdown()`` or on cancellation.
    public func next() async -> Key? { await storage.next() }

    /// Marks `key` processed (call exactly once per key from ``next()``).
    public func done(_ key: Key) { storage.update { machine, _ in machine.done(key) } }

    /// Stops handing out keys; waiting workers get nil.
    public func shutdown() { storage.update { machine, _ in machine.shutdown() } }

    /// Keys ready to be handed out.
    public var depth: Int { storage.read { $0.depth } }
    /// Keys being processed.
    public var inFlight: Int { storage.read { $0.inFlight } }
    /// The consecutive failures of `key`.
    public func failureCount(_ key: Key) -> Int { storage.read { $0.failureCount(key) } }
}
