import AsyncPrimitives
public import Backoff
import ComponentKit
import ContextStoreAPI
import Foundation
public import Logging
public import MessageStoreAPI
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// The messages of durable edges in the PostgreSQL database of a ``PostgresContextStore``:
/// shared by every replica of every module of a cluster, and settled in the same transactions
/// as the context writes of their handlers, so a handler's effects on context happen exactly
/// once (``settle(_:maxBacklog:)``).
///
/// Made from an open context store, whose connection pool, configuration, deadlines and
/// lifecycle it shares: its operations need the context store's ``PostgresContextStore/run()``
/// running, fail with ``MessageStoreError/unavailable(store:reason:)`` within the operation
/// timeout when the database cannot be reached, and work again once it is back. Its tables
/// (`tinyflow_messages`, `tinyflow_dead_letters`) are created or migrated on first use.
///
/// A `Service` of its own: ``run()`` holds one extra connection that `LISTEN`s for the
/// notifications other processes' commits send, and signals ``signals`` for them, so a
/// consumer anywhere wakes when a sender anywhere enqueued (and a sender held back by a full
/// queue when a consumer anywhere took messages out). It reconnects with a ``Backoff`` when the
/// connection fails and stops on cancellation, graceful shutdown, ``close()`` or when the
/// context store finishes. It is a service beside the context store's, not part of it, because
/// the context store is opened (and its service run) whether or not durable edges exist, and a
/// process without them should not hold a listening connection. Without it running, the
/// operations work and this process's own commits still signal; only other processes' commits
/// are not heard (consumers then wake at ``nextAvailableTime(of:)`` only).
///
/// ``enqueue(_:maxBacklog:)`` commits concurrent calls together (group commit), one
/// transaction and one `NOTIFY` per batch.
public final class PostgresMessageStore: MessageStore, Service {
    /// The limits this store enforces.
    public let limits: MessageStoreLimits
    /// Wakes the consumers and senders of this process: after this process's commits, and for
    /// every notification of other processes' commits while ``run()`` listens.
    public let signals: QueueSignals
    /// The context store whose database, pool and context writes this store shares.
    public let contextStore: PostgresContextStore

    /// What ``run()`` reconnects with by default: 200 ms growing to 10 s, reset after 30 s connected.
    public static let defaultReconnectBackoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10), resetAfter: .seconds(30))

    private let logger: Logger
    private let reconnectBackoff: Backoff
    private let heartbeat: Duration
    private let schemaReady = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    private let listening = Atomic<Bool>(false)
    /// The `LISTEN` service's own: ``close()`` stops it; it has nothing to do with the pool's.
    private let lifecycle = Lifecycle()
    private let enqueues = GroupCommit<EnqueueRequest, Void>(maxBatch: 256)
    /// The queues this process used (enqueued to, claimed from, asked about): after a
    /// reconnect of the listener, their waiters are woken, since notifications sent while
    /// nobody listened are lost.
    private let knownQueues = Mutex<Set<DurableQueue>>([])

    /// Creates a store in `contextStore`'s database; nothing connects until an operation runs
    /// (on the context store's pool) or ``run()`` starts listening.
    ///
    /// - Parameters:
    ///   - signals: the signals to give; pass one shared by several stores of a process to
    ///     wake the same waiters.
    ///   - reconnectBackoff: the delays between attempts of the listening connection.
    ///   - heartbeat: how often the listening connection checks it is alive.
    ///   - logger: where the listener reports; the context store's logger if `nil`.
    public init(
        contextStore: PostgresContextStore, limits: MessageStoreLimits = MessageStoreLimits(),
        signals: QueueSignals = QueueSignals(), reconnectBackoff: Backoff = defaultReconnectBackoff,
        heartbeat: Duration = .seconds(30), logger: Logger? = nil
    ) {
        self.contextStore = contextStore
        self.limits = limits
        self.signals = signals
        self.reconnectBackoff = reconnectBackoff
        self.heartbeat = heartbeat
        self.logger = logger ?? contextStore.logger
    }

    /// Whether the listening connection is in place: other processes' commits are heard now.
    public var isListening: Bool { listening.load(ordering: .acquiring) }

    // MARK: - Service

    /// Listens for other processes' notifications until the task is cancelled, a graceful
    /// shutdown begins, ``close()`` is called or the context store finishes. Run it once (a
    /// second call, or one after ``close()``, returns at once).
    public func run() async throws {
        guard lifecycle.start() else { return }
        defer {
            listening.store(false, ordering: .releasing)
            lifecycle.finish()
        }
        let listener = DurableListener(
            store: contextStore, backoff: reconnectBackoff, heartbeat: heartbeat, logger: logger,
            connected: { [weak self] in self?.listenerConnected() },
            received: { [weak self] payload in self?.received(payload) },
            disconnected: { [weak self] in self?.listening.store(false, ordering: .releasing) })
        let lifecycle = lifecycle
        let contextLifecycle = contextStore.lifecycle
        logger.debug("durable-edge listener running")
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await listener.run() }
                group.addTask { await lifecycle.waitForStopRequest() }
                group.addTask { await contextLifecycle.waitUntilFinished() }
                await group.next()
                group.cancelAll()
            }
        }
        logger.debug("durable-edge listener stopped")
    }

    /// Stops ``run()`` and waits for its connection to close; operations fail afterwards. The
    /// context store stays open: it belongs to whoever opened it.
    public func close() async {
        closed.store(true, ordering: .releasing)
        lifecycle.requestStop()
        await lifecycle.waitUntilRunReturned()
    }

    /// `LISTEN` is in place: wakes the waiters of every queue this process used, for the
    /// notifications lost while nobody listened. Locally only: these signals came from elsewhere.
    private func listenerConnected() {
        listening.store(true, ordering: .releasing)
        let queues = knownQueues.withLock { $0 }
        signals.wakeLocally(queues.flatMap { [QueueSignals.Key.work($0), .space($0)] })
    }

    /// Another commit (of any process, this one's included) notified: wakes the waiters of its queues.
    private func received(_ payload: String) {
        switch DurableNotification.decode(payload) {
        case .queues(let work, let space):
            signals.wakeLocally(work.map { QueueSignals.Key.work($0) } + space.map { .space($0) })
        case .everything:
            let queues = knownQueues.withLock { $0 }
            signals.wakeLocally(queues.flatMap { [QueueSignals.Key.work($0), .space($0)] })
        }
    }

    // MARK: - Enqueueing

    /// Stores `messages`, in one transaction with whatever other calls arrive while the
    /// previous batch commits; returns once they are committed and their queues notified.
    /// The backlog limit holds exactly across processes: each queue's count is read from its
    /// counter row under that row's lock (``MessageSchema/lockQueuesFunction``).
    public func enqueue(_ messages: [PendingMessage], maxBacklog: Int) async throws {
        guard !messages.isEmpty else { return }
        try checkOpen()
        let stored = try messages.map { pending throws(MessageStoreError) in try StoredMessage(pending, limits: limits) }
        let queues = Set(messages.map(\.queue))
        remember(queues)
        try await enqueues.submit(EnqueueRequest(messages: stored, maxBacklog: maxBacklog)) { [self] batch in
            try await commit(batch)
        }
        signals.signal(queues.map { QueueSignals.Key.work($0) })
    }

    /// One enqueue call, as the group commit carries it.
    private struct EnqueueRequest: Sendable {
        var messages: [StoredMessage]
        var maxBacklog: Int
    }

    /// Commits a batch of enqueue calls in one statement (``MessageSchema/enqueueFunction``):
    /// each call whose messages fit the backlog limits (after the calls before it in the batch)
    /// is stored, each other one is refused whole with ``MessageStoreError/backlogFull(queue:limit:)``.
    /// Every queue of the batch is notified (a refused call's queue too: its consumers look and
    /// find what they would have found).
    private func commit(_ batch: [EnqueueRequest]) async throws -> [Result<Void, any Error>] {
        let messages = batch.flatMap(\.messages)
        // Request r's messages start at first[r] (1-based, as PostgreSQL's arrays).
        var start: Int32 = 1
        let first = batch.map { request in
            defer { start += Int32(request.messages.count) }
            return start
        }
        let none = Date(timeIntervalSince1970: 0)
        let payloads = DurableNotification.payloads(work: Set(messages.map(\.queue)), space: [])
        let outcomes: [String] = try await perform { connection, logger in
            let rows = try await connection.send(
                """
                SELECT tinyflow_enqueue(
                    \(first)::integer[], \(batch.map { Int32($0.messages.count) })::integer[],
                    \(batch.map { Int64($0.maxBacklog) })::bigint[],
                    \(messages.map(\.queue.namespace))::text[], \(messages.map(\.queue.node))::text[],
                    \(messages.map(\.queue.port))::text[], \(messages.map(\.edge.node))::text[], \(messages.map(\.edge.edge))::text[],
                    \(messages.map(\.body))::text[], \(messages.map(\.priority))::bigint[],
                    \(messages.map { $0.deadline ?? none })::timestamptz[], \(messages.map { $0.deadline != nil })::boolean[],
                    \(messages.map { $0.availableAt ?? none })::timestamptz[], \(messages.map { $0.availableAt != nil })::boolean[],
                    \(DurableNotification.channel)::text, \(payloads)::text[])
                """, logger: logger)
            var outcomes: [String] = []
            for try await value in rows.decode([String].self) { outcomes = value }
            return outcomes
        }
        // A count other than the batch's is the group commit's to report.
        return zip(batch, outcomes).map { request, outcome in
            guard !outcome.isEmpty else { return .success(()) }
            let parts = outcome.split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
            let queue = parts.count == 3
                ? DurableQueue(namespace: parts[0], node: parts[1], port: parts[2])
                : request.messages[0].queue
            return .failure(MessageStoreError.backlogFull(queue: queue, limit: request.maxBacklog))
        }
    }

    // MARK: - Claiming

    /// Dead-letters the queue's available messages whose deadline passed (at most 1,000 per
    /// call; the rest at the next), then leases up to `limit` of the others in the queue's
    /// order, skipping rows other transactions hold (`FOR UPDATE SKIP LOCKED`), so concurrent
    /// claims — of this process or any other — get disjoint messages. Each leased message
    /// counts an attempt and gets a new token from `tinyflow_message_lease`.
    ///
    /// One statement (data-modifying CTEs: one round trip, atomic without `BEGIN`/`COMMIT`),
    /// which also notifies the queue's space when it dead-lettered something.
    public func claim(from queue: DurableQueue, limit: Int, leaseDuration: Duration) async throws -> Claim {
        guard limit > 0 else { return Claim() }
        try checkOpen()
        remember([queue])
        let lease = PostgresContextStore.microseconds(leaseDuration) ?? 0
        let expiredLimit = MessageSchema.expiredPerClaim
        let spacePayloads = DurableNotification.payloads(work: [], space: [queue])
        let rows: [ClaimRow] = try await perform { connection, logger in
            let rows = try await connection.send(
                """
                WITH expired AS (
                    SELECT id FROM tinyflow_messages
                    WHERE namespace = \(queue.namespace) AND node = \(queue.node) AND port = \(queue.port)
                        AND deadline <= now() AND visible_at <= now()
                    ORDER BY deadline, id
                    LIMIT \(expiredLimit)
                    FOR UPDATE SKIP LOCKED
                ), moved AS (
                    DELETE FROM tinyflow_messages m USING expired WHERE m.id = expired.id
                    RETURNING m.*
                ), dead AS (
                    INSERT INTO tinyflow_dead_letters (
                        id, namespace, node, port, edge_node, edge, body, priority, deadline, attempts, reason, last_error,
                        enqueued_at, dead_lettered_at)
                    SELECT id, namespace, node, port, edge_node, edge, body, priority, deadline, attempts,
                        \(DeadLetter.Reason.expired.rawValue), coalesce(last_error, 'its deadline passed before it was handled'),
                        enqueued_at, now()
                    FROM moved
                    RETURNING id, edge_node, edge, body, attempts, last_error, enqueued_at, dead_lettered_at, priority, deadline
                ), picked AS (
                    SELECT id FROM tinyflow_messages
                    WHERE namespace = \(queue.namespace) AND node = \(queue.node) AND port = \(queue.port)
                        AND visible_at <= now() AND (deadline IS NULL OR deadline > now())
                    ORDER BY priority DESC, deadline ASC NULLS LAST, id
                    LIMIT \(Int64(limit))
                    FOR UPDATE SKIP LOCKED
                ), claimed AS (
                    UPDATE tinyflow_messages m
                    SET lease_token = nextval('tinyflow_message_lease'),
                        visible_at = now() + \(lease)::bigint * interval '1 microsecond',
                        attempts = m.attempts + 1
                    FROM picked WHERE m.id = picked.id
                    RETURNING m.id, m.lease_token, m.edge_node, m.edge, m.body, m.attempts, m.last_error, m.enqueued_at,
                        m.visible_at, m.priority, m.deadline
                ), notified AS (
                    SELECT pg_notify(\(DurableNotification.channel), p)
                    FROM unnest(\(spacePayloads)::text[]) AS p, (SELECT 1 FROM dead LIMIT 1) AS any_dead
                )
                SELECT 'claimed', id, lease_token, edge_node, edge, body, attempts, last_error, enqueued_at, visible_at,
                    priority, deadline
                FROM claimed
                UNION ALL
                SELECT 'expired', id, NULL, edge_node, edge, body, attempts, last_error, enqueued_at, dead_lettered_at,
                    priority, deadline
                FROM dead
                UNION ALL
                SELECT 'notified', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM notified
                """, logger: logger)
            var claimRows: [ClaimRow] = []
            for try await row in rows.decode(
                (String, Int64?, Int64?, String?, String?, String?, Int?, String?, Date?, Date?, Int64?, Date?).self)
            {
                claimRows.append(ClaimRow(row))
            }
            return claimRows
        }
        // Decoded here, off the connection's event loop, after the commit: a message that cannot
        // be read is leased but not handed out, and the others of the claim are released again.
        var claimed: [(message: LeasedMessage, priority: Int64, deadline: Date?)] = []
        var expired: [DeadLetter] = []
        var unreadable: MessageStoreError?
        for row in rows where row.kind != "notified" {
            guard let id = row.id, let edgeNode = row.edgeNode, let edge = row.edge, let body = row.body,
                let attempts = row.attempts, let enqueuedAt = row.enqueuedAt, let time = row.time
            else { continue }
            let message: Message
            do {
                message = try MessageBody.decode(body, id: id)
            } catch {
                unreadable = unreadable ?? error
                continue
            }
            if row.kind == "expired" {
                expired.append(
                    DeadLetter(
                        id: id, queue: queue, edge: DurableEdge(node: edgeNode, edge: edge), message: message,
                        attempts: attempts, reason: .expired, lastError: row.lastError ?? "", enqueuedAt: enqueuedAt,
                        deadLetteredAt: time))
            } else if let token = row.token {
                let leased = LeasedMessage(
                    lease: MessageStoreAPI.Lease(id: id, token: token), queue: queue, edge: DurableEdge(node: edgeNode, edge: edge),
                    message: message, attempts: attempts, enqueuedAt: enqueuedAt, lastError: row.lastError,
                    leaseExpiresAt: time)
                claimed.append((leased, row.priority ?? 0, row.deadline))
            }
        }
        if !expired.isEmpty { signals.signal(.space(queue)) }
        // Expired messages left behind: the consumer comes back for them.
        if expired.count == expiredLimit { signals.signal(.work(queue)) }
        if let unreadable {
            try? await release(claimed.map(\.message.lease), of: queue)
            throw unreadable
        }
        // The queue's order; RETURNING has none.
        claimed.sort { lhs, rhs in
            if lhs.priority != rhs.priority { return lhs.priority > rhs.priority }
            switch (lhs.deadline, rhs.deadline) {
            case (let left?, let right?) where left != right: return left < right
            case (.some, nil): return true
            case (nil, .some): return false
            default: return lhs.message.lease.id < rhs.message.lease.id
            }
        }
        return Claim(messages: claimed.map(\.message), expired: expired)
    }

    /// One row of a claim's statement: a leased message, an expired one, or the notification.
    private struct ClaimRow: Sendable {
        var kind: String
        var id: Int64?
        var token: Int64?
        var edgeNode: String?
        var edge: String?
        var body: String?
        var attempts: Int?
        var lastError: String?
        var enqueuedAt: Date?
        /// The lease's expiry, or when the message was dead-lettered.
        var time: Date?
        var priority: Int64?
        var deadline: Date?

        init(_ row: (String, Int64?, Int64?, String?, String?, String?, Int?, String?, Date?, Date?, Int64?, Date?)) {
            (kind, id, token, edgeNode, edge, body, attempts, lastError, enqueuedAt, time, priority, deadline) = row
        }
    }

    /// Undoes claims whose messages were not handed out: available at once, the attempt uncounted.
    private func release(_ leases: [MessageStoreAPI.Lease], of queue: DurableQueue) async throws {
        guard !leases.isEmpty else { return }
        try await perform { connection, logger in
            try await connection.send(
                """
                UPDATE tinyflow_messages m SET visible_at = now(), lease_token = NULL, attempts = m.attempts - 1
                FROM unnest(\(leases.map(\.id))::bigint[], \(leases.map(\.token))::bigint[]) AS l(id, token)
                WHERE m.id = l.id AND m.lease_token = l.token
                """, logger: logger)
            return ()
        }
        signals.signal(.work(queue))
    }

    /// Extends the leases whose token is still the message's current one.
    public func extend(_ leases: [MessageStoreAPI.Lease], leaseDuration: Duration) async throws -> [MessageStoreAPI.Lease] {
        guard !leases.isEmpty else { return [] }
        try checkOpen()
        let duration = PostgresContextStore.microseconds(leaseDuration) ?? 0
        let held: Set<MessageStoreAPI.Lease> = try await perform { connection, logger in
            let rows = try await connection.send(
                """
                UPDATE tinyflow_messages m SET visible_at = now() + \(duration)::bigint * interval '1 microsecond'
                FROM unnest(\(leases.map(\.id))::bigint[], \(leases.map(\.token))::bigint[]) AS l(id, token)
                WHERE m.id = l.id AND m.lease_token = l.token
                RETURNING m.id, m.lease_token
                """, logger: logger)
            var held: Set<MessageStoreAPI.Lease> = []
            for try await (id, token) in rows.decode((Int64, Int64).self) { held.insert(MessageStoreAPI.Lease(id: id, token: token)) }
            return held
        }
        return leases.filter { held.contains($0) }
    }

    // MARK: - Settling

    /// Commits `settlement` as one transaction: locks the settled messages and checks their
    /// tokens (``MessageStoreError/leaseLost(_:)`` for those claimed again since, or gone),
    /// removes the acknowledged ones, releases the retried ones, moves the rejected ones to the
    /// dead letters, applies the context mutations (``PostgresContextStore``'s rules; a version
    /// that does not hold throws ``ContextStoreError/conflict(key:attempts:)``), stores the new
    /// messages within `maxBacklog` (after the removals), and notifies. Any failure rolls all
    /// of it back.
    public func settle(_ settlement: Settlement, maxBacklog: Int) async throws {
        guard !settlement.isEmpty else { return }
        try checkOpen()
        if settlement.retried.isEmpty, settlement.deadLettered.isEmpty, settlement.enqueued.isEmpty,
            settlement.contextMutations.isEmpty, Set(settlement.acknowledged).count == settlement.acknowledged.count
        {
            return try await acknowledge(settlement.acknowledged)
        }
        let stored = try settlement.enqueued.map { pending throws(MessageStoreError) in try StoredMessage(pending, limits: limits) }
        remember(Set(stored.map(\.queue)))
        let (work, space) = try await perform { [contextStore] connection, logger in
            try await connection.send("BEGIN", logger: logger)
            do {
                var work: Set<DurableQueue> = []
                var space: Set<DurableQueue> = []
                let leases = settlement.leases
                var queues: [Int64: DurableQueue] = [:]
                if !leases.isEmpty {
                    let rows = try await connection.send(
                        """
                        SELECT id, lease_token, namespace, node, port FROM tinyflow_messages
                        WHERE id = ANY(\(leases.map(\.id))::bigint[])
                        ORDER BY id
                        FOR UPDATE
                        """, logger: logger)
                    var tokens: [Int64: Int64] = [:]
                    for try await (id, token, namespace, node, port) in rows.decode((Int64, Int64?, String, String, String).self) {
                        if let token { tokens[id] = token }
                        queues[id] = DurableQueue(namespace: namespace, node: node, port: port)
                    }
                    var seen: Set<MessageStoreAPI.Lease> = []
                    let lost = leases.filter { tokens[$0.id] != $0.token && seen.insert($0).inserted }
                    if !lost.isEmpty { throw MessageStoreError.leaseLost(lost) }
                }
                // Every queue this settlement changes, locked in one order before any change.
                let locked = Set(queues.values).union(stored.map(\.queue))
                if !locked.isEmpty { _ = try await Self.lockQueues(locked, on: connection, logger: logger) }
                if !settlement.acknowledged.isEmpty {
                    try await connection.send(
                        "DELETE FROM tinyflow_messages WHERE id = ANY(\(settlement.acknowledged.map(\.id))::bigint[])", logger: logger)
                    space.formUnion(settlement.acknowledged.compactMap { queues[$0.id] })
                }
                if !settlement.retried.isEmpty {
                    let retried = settlement.retried
                    try await connection.send(
                        """
                        UPDATE tinyflow_messages m
                        SET visible_at = r.available_at, lease_token = NULL, last_error = r.error, attempts = m.attempts - r.uncounted
                        FROM unnest(\(retried.map(\.lease.id))::bigint[], \(retried.map(\.availableAt))::timestamptz[],
                            \(retried.map(\.error))::text[], \(retried.map { $0.countsAsAttempt ? 0 : 1 })::int[])
                            AS r(id, available_at, error, uncounted)
                        WHERE m.id = r.id
                        """, logger: logger)
                    work.formUnion(retried.compactMap { queues[$0.lease.id] })
                }
                if !settlement.deadLettered.isEmpty {
                    let rejected = settlement.deadLettered
                    try await connection.send(
                        """
                        WITH r AS (
                            SELECT * FROM unnest(\(rejected.map(\.lease.id))::bigint[], \(rejected.map(\.reason.rawValue))::text[],
                                \(rejected.map(\.error))::text[]) AS r(id, reason, error)
                        ), moved AS (
                            DELETE FROM tinyflow_messages m USING r WHERE m.id = r.id
                            RETURNING m.id, m.namespace, m.node, m.port, m.edge_node, m.edge, m.body, m.priority, m.deadline,
                                m.attempts, m.enqueued_at, r.reason AS new_reason, r.error AS new_error
                        )
                        INSERT INTO tinyflow_dead_letters (
                            id, namespace, node, port, edge_node, edge, body, priority, deadline, attempts, reason, last_error,
                            enqueued_at, dead_lettered_at)
                        SELECT id, namespace, node, port, edge_node, edge, body, priority, deadline, attempts, new_reason, new_error,
                            enqueued_at, now()
                        FROM moved
                        """, logger: logger)
                    space.formUnion(rejected.compactMap { queues[$0.lease.id] })
                }
                try await contextStore.apply(settlement.contextMutations, on: connection, logger: logger)
                if !stored.isEmpty {
                    // Counted after this settlement's removals (the counters are locked: exact).
                    let counts = try await Self.lockQueues(Set(stored.map(\.queue)), on: connection, logger: logger)
                    var adding: [DurableQueue: Int] = [:]
                    for message in stored { adding[message.queue, default: 0] += 1 }
                    for queue in adding.keys.sorted() where counts[queue, default: 0] + adding[queue, default: 0] > maxBacklog {
                        throw MessageStoreError.backlogFull(queue: queue, limit: maxBacklog)
                    }
                    try await Self.insert(stored, on: connection, logger: logger)
                    work.formUnion(adding.keys)
                }
                try await Self.notify(work: work, space: space, on: connection, logger: logger)
                try await connection.send("COMMIT", logger: logger)
                return (work, space)
            } catch {
                _ = try? await connection.send("ROLLBACK", logger: logger)
                throw error
            }
        }
        signals.signal(work.map { QueueSignals.Key.work($0) } + space.map { .space($0) })
    }

    /// A settlement that only acknowledges, each lease once (the batch's handlers all
    /// succeeded and wrote no context): one statement instead of a transaction of five. It locks the leased rows
    /// whose token still holds, deletes them only if that is all of them, and notifies their
    /// queues' space; otherwise it changes nothing and the others are lost.
    private func acknowledge(_ leases: [MessageStoreAPI.Lease]) async throws {
        let (held, queues): ([Int64], [DurableQueue]) = try await perform { connection, logger in
            let rows = try await connection.send(
                """
                WITH held AS (
                    SELECT m.id FROM tinyflow_messages m
                    JOIN unnest(\(leases.map(\.id))::bigint[], \(leases.map(\.token))::bigint[]) AS l(id, token)
                        ON m.id = l.id AND m.lease_token = l.token
                    ORDER BY m.id
                    FOR UPDATE OF m
                ), deleted AS (
                    DELETE FROM tinyflow_messages m USING held
                    WHERE m.id = held.id AND (SELECT count(*) FROM held) = \(Int64(leases.count))
                    RETURNING m.namespace, m.node, m.port
                ), queues AS (
                    SELECT DISTINCT namespace, node, port FROM deleted
                ), notified AS (
                    SELECT pg_notify(\(DurableNotification.channel), json_build_object(
                        's', json_agg(json_build_array(namespace, node, port)))::text)
                    FROM queues HAVING count(*) > 0
                )
                SELECT (SELECT coalesce(array_agg(id), '{}') FROM held),
                    (SELECT coalesce(array_agg(namespace), '{}') FROM queues),
                    (SELECT coalesce(array_agg(node), '{}') FROM queues),
                    (SELECT coalesce(array_agg(port), '{}') FROM queues),
                    (SELECT count(*) FROM notified)
                """, logger: logger)
            var result: ([Int64], [DurableQueue]) = ([], [])
            for try await (held, namespaces, nodes, ports, _) in rows.decode(([Int64], [String], [String], [String], Int64).self) {
                result.0 = held
                for index in namespaces.indices where index < nodes.count && index < ports.count {
                    result.1.append(DurableQueue(namespace: namespaces[index], node: nodes[index], port: ports[index]))
                }
            }
            return result
        }
        let kept = Set(held)
        let lost = leases.filter { !kept.contains($0.id) }
        if !lost.isEmpty { throw MessageStoreError.leaseLost(lost) }
        signals.signal(queues.map { QueueSignals.Key.space($0) })
    }

    // MARK: - Reading

    /// The queue's counter (its rows, leased or waiting; kept by triggers).
    public func backlog(of queue: DurableQueue) async throws -> Int {
        try checkOpen()
        remember([queue])
        return try await perform { connection, logger in
            let rows = try await connection.send(
                """
                SELECT backlog FROM tinyflow_queue_backlog
                WHERE namespace = \(queue.namespace) AND node = \(queue.node) AND port = \(queue.port)
                """, logger: logger)
            var count = 0
            for try await value in rows.decode(Int64.self) { count = Int(value) }
            return count
        }
    }

    /// Those of `queues` with a message: one index probe each, in one statement.
    public func queuesHoldingMessages(_ queues: [DurableQueue]) async throws -> Set<DurableQueue> {
        guard !queues.isEmpty else { return [] }
        try checkOpen()
        return try await perform { connection, logger in
            let rows = try await connection.send(
                """
                SELECT q.namespace, q.node, q.port
                FROM unnest(\(queues.map(\.namespace))::text[], \(queues.map(\.node))::text[], \(queues.map(\.port))::text[])
                    AS q(namespace, node, port)
                WHERE EXISTS (
                    SELECT 1 FROM tinyflow_messages m WHERE m.namespace = q.namespace AND m.node = q.node AND m.port = q.port)
                """, logger: logger)
            var holding: Set<DurableQueue> = []
            for try await (namespace, node, port) in rows.decode((String, String, String).self) {
                holding.insert(DurableQueue(namespace: namespace, node: node, port: port))
            }
            return holding
        }
    }

    /// The earliest `visible_at` of the queue: a waiting message's `availableAt` or a lease's
    /// expiry — not after the server's now when a message is claimable already.
    public func nextAvailableTime(of queue: DurableQueue) async throws -> Date? {
        try checkOpen()
        remember([queue])
        return try await perform { connection, logger in
            let rows = try await connection.send(
                """
                SELECT min(visible_at) FROM tinyflow_messages
                WHERE namespace = \(queue.namespace) AND node = \(queue.node) AND port = \(queue.port)
                """, logger: logger)
            var next: Date?
            for try await value in rows.decode(Date?.self) { next = value }
            return next
        }
    }

    // MARK: - Dead letters

    /// The selected dead letters by id: in the order their messages arrived.
    public func deadLetters(_ filter: DeadLetterFilter, limit: Int) async throws -> [DeadLetter] {
        guard limit > 0 else { return [] }
        try checkOpen()
        let (allNodes, nodes, allIDs, ids) = Self.arguments(filter)
        return try await perform { connection, logger in
            let rows = try await connection.send(
                """
                SELECT id, namespace, node, port, edge_node, edge, body, attempts, reason, last_error, enqueued_at, dead_lettered_at
                FROM tinyflow_dead_letters
                WHERE namespace = \(filter.namespace) AND (\(allNodes) OR node = ANY(\(nodes)::text[]))
                    AND (\(allIDs) OR id = ANY(\(ids)::bigint[]))
                ORDER BY id
                LIMIT \(Int64(limit))
                """, logger: logger)
            var letters: [DeadLetter] = []
            for try await (id, namespace, node, port, edgeNode, edge, body, attempts, reason, lastError, enqueuedAt, deadLetteredAt)
                in rows.decode((Int64, String, String, String, String, String, String, Int, String, String, Date, Date).self)
            {
                guard let reason = DeadLetter.Reason(rawValue: reason) else {
                    throw MessageStoreError.corrupt(id: id, reason: "unknown dead-letter reason \"\(reason.prefix(64))\"")
                }
                letters.append(
                    DeadLetter(
                        id: id, queue: DurableQueue(namespace: namespace, node: node, port: port),
                        edge: DurableEdge(node: edgeNode, edge: edge), message: try MessageBody.decode(body, id: id),
                        attempts: attempts, reason: reason, lastError: lastError, enqueuedAt: enqueuedAt,
                        deadLetteredAt: deadLetteredAt))
            }
            return letters
        }
    }

    /// Moves the selected dead letters back into their queues as new arrivals (new ids, in the
    /// order of the old ones; attempts 0, no last error, the first arrival's time kept),
    /// available at once regardless of backlog limits, and notifies their queues.
    public func replay(_ filter: DeadLetterFilter) async throws -> Int {
        try checkOpen()
        let (allNodes, nodes, allIDs, ids) = Self.arguments(filter)
        let (count, queues) = try await perform { connection, logger in
            try await connection.send("BEGIN", logger: logger)
            do {
                let rows = try await connection.send(
                    """
                    WITH moved AS (
                        DELETE FROM tinyflow_dead_letters
                        WHERE namespace = \(filter.namespace) AND (\(allNodes) OR node = ANY(\(nodes)::text[]))
                            AND (\(allIDs) OR id = ANY(\(ids)::bigint[]))
                        RETURNING *
                    )
                    INSERT INTO tinyflow_messages (
                        namespace, node, port, edge_node, edge, body, priority, deadline, visible_at, lease_token, attempts,
                        last_error, enqueued_at)
                    SELECT namespace, node, port, edge_node, edge, body, priority, deadline, now(), NULL, 0, NULL, enqueued_at
                    FROM moved
                    ORDER BY id
                    RETURNING namespace, node, port
                    """, logger: logger)
                var count = 0
                var queues: Set<DurableQueue> = []
                for try await (namespace, node, port) in rows.decode((String, String, String).self) {
                    count += 1
                    queues.insert(DurableQueue(namespace: namespace, node: node, port: port))
                }
                try await Self.notify(work: queues, space: [], on: connection, logger: logger)
                try await connection.send("COMMIT", logger: logger)
                return (count, queues)
            } catch {
                _ = try? await connection.send("ROLLBACK", logger: logger)
                throw error
            }
        }
        remember(queues)
        signals.signal(queues.map { QueueSignals.Key.work($0) })
        return count
    }

    /// Deletes the selected dead letters.
    public func purge(_ filter: DeadLetterFilter) async throws -> Int {
        try checkOpen()
        let (allNodes, nodes, allIDs, ids) = Self.arguments(filter)
        return try await perform { connection, logger in
            let rows = try await connection.send(
                """
                WITH removed AS (
                    DELETE FROM tinyflow_dead_letters
                    WHERE namespace = \(filter.namespace) AND (\(allNodes) OR node = ANY(\(nodes)::text[]))
                        AND (\(allIDs) OR id = ANY(\(ids)::bigint[]))
                    RETURNING 1
                )
                SELECT count(*) FROM removed
                """, logger: logger)
            var count = 0
            for try await value in rows.decode(Int64.self) { count = Int(value) }
            return count
        }
    }

    /// Deletes the node's messages and dead letters and signals the space of the queues that
    /// lost messages (here and, by notification, everywhere).
    public func deleteQueues(namespace: String, node: String) async throws -> Int {
        try checkOpen()
        let (count, emptied) = try await perform { connection, logger in
            try await connection.send("BEGIN", logger: logger)
            do {
                // The node's queues locked in the one order before their messages go (the trigger
                // would update their counters in any order); then their counters go too.
                let locks = try await connection.send(
                    """
                    SELECT 1 FROM tinyflow_queue_backlog WHERE namespace = \(namespace) AND node = \(node)
                    ORDER BY port COLLATE "C" FOR UPDATE
                    """, logger: logger)
                for try await _ in locks {}
                let rows = try await connection.send(
                    """
                    WITH counters AS (
                        DELETE FROM tinyflow_queue_backlog WHERE namespace = \(namespace) AND node = \(node)
                    ), messages AS (
                        DELETE FROM tinyflow_messages WHERE namespace = \(namespace) AND node = \(node) RETURNING port
                    ), letters AS (
                        DELETE FROM tinyflow_dead_letters WHERE namespace = \(namespace) AND node = \(node) RETURNING port
                    )
                    SELECT true, port, count(*) FROM messages GROUP BY port
                    UNION ALL
                    SELECT false, port, count(*) FROM letters GROUP BY port
                    """, logger: logger)
                var count = 0
                var emptied: Set<DurableQueue> = []
                for try await (isMessage, port, removed) in rows.decode((Bool, String, Int64).self) {
                    count += Int(removed)
                    if isMessage { emptied.insert(DurableQueue(namespace: namespace, node: node, port: port)) }
                }
                try await Self.notify(work: [], space: emptied, on: connection, logger: logger)
                try await connection.send("COMMIT", logger: logger)
                return (count, emptied)
            } catch {
                _ = try? await connection.send("ROLLBACK", logger: logger)
                throw error
            }
        }
        knownQueues.withLock { known in known = known.filter { $0.namespace != namespace || $0.node != node } }
        signals.signal(emptied.map { QueueSignals.Key.space($0) })
        return count
    }

    // MARK: - Availability

    /// The context store's check (a statement through the pool within its availability
    /// timeout; when that fails, a direct connection to say why), then the message tables.
    public func checkAvailability() async throws {
        try checkOpen()
        do {
            try await contextStore.checkAvailability()
        } catch ContextStoreError.unavailable(let store, let reason) {
            throw MessageStoreError.unavailable(store: store, reason: reason)
        }
        if !schemaReady.load(ordering: .acquiring) {
            try await perform { _, _ in }
        }
    }

    // MARK: - Internals

    private func checkOpen() throws(MessageStoreError) {
        if closed.load(ordering: .acquiring) {
            throw .unavailable(store: contextStore.configuration.redacted, reason: "the store is closed")
        }
    }

    private func remember(_ queues: Set<DurableQueue>) {
        guard !queues.isEmpty else { return }
        knownQueues.withLock { $0.formUnion(queues) }
    }

    /// Runs `body` on a pooled connection of the context store (its deadline, its schema),
    /// with the message tables in place; the context store's unavailability is this store's.
    private func perform<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        do {
            return try await contextStore.perform { [self] connection, logger in
                if !schemaReady.load(ordering: .acquiring) {
                    try await contextStore.migrate(
                        component: MessageSchema.component, migrations: MessageSchema.migrations, on: connection)
                    schemaReady.store(true, ordering: .releasing)
                }
                return try await body(connection, logger)
            }
        } catch ContextStoreError.unavailable(let store, let reason) {
            throw MessageStoreError.unavailable(store: store, reason: reason)
        }
    }

    /// The filter as query arguments: whether all nodes (ids) match, and the list otherwise.
    private static func arguments(_ filter: DeadLetterFilter) -> (Bool, [String], Bool, [Int64]) {
        (filter.nodes == nil, Array(filter.nodes ?? []), filter.ids == nil, Array(filter.ids ?? []))
    }

    /// Locks the counter rows of `queues` in one order (``MessageSchema/lockQueuesFunction``:
    /// made if missing) and returns their backlogs.
    private static func lockQueues(
        _ queues: Set<DurableQueue>, on connection: PostgresConnection, logger: Logger
    ) async throws -> [DurableQueue: Int] {
        let sorted = queues.sorted()
        let rows = try await connection.send(
            """
            SELECT queue_key, queue_backlog FROM tinyflow_lock_queues(
                \(sorted.map(\.namespace))::text[], \(sorted.map(\.node))::text[], \(sorted.map(\.port))::text[])
            """, logger: logger)
        var counts: [DurableQueue: Int] = [:]
        for try await (key, backlog) in rows.decode((String, Int64).self) {
            let parts = key.split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { continue }
            counts[DurableQueue(namespace: parts[0], node: parts[1], port: parts[2])] = Int(backlog)
        }
        return counts
    }

    /// Inserts `messages` in their order (so their ids increase in it), visible at their
    /// `availableAt` or at once.
    private static func insert(_ messages: [StoredMessage], on connection: PostgresConnection, logger: Logger) async throws {
        let none = Date(timeIntervalSince1970: 0)
        try await connection.send(
            """
            INSERT INTO tinyflow_messages (namespace, node, port, edge_node, edge, body, priority, deadline, visible_at)
            SELECT namespace, node, port, edge_node, edge, body, priority,
                CASE WHEN has_deadline THEN deadline END,
                CASE WHEN has_available_at THEN available_at ELSE now() END
            FROM unnest(
                \(messages.map(\.queue.namespace))::text[], \(messages.map(\.queue.node))::text[],
                \(messages.map(\.queue.port))::text[], \(messages.map(\.edge.node))::text[], \(messages.map(\.edge.edge))::text[],
                \(messages.map(\.body))::text[], \(messages.map(\.priority))::bigint[],
                \(messages.map { $0.deadline ?? none })::timestamptz[], \(messages.map { $0.deadline != nil })::boolean[],
                \(messages.map { $0.availableAt ?? none })::timestamptz[], \(messages.map { $0.availableAt != nil })::boolean[]
            ) WITH ORDINALITY AS r(
                namespace, node, port, edge_node, edge, body, priority, deadline, has_deadline, available_at, has_available_at, n)
            ORDER BY n
            """, logger: logger)
    }

    /// `NOTIFY`s ``DurableNotification/channel`` in the caller's transaction: delivered at commit, not at all on rollback.
    private static func notify(
        work: Set<DurableQueue>, space: Set<DurableQueue>, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let payloads = DurableNotification.payloads(work: work, space: space)
        guard !payloads.isEmpty else { return }
        let rows = try await connection.send(
            "SELECT pg_notify(\(DurableNotification.channel), p) FROM unnest(\(payloads)::text[]) AS p", logger: logger)
        for try await _ in rows {}
    }
}
