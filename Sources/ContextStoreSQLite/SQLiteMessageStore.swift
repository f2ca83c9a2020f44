import AsyncPrimitives
import ComponentKit
import ContextStoreAPI
public import Foundation
public import MessageStoreAPI
import SQLite
import Synchronization

/// The queues of durable edges in the SQLite file of a ``SQLiteContextStore``: the default of
/// `tinyflow up`, where the module hosts of one machine share `<data>/context.db`.
///
/// It shares the context store's file and connections (its one write connection, behind its
/// `Mutex`, and its read connections), so a settlement — acknowledgements, retries, dead
/// letters, new messages and the handler's context writes — is one `BEGIN IMMEDIATE`
/// transaction: the handler's effects on context happen exactly once. Context mutations
/// follow the context store's own rules (key and value limits, keys per scope, versions from
/// its sequence, time to live, increments as ``SQLiteContextStore/increment(_:by:in:ttl:)``).
/// It waits for another process's write lock as the context store does (asynchronously, up
/// to the context store's `operationTimeout`, then ``MessageStoreError/unavailable(store:reason:)``).
///
/// Leases: a claim leases its messages with a token from a store-wide sequence (one token
/// per claim), so a message claimed again never gets a token handed out before. A lease is
/// held while its token is the message's latest: a consumer whose lease expired may still
/// settle or extend it as long as no other claim took the message meanwhile (nobody else can
/// have handled it); once another claim did, it gets ``MessageStoreError/leaseLost(_:)``.
/// Releasing a message for a retry ends its lease.
///
/// A settlement applies acknowledgements, retries and dead letters, each checking its lease as
/// it goes (a lease not held — its message claimed again or gone, or the lease named a second
/// time — is lost), then stores the new messages (so an acknowledgement makes room in its
/// queue for what the same settlement sends there), then the context mutations in order.
/// Anything refused — a lease lost, a queue full, a conflict, a context limit, a value that
/// is not an integer — rolls all of it back.
///
/// A claim reads its messages' bodies in its transaction and decodes them after the commit,
/// without the write lock; a body that cannot be read makes the claim fail with
/// ``MessageStoreError/corrupt(id:reason:)`` and takes its leases back (attempts uncounted).
///
/// Dead letters are listed in their messages' arrival order. A replay stores each again as a
/// new arrival (a new id, behind what waits in its queue), with its attempts and last error
/// cleared and its first `enqueuedAt` and its deadline kept: a message whose deadline passed is
/// dead-lettered again by the next claim.
///
/// Times are the process's clock in Unix milliseconds, and so are the claims' comparisons: an
/// `availableAt` is rounded down (a message retried for now is available to the next claim),
/// a deadline up (a message is never dead-lettered before its deadline).
///
/// ``nextAvailableTime(of:)`` returns the earliest time a claim may take a message of the
/// queue — an `availableAt` or a lease's expiry — which is not after now when a message is
/// available already (claim at once).
///
/// Group commit: concurrent ``enqueue(_:maxBacklog:)`` calls share transactions (`GroupCommit`:
/// the calls that arrive while one batch commits form the next, and a leader yields once
/// before taking its batch, since a commit here runs on its thread without suspending). A
/// commit costs far more than an insert — it writes every page the transaction touched to the
/// WAL and takes and releases the file's locks, even without waiting for the disk
/// (`synchronous=NORMAL`) — so many senders on durable edges cost a transaction, and one
/// signal, per batch instead of per message. Claims and settlements are transactions of their
/// own: one per batch a consumer takes.
///
/// Signals: after each commit the store signals ``signals`` (work for queues that got
/// available messages: enqueued, retried, replayed; space for queues that lost messages:
/// acknowledged, dead-lettered, deleted). SQLite has no notifications: another process sharing
/// the file learns of them only through a relay set on ``signals`` (`QueueSignals.relay(to:)`);
/// without one, its consumers find the messages when they next claim, or at the time
/// ``nextAvailableTime(of:)`` named.
///
/// ``close()`` makes this store refuse operations; the file's connections belong to the
/// context store, which its owner closes.
public final class SQLiteMessageStore: MessageStore {
    /// The limits this store enforces.
    public let limits: MessageStoreLimits
    /// Wakes the consumers (work) and senders (space) of this process.
    public let signals = QueueSignals()
    /// The context store whose file and connections this store shares.
    public let context: SQLiteContextStore
    private let closed = Atomic<Bool>(false)
    /// Concurrent enqueues, committed together (see the type's "Group commit").
    private let enqueues = GroupCommit<EnqueueRequest, Void>(maxBatch: 256, gathering: true)

    /// A message store in `context`'s file, on its connections. The context store must stay
    /// open while this store is used.
    public init(sharing context: SQLiteContextStore, limits: MessageStoreLimits = MessageStoreLimits()) {
        self.context = context
        self.limits = limits
    }

    /// Stores `messages`, in one transaction with whatever other writes arrive while the
    /// previous batch commits; returns once they are committed and their queues signalled.
    public func enqueue(_ messages: [PendingMessage], maxBacklog: Int) async throws {
        guard !messages.isEmpty else { return }
        try checkOpen()
        let request = EnqueueRequest(messages: try prepare(messages), maxBacklog: maxBacklog)
        try await enqueues.submit(request) { [self] batch in try await commit(batch) }
    }

    public func claim(from queue: DurableQueue, limit: Int, leaseDuration: Duration) async throws -> Claim {
        try checkOpen()
        let leaseMilliseconds = SQLiteContextStore.milliseconds(leaseDuration)
        let (claimed, expired, token, expiresAt) = try await write { connection in
            try connection.transaction { now in
                try Self.claim(
                    from: queue, limit: limit, leaseMilliseconds: leaseMilliseconds, now: now,
                    on: MessageStatements(connection.database))
            }
        }
        if !expired.isEmpty { signals.signal(.space(queue)) }
        // Decoded after the commit, without the write lock: a message that cannot be read is
        // leased but not handed out, and the whole claim is taken back.
        var leased: [LeasedMessage] = []
        leased.reserveCapacity(claimed.count)
        let leaseExpiresAt = SQLiteContextStore.date(expiresAt)
        for stored in claimed {
            let message: Message
            do {
                message = try stored.message()
            } catch {
                try? await write { connection in
                    try connection.transaction { now in
                        try MessageStatements(connection.database).unclaim(claimed.map(\.id), token: token, now: now)
                    }
                }
                signals.signal(.work(queue))
                throw error
            }
            leased.append(LeasedMessage(
                lease: MessageStoreAPI.Lease(id: stored.id, token: token), queue: queue, edge: stored.edge, message: message,
                attempts: stored.attempts + 1, enqueuedAt: SQLiteContextStore.date(stored.enqueuedAtMilliseconds),
                lastError: stored.lastError, leaseExpiresAt: leaseExpiresAt))
        }
        return Claim(messages: leased, expired: expired)
    }

    public func extend(_ leases: [MessageStoreAPI.Lease], leaseDuration: Duration) async throws -> [MessageStoreAPI.Lease] {
        guard !leases.isEmpty else { return [] }
        let leaseMilliseconds = SQLiteContextStore.milliseconds(leaseDuration)
        return try await write { connection in
            try connection.transaction { now in
                let statements = MessageStatements(connection.database)
                let expiresAt = Self.adding(leaseMilliseconds, to: now)
                return try leases.filter { lease in try statements.extend(lease.id, token: lease.token, expiresAt: expiresAt) }
            }
        }
    }

    public func settle(_ settlement: Settlement, maxBacklog: Int) async throws {
        guard !settlement.isEmpty else { return }
        try checkOpen()
        // Every check that needs no database first: a settlement that fails them never takes the lock.
        let mutations = try settlement.contextMutations.map { mutation throws(ContextStoreError) in
            try PreparedMutation(mutation, limits: context.limits)
        }
        let prepared = PreparedSettlement(
            settlement: settlement, mutations: mutations, enqueued: try prepare(settlement.enqueued),
            retries: settlement.retried.map { ($0, Self.milliseconds($0.availableAt, rounding: .down)) }, maxBacklog: maxBacklog,
            maxKeysPerScope: context.limits.maxKeysPerScope)
        let keys = try await write { connection in
            try connection.transaction { now in
                try Self.settle(prepared, now: now, on: MessageStatements(connection.database), connection: connection)
            }
        }
        signals.signal(keys)
    }

    // MARK: - Writing

    /// One enqueue call, as the group commit carries it.
    private struct EnqueueRequest: Sendable {
        var messages: [Prepared]
        var maxBacklog: Int
    }

    /// Commits a batch of enqueue calls in one transaction: each call whose messages fit the
    /// backlog limits (counting what the calls before it in the batch added) is stored, each
    /// other one is refused whole with ``MessageStoreError/backlogFull(queue:limit:)``. Then
    /// signals the queues that got messages, once for the batch.
    private func commit(_ batch: [EnqueueRequest]) async throws -> [Result<Void, any Error>] {
        let (results, queues) = try await write { connection in
            try connection.transaction { now -> ([Result<Void, any Error>], Set<DurableQueue>) in
                let statements = MessageStatements(connection.database)
                var counts: [DurableQueue: Int] = [:]
                var results: [Result<Void, any Error>] = []
                var queues: Set<DurableQueue> = []
                for request in batch {
                    var adding: [DurableQueue: Int] = [:]
                    for message in request.messages { adding[message.queue, default: 0] += 1 }
                    for queue in adding.keys where counts[queue] == nil { counts[queue] = try statements.count(in: queue) }
                    let full = adding.keys.sorted().first { queue in
                        counts[queue, default: 0] + adding[queue, default: 0] > request.maxBacklog
                    }
                    if let full {
                        results.append(.failure(MessageStoreError.backlogFull(queue: full, limit: request.maxBacklog)))
                        continue
                    }
                    for (queue, count) in adding { counts[queue, default: 0] += count }
                    try Self.insert(request.messages, now: now, on: statements)
                    queues.formUnion(adding.keys)
                    results.append(.success(()))
                }
                return (results, queues)
            }
        }
        signals.signal(queues.map { QueueSignals.Key.work($0) })
        return results
    }

    /// A settlement with its mutations, messages and retry times prepared.
    private struct PreparedSettlement: Sendable {
        var settlement: Settlement
        var mutations: [PreparedMutation]
        var enqueued: [Prepared]
        var retries: [(Settlement.Retry, Int64)]
        var maxBacklog: Int
        var maxKeysPerScope: Int
    }

    /// Dead-letters the queue's expired messages and leases up to `limit` of the others.
    /// Returns the messages leased (bodies not decoded yet) under a new token until the
    /// returned expiry, and those dead-lettered as expired.
    private static func claim(
        from queue: DurableQueue, limit: Int, leaseMilliseconds: Int64, now: Int64, on statements: MessageStatements
    ) throws -> (claimed: [MessageStatements.StoredMessage], expired: [DeadLetter], token: Int64, expiresAt: Int64) {
        var expired: [DeadLetter] = []
        for stored in try statements.expired(in: queue, now: now) {
            let message = try stored.message()
            let error = expiryDescription(of: message, lastError: stored.lastError)
            guard try statements.deadLetter(stored.id, token: nil, reason: .expired, error: error, now: now) else { continue }
            expired.append(DeadLetter(
                id: stored.id, queue: queue, edge: stored.edge, message: message, attempts: stored.attempts,
                reason: .expired, lastError: error,
                enqueuedAt: SQLiteContextStore.date(stored.enqueuedAtMilliseconds),
                deadLetteredAt: SQLiteContextStore.date(now)))
        }
        let claimable = limit > 0 ? try statements.claimable(in: queue, now: now, limit: limit) : []
        guard !claimable.isEmpty else { return ([], expired, 0, 0) }
        let token = try statements.nextLeaseToken()
        let expiresAt = adding(leaseMilliseconds, to: now)
        try statements.lease(claimable.lazy.map(\.id), token: token, expiresAt: expiresAt)
        return (claimable, expired, token, expiresAt)
    }

    /// Applies a settlement; returns the signals it calls for.
    private static func settle(
        _ prepared: PreparedSettlement, now: Int64, on statements: MessageStatements, connection: WriteConnection
    ) throws -> Set<QueueSignals.Key> {
        let settlement = prepared.settlement
        var keys: Set<QueueSignals.Key> = []
        var lost: [MessageStoreAPI.Lease] = []
        // Where released and dead-lettered messages wait (rare: failures), read before they change.
        var queues: [Int64: DurableQueue] = [:]
        for lease in settlement.retried.map(\.lease) + settlement.deadLettered.map(\.lease) {
            if let holder = try statements.holder(of: lease.id), holder.token == lease.token { queues[lease.id] = holder.queue }
        }

        // Each step checks the lease itself: a lease not held (or named a second time, once the
        // first settled it) is lost, and nothing is applied.
        for (lease, queue) in zip(settlement.acknowledged, try statements.acknowledge(settlement.acknowledged)) {
            guard let queue else { lost.append(lease); continue }
            keys.insert(.space(queue))
        }
        for (retry, availableAt) in prepared.retries {
            let lease = retry.lease
            guard try statements.release(
                lease.id, token: lease.token, availableAt: availableAt, error: retry.error, countsAsAttempt: retry.countsAsAttempt) else {
                lost.append(lease)
                continue
            }
            if let queue = queues[lease.id] { keys.insert(.work(queue)) }
        }
        for rejection in settlement.deadLettered {
            let lease = rejection.lease
            guard try statements.deadLetter(lease.id, token: lease.token, reason: rejection.reason, error: rejection.error, now: now)
            else {
                lost.append(lease)
                continue
            }
            if let queue = queues[lease.id] { keys.insert(.space(queue)) }
        }
        if !lost.isEmpty { throw MessageStoreError.leaseLost(lost) }

        try store(prepared.enqueued, maxBacklog: prepared.maxBacklog, now: now, on: statements)
        for message in prepared.enqueued { keys.insert(.work(message.queue)) }
        for mutation in prepared.mutations {
            try connection.apply(mutation, now: now, maxKeysPerScope: prepared.maxKeysPerScope)
        }
        return keys
    }

    public func backlog(of queue: DurableQueue) async throws -> Int {
        try read { connection in try MessageStatements(connection.database).count(in: queue) }
    }

    public func queuesHoldingMessages(_ queues: [DurableQueue]) async throws -> Set<DurableQueue> {
        guard !queues.isEmpty else { return [] }
        return try read { connection in
            let statements = MessageStatements(connection.database)
            return try Set(queues.filter { try statements.count(in: $0) > 0 })
        }
    }

    public func nextAvailableTime(of queue: DurableQueue) async throws -> Date? {
        try read { connection in
            try MessageStatements(connection.database).earliestVisibleTime(in: queue).map(SQLiteContextStore.date)
        }
    }

    public func deadLetters(_ filter: DeadLetterFilter, limit: Int) async throws -> [DeadLetter] {
        try read { connection in try MessageStatements(connection.database).deadLetters(filter, limit: limit) }
    }

    public func replay(_ filter: DeadLetterFilter) async throws -> Int {
        let queues = try await write { connection in
            try connection.transaction { now in try MessageStatements(connection.database).replay(filter, now: now) }
        }
        signals.signal(Set(queues.map { QueueSignals.Key.work($0) }))
        return queues.count
    }

    public func purge(_ filter: DeadLetterFilter) async throws -> Int {
        try await write { connection in
            try connection.transaction { _ in try MessageStatements(connection.database).purge(filter) }
        }
    }

    public func deleteQueues(namespace: String, node: String) async throws -> Int {
        let (ports, removed) = try await write { connection in
            try connection.transaction { _ in
                try MessageStatements(connection.database).deleteQueues(namespace: namespace, node: node)
            }
        }
        signals.signal(ports.map { QueueSignals.Key.space(DurableQueue(namespace: namespace, node: node, port: $0)) })
        return removed
    }

    public func checkAvailability() async throws {
        try read { connection in
            let statement = connection.ping
            defer { statement.reset() }
            _ = try statement.step()
        }
    }

    /// Makes this store refuse every later operation with
    /// ``MessageStoreError/unavailable(store:reason:)``. The context store stays open.
    public func close() async {
        closed.store(true, ordering: .relaxed)
    }

    // MARK: - Storing

    /// A message to store, encoded and checked against the limits.
    private struct Prepared: Sendable {
        var queue: DurableQueue
        var edge: DurableEdge
        var priority: Int
        var deadline: Int64?
        var availableAt: Int64?
        var body: String
    }

    /// Encodes `messages`, throwing ``MessageStoreError/messageTooLarge(queue:messageID:bytes:limit:)``
    /// for one larger than the limit.
    private func prepare(_ messages: [PendingMessage]) throws -> [Prepared] {
        try messages.map { pending in
            let body = try MessageBody.encode(pending.message)
            let bytes = body.utf8.count
            guard bytes <= limits.maxMessageBytes else {
                throw MessageStoreError.messageTooLarge(
                    queue: pending.queue, messageID: pending.message.id, bytes: bytes, limit: limits.maxMessageBytes)
            }
            return Prepared(
                queue: pending.queue, edge: pending.edge, priority: pending.message.priority,
                deadline: pending.message.deadline.map { Self.milliseconds($0, rounding: .up) },
                availableAt: pending.availableAt.map { Self.milliseconds($0, rounding: .down) },
                body: body)
        }
    }

    /// Stores `messages` at `now` inside the caller's transaction, after checking that no
    /// queue would hold more than `maxBacklog` (counting what it holds already).
    private static func store(
        _ messages: [Prepared], maxBacklog: Int, now: Int64, on statements: MessageStatements
    ) throws {
        var arriving: [DurableQueue: Int] = [:]
        for message in messages { arriving[message.queue, default: 0] += 1 }
        for (queue, count) in arriving.sorted(by: { $0.key < $1.key }) {
            guard count <= maxBacklog, try statements.count(in: queue) <= maxBacklog - count else {
                throw MessageStoreError.backlogFull(queue: queue, limit: maxBacklog)
            }
        }
        try insert(messages, now: now, on: statements)
    }

    /// Inserts `messages` at `now` inside the caller's transaction, in their order.
    private static func insert(_ messages: [Prepared], now: Int64, on statements: MessageStatements) throws {
        try statements.insert(
            messages.lazy.map { message in
                MessageStatements.NewMessage(
                    queue: message.queue, edge: message.edge, priority: message.priority,
                    deadlineMilliseconds: message.deadline, visibleAtMilliseconds: message.availableAt ?? now,
                    body: message.body)
            },
            now: now)
    }

    // MARK: - Connections

    private func read<T: Sendable>(_ body: @Sendable (ReadConnection) throws -> T) throws -> T {
        try checkOpen()
        return try context.read(in: .messages, body)
    }

    private func write<T: Sendable>(_ body: @Sendable (WriteConnection) throws -> T) async throws -> T {
        try checkOpen()
        return try await context.write(in: .messages, body)
    }

    private func checkOpen() throws {
        if closed.load(ordering: .relaxed) {
            throw MessageStoreError.unavailable(store: context.storeName, reason: "the store is closed")
        }
    }

    // MARK: - Times

    /// `date` in Unix milliseconds, rounded by `rule` (saturating far outside the years a clock shows).
    private static func milliseconds(_ date: Date, rounding rule: FloatingPointRoundingRule) -> Int64 {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded(rule)
        guard !milliseconds.isNaN else { return .max }
        if milliseconds >= 9.2e18 { return .max }
        if milliseconds <= -9.2e18 { return .min }
        return Int64(milliseconds)
    }

    /// `now` plus `milliseconds`, saturating.
    private static func adding(_ milliseconds: Int64, to now: Int64) -> Int64 {
        let (sum, overflow) = now.addingReportingOverflow(milliseconds)
        return overflow ? (milliseconds > 0 ? .max : .min) : sum
    }

    /// What a dead letter of an expired message says: its deadline, and the last attempt's error if any.
    private static func expiryDescription(of message: Message, lastError: String?) -> String {
        let deadline = message.deadline.map { $0.formatted(.iso8601) } ?? "its deadline"
        let expired = "the deadline \(deadline) passed before a handler succeeded"
        return lastError.map { "\(expired); last error: \($0)" } ?? expired
    }
}
