import Backoff
import DequeModule
import HeapModule

/// A token bucket: `rate` tokens a second up to `burst`; each item takes one,
/// and an item arriving with the bucket empty waits for its token.
public struct TokenBucket: Sendable, Hashable {
    /// Tokens added per second.
    public var rate: Double
    /// The most tokens held.
    public var burst: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant?

    /// A full bucket.
    public init(rate: Double, burst: Int) {
        self.rate = rate
        self.burst = Double(burst)
        self.tokens = Double(burst)
    }

    /// Takes a token at `now`; returns how long the caller must wait for it.
    public mutating func reserve(now: ContinuousClock.Instant) -> Duration {
        if let updated {
            let elapsed = (now - updated) / .seconds(1)
            tokens = min(burst, tokens + max(0, elapsed) * rate)
        }
        updated = now
        tokens -= 1
        guard tokens < 0, rate > 0 else { return .zero }
        return .nanoseconds(Int64(-tokens / rate * 1e9))
    }
}

/// The work queue's rules, with no locks, continuations or clocks
/// (time is passed in): de-duplication, one key in flight at a time,
/// delayed adds, per-key exponential backoff and the overall token bucket.
public struct WorkQueueStateMachine<Key: Hashable & Sendable>: Sendable {
    /// Keys ready to be handed out, in order.
    private(set) var queue: Deque<Key> = []
    /// Keys that need processing (queued, or re-added while being processed).
    private(set) var dirty: Set<Key> = []
    /// Keys being processed.
    private(set) var processing: Set<Key> = []
    /// Keys to add once their time comes.
    private(set) var delayed: [Key: ContinuousClock.Instant] = [:]
    /// The times of `delayed`, earliest first, so that finding the due keys does not
    /// scan them all. An entry whose key is no longer delayed at that time is stale
    /// and dropped when it comes first; the first entry is never stale.
    private var deadlines = Heap<Deadline<Key>>()
    /// Consecutive failures per key.
    private(set) var failures: [Key: Int] = [:]
    private var bucket: TokenBucket
    /// Whether the queue stopped handing out keys.
    public private(set) var isShutDown = false

    /// The first per-key backoff delay.
    public let baseDelay: Duration
    /// The largest per-key backoff delay.
    public let maxDelay: Duration

    /// A queue with per-key backoff `baseDelay × 2^failures` up to `maxDelay`
    /// and an overall bucket of `rate` keys a second, `burst` at once.
    public init(baseDelay: Duration = .milliseconds(5), maxDelay: Duration = .seconds(1000), rate: Double = 10, burst: Int = 100) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.bucket = TokenBucket(rate: rate, burst: burst)
    }

    /// Keys ready to be handed out.
    public var depth: Int { queue.count }
    /// Keys being processed.
    public var inFlight: Int { processing.count }
    /// Keys waiting for their delay.
    public var waiting: Int { delayed.count }
    /// The consecutive failures of `key`.
    public func failureCount(_ key: Key) -> Int { failures[key] ?? 0 }
    /// Whether `key` is being processed.
    public func isProcessing(_ key: Key) -> Bool { processing.contains(key) }

    /// Adds `key` now unless it is already waiting; a key being processed is
    /// queued again when it is done. Returns whether a key became ready.
    @discardableResult
    public mutating func add(_ key: Key) -> Bool {
        guard !isShutDown, !dirty.contains(key) else { return false }
        dirty.insert(key)
        if delayed.removeValue(forKey: key) != nil { dropStaleDeadlines() }
        guard !processing.contains(key) else { return false }
        queue.append(key)
        return true
    }

    /// Adds `key` once `delay` has passed (an earlier pending time wins).
    /// Returns whether a key became ready now.
    @discardableResult
    public mutating func add(_ key: Key, after delay: Duration, now: ContinuousClock.Instant) -> Bool {
        guard delay > .zero else { return add(key) }
        guard !isShutDown, !dirty.contains(key) else { return false }
        let due = now + delay
        if let existing = delayed[key], existing <= due { return false }
        delayed[key] = due
        deadlines.insert(Deadline(due: due, key: key))
        dropStaleDeadlines()
        return false
    }

    /// The delay the rate limiter gives `key` for its next failure, and counts the failure.
    public mutating func nextBackoff(_ key: Key, now: ContinuousClock.Instant) -> Duration {
        let count = failures[key, default: 0]
        failures[key] = count + 1
        let perKey = Backoff(initial: baseDelay, maximum: maxDelay, jitter: 0).delay(attempt: count, random: 0.5)
        return max(perKey, bucket.reserve(now: now))
    }

    /// Adds `key` after its backoff (see ``nextBackoff(_:now:)``).
    @discardableResult
    public mutating func addRateLimited(_ key: Key, now: ContinuousClock.Instant) -> Duration {
        let delay = nextBackoff(key, now: now)
        add(key, after: delay, now: now)
        return delay
    }

    /// Forgets `key`'s failures (after a success).
    public mutating func forget(_ key: Key) {
        failures[key] = nil
        releaseEmptyStorage()
    }

    /// Moves delayed keys whose time has come into the queue; returns how many became ready.
    @discardableResult
    public mutating func promoteDue(now: ContinuousClock.Instant) -> Int {
        var ready = 0
        while let first = deadlines.min, first.due <= now {
            deadlines.removeMin()
            guard delayed[first.key] == first.due else { continue }  // stale
            delayed[first.key] = nil
            if add(first.key) { ready += 1 }
        }
        dropStaleDeadlines()
        return ready
    }

    /// When the next delayed key is due.
    public var nextDeadline: ContinuousClock.Instant? { deadlines.min?.due }

    private mutating func dropStaleDeadlines() {
        while let first = deadlines.min, delayed[first.key] != first.due { deadlines.removeMin() }
    }

    /// Hands out the next key and marks it in flight; nil if none is ready or the queue is shut down.
    public mutating func next() -> Key? {
        guard !isShutDown, let key = queue.popFirst() else { return nil }
        dirty.remove(key)
        processing.insert(key)
        releaseEmptyStorage()
        return key
    }

    /// Frees the tables of empty containers: a hash table or deque keeps the
    /// capacity of the most keys it ever held (every cached object, after a relist)
    /// until it is replaced.
    private mutating func releaseEmptyStorage() {
        if queue.isEmpty { queue = [] }
        if dirty.isEmpty { dirty = [] }
        if processing.isEmpty { processing = [] }
        if delayed.isEmpty {
            delayed = [:]
            deadlines = Heap()
        }
        if failures.isEmpty { failures = [:] }
    }

    /// Marks `key` processed; if it was added meanwhile it is queued again (returns true).
    @discardableResult
    public mutating func done(_ key: Key) -> Bool {
        processing.remove(key)
        guard dirty.contains(key), !isShutDown else {
            releaseEmptyStorage()
            return false
        }
        queue.append(key)
        return true
    }

    /// Stops handing out keys.
    public mutating func shutdown() {
        isShutDown = true
        delayed = [:]
        deadlines = Heap()
    }
}

/// A delayed key and when it is due, ordered by that time.
private struct Deadline<Key: Hashable & Sendable>: Comparable, Sendable {
    var due: ContinuousClock.Instant
    var key: Key

    static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.due < rhs.due }
    static func == (lhs: Deadline, rhs: Deadline) -> Bool { lhs.due == rhs.due && lhs.key == rhs.key }
}
