public import Foundation

/// Where messages on durable edges wait until a consumer handled them: the seam every
/// backend (SQLite for one machine, PostgreSQL for clusters) implements, with the same
/// semantics and the same errors.
///
/// Semantics every backend follows (the conformance suite checks them):
/// - ``enqueue(_:maxBacklog:)`` returns once the messages are committed: they survive the
///   process. Concurrent calls may share one transaction (group commit).
/// - A queue is ordered by priority (higher first), then deadline (earliest first, none
///   last), then arrival. ``claim(from:limit:leaseDuration:)`` hands out the first messages
///   that are available (their `availableAt` passed) and not leased, and leases them: no
///   other claim returns them until the lease expires or they are released. A message whose
///   deadline passed is never handed out: the claim dead-letters it (``Claim/expired``).
/// - Each claim counts an attempt and gets a new lease token; only the holder of the current
///   token settles or extends the message. A lease that expires (its consumer died) makes the
///   message available again to any consumer of the store.
/// - ``settle(_:maxBacklog:)`` applies acknowledgements, retries, dead letters, new messages
///   and context mutations in one transaction: all or nothing. A lease no longer held throws
///   ``MessageStoreError/leaseLost(_:)``; a context mutation whose expected version does not
///   hold throws ``ContextStoreError/conflict(key:attempts:)`` (attempts 1) — in both cases
///   nothing was applied.
/// - A queue holds at most `maxBacklog` messages (leased and waiting ones, not dead letters):
///   enqueueing past it throws ``MessageStoreError/backlogFull(queue:limit:)`` and stores
///   nothing of the call.
/// - Times are measured by the backend's clock: the process's for SQLite, the database
///   server's for PostgreSQL.
/// - Every commit that makes messages available (new, released, replayed) signals their
///   queues on ``signals``; every commit that removes messages signals their queues'
///   space. PostgreSQL carries the signals to every process sharing the database.
public protocol MessageStore: Sendable {
    /// The limits this store enforces.
    var limits: MessageStoreLimits { get }
    /// Wakes the consumers (work) and senders (space) of this process.
    var signals: QueueSignals { get }

    /// Stores `messages`; returns once they are committed.
    func enqueue(_ messages: [PendingMessage], maxBacklog: Int) async throws

    /// Leases up to `limit` available messages of `queue` for `leaseDuration`, in the queue's
    /// order; dead-letters those whose deadline passed instead.
    func claim(from queue: DurableQueue, limit: Int, leaseDuration: Duration) async throws -> Claim

    /// Extends the leases still held to `leaseDuration` from now; returns those.
    func extend(_ leases: [Lease], leaseDuration: Duration) async throws -> [Lease]

    /// Commits `settlement` as one transaction (see the type's semantics).
    func settle(_ settlement: Settlement, maxBacklog: Int) async throws

    /// How many messages `queue` holds, leased or waiting (not dead letters).
    func backlog(of queue: DurableQueue) async throws -> Int

    /// Those of `queues` that hold messages, waiting or leased: what a host asks about its
    /// nodes' input ports so that messages stored on an edge that is gone now (its source was
    /// deleted, the edge removed or made `memory`) are consumed all the same.
    func queuesHoldingMessages(_ queues: [DurableQueue]) async throws -> Set<DurableQueue>

    /// The next instant after now at which a message of `queue` becomes available — a later
    /// `availableAt` or a lease's expiry — or `nil` if none will: what a consumer with
    /// nothing to claim arms its timer for, instead of polling.
    ///
    /// An instant not after now means a message is available already: its `availableAt` or
    /// lease expiry passed since the consumer's last claim, which no signal announces, so the
    /// consumer claims at once instead of waiting for a signal that will not come.
    func nextAvailableTime(of queue: DurableQueue) async throws -> Date?

    /// The dead letters `filter` selects, oldest first, at most `limit`.
    func deadLetters(_ filter: DeadLetterFilter, limit: Int) async throws -> [DeadLetter]

    /// Puts the dead letters `filter` selects back into their queues with their attempts
    /// reset, available at once; returns how many.
    func replay(_ filter: DeadLetterFilter) async throws -> Int

    /// Removes the dead letters `filter` selects; returns how many.
    func purge(_ filter: DeadLetterFilter) async throws -> Int

    /// Removes every message and dead letter of the node's queues (the node was deleted);
    /// returns how many.
    func deleteQueues(namespace: String, node: String) async throws -> Int

    /// Throws ``MessageStoreError/unavailable(store:reason:)`` when the backend cannot serve now.
    func checkAvailability() async throws

    /// Releases connections and files; the store is unusable afterwards.
    func close() async
}

/// Bounds every message store enforces.
public struct MessageStoreLimits: Sendable, Hashable {
    /// The largest stored message, as bytes of its encoding (default 4 MiB).
    public var maxMessageBytes: Int

    /// Creates limits.
    public init(maxMessageBytes: Int = 4 << 20) {
        self.maxMessageBytes = maxMessageBytes
    }
}
