import ComponentKit
import Foundation
import MessageStoreAPI
import SQLite

/// The message store's SQL on one connection of the context store's file: each statement is
/// compiled on its first use on that connection and kept with it (`cachedStatement`), so a
/// context store nobody queues messages in compiles none of them.
///
/// Every method runs inside whatever the caller holds: the connection's lock, and for the
/// writing ones a transaction the caller opened. No statement is left mid-way.
struct MessageStatements {
    let database: SQLiteDatabase

    init(_ database: SQLiteDatabase) {
        self.database = database
    }

    // MARK: - Rows

    /// A stored message as a claim (or an expiry) reads it, its body not decoded yet: a claim
    /// decodes after its transaction, so that the file's write lock is not held meanwhile.
    struct StoredMessage: Sendable {
        var id: Int64
        var edge: DurableEdge
        /// The message's JSON text (``MessageBody``).
        var body: Data
        /// Claims so far (before this one).
        var attempts: Int
        var lastError: String?
        var enqueuedAtMilliseconds: Int64

        /// The message, or ``MessageStoreError/corrupt(id:reason:)``.
        func message() throws(MessageStoreError) -> Message {
            do {
                return try MessageBody.decode(body)
            } catch {
                throw .corrupt(id: id, reason: "its body is not a message: \(error)")
            }
        }
    }

    /// Who holds a message's lease, and where it waits.
    struct Holder {
        var token: Int64?
        var queue: DurableQueue
    }

    /// The columns a new message is stored with.
    struct NewMessage {
        var queue: DurableQueue
        var edge: DurableEdge
        var priority: Int
        var deadlineMilliseconds: Int64?
        var visibleAtMilliseconds: Int64
        var body: String
    }

    // MARK: - Writing

    /// The next lease token of the store-wide sequence.
    func nextLeaseToken() throws -> Int64 {
        let statement = try database.cachedStatement(
            "UPDATE message_lease_sequence SET last = last + 1 WHERE id = 1 RETURNING last")
        defer { statement.reset() }
        guard try statement.step() else {
            throw SQLiteError(code: 1, message: "the lease token counter row is missing")
        }
        return statement.int64(at: 0)
    }

    /// Stores messages, waiting and never claimed, enqueued at `now`, in their order.
    func insert(_ messages: some Sequence<NewMessage>, now: Int64) throws {
        // Looked up once for all: the cache is keyed by the statement's text, hashed at each lookup.
        let statement = try database.cachedStatement("""
            INSERT INTO messages (
                namespace, node, port, edge_node, edge_id, priority, deadline_ms, visible_at_ms,
                lease_token, attempts, last_error, enqueued_at_ms, body)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, 0, NULL, ?9, ?10)
            """)
        for message in messages {
            defer { statement.reset() }
            try statement.bind(message.queue)
            try statement.bind(message.edge.node, at: 4)
            try statement.bind(message.edge.edge, at: 5)
            try statement.bind(Int64(message.priority), at: 6)
            try statement.bind(message.deadlineMilliseconds, at: 7)
            try statement.bind(message.visibleAtMilliseconds, at: 8)
            try statement.bind(now, at: 9)
            try statement.bind(message.body, at: 10)
            while try statement.step() {}
        }
    }

    /// The messages of `queue` whose deadline passed at `now` and that no live lease holds,
    /// in arrival order.
    func expired(in queue: DurableQueue, now: Int64) throws -> [StoredMessage] {
        let statement = try database.cachedStatement("""
            SELECT id, edge_node, edge_id, attempts, last_error, enqueued_at_ms, body FROM messages
            WHERE namespace = ?1 AND node = ?2 AND port = ?3 AND deadline_ms <= ?4
                AND (lease_token IS NULL OR visible_at_ms <= ?4)
            ORDER BY id
            """)
        defer { statement.reset() }
        try statement.bind(queue)
        try statement.bind(now, at: 4)
        return try Self.storedMessages(statement)
    }

    /// The first `limit` messages of `queue` a claim may take at `now` (available, and not
    /// leased or with an expired lease), in claim order.
    func claimable(in queue: DurableQueue, now: Int64, limit: Int) throws -> [StoredMessage] {
        let statement = try database.cachedStatement("""
            SELECT id, edge_node, edge_id, attempts, last_error, enqueued_at_ms, body FROM messages
            WHERE namespace = ?1 AND node = ?2 AND port = ?3 AND visible_at_ms <= ?4
            ORDER BY priority DESC, ifnull(deadline_ms, \(MessageSchema.noDeadline)), id
            LIMIT ?5
            """)
        defer { statement.reset() }
        try statement.bind(queue)
        try statement.bind(now, at: 4)
        try statement.bind(Int64(max(limit, 0)), at: 5)
        return try Self.storedMessages(statement)
    }

    /// Leases messages `ids` with `token` until `expiresAt`, counting an attempt of each.
    func lease(_ ids: some Sequence<Int64>, token: Int64, expiresAt: Int64) throws {
        let statement = try database.cachedStatement("""
            UPDATE messages SET lease_token = ?2, visible_at_ms = ?3, attempts = attempts + 1 WHERE id = ?1
            """)
        for id in ids {
            defer { statement.reset() }
            try statement.bind(id, at: 1)
            try statement.bind(token, at: 2)
            try statement.bind(expiresAt, at: 3)
            while try statement.step() {}
        }
    }

    /// Takes back a claim that was not handed out: messages `ids`, if `token` still holds them,
    /// are available at `now` again, the claim's attempt uncounted.
    func unclaim(_ ids: some Sequence<Int64>, token: Int64, now: Int64) throws {
        let statement = try database.cachedStatement("""
            UPDATE messages SET lease_token = NULL, visible_at_ms = ?3, attempts = attempts - 1
            WHERE id = ?1 AND lease_token = ?2
            """)
        for id in ids {
            defer { statement.reset() }
            try statement.bind(id, at: 1)
            try statement.bind(token, at: 2)
            try statement.bind(now, at: 3)
            while try statement.step() {}
        }
    }

    /// The token of the last claim of message `id` and its queue; `nil` if there is no such
    /// message (settled, dead-lettered, deleted).
    func holder(of id: Int64) throws -> Holder? {
        let statement = try database.cachedStatement(
            "SELECT lease_token, namespace, node, port FROM messages WHERE id = ?1")
        defer { statement.reset() }
        try statement.bind(id, at: 1)
        guard try statement.step() else { return nil }
        return Holder(
            token: statement.optionalInt64(at: 0),
            queue: DurableQueue(namespace: statement.text(at: 1), node: statement.text(at: 2), port: statement.text(at: 3)))
    }

    /// Removes the messages of `leases` whose token still holds them; returns, for each lease
    /// in order, the queue its message left, or `nil` if the lease was not held (the message
    /// was claimed again, settled, or the lease is named a second time).
    func acknowledge(_ leases: some Sequence<MessageStoreAPI.Lease>) throws -> [DurableQueue?] {
        let statement = try database.cachedStatement(
            "DELETE FROM messages WHERE id = ?1 AND lease_token = ?2 RETURNING namespace, node, port")
        var queues: [DurableQueue?] = []
        var last: DurableQueue?
        for lease in leases {
            defer { statement.reset() }
            try statement.bind(lease.id, at: 1)
            try statement.bind(lease.token, at: 2)
            guard try statement.step() else {
                queues.append(nil)
                continue
            }
            // A batch's messages mostly come from one queue: that one is not read again.
            if let known = last, statement.hasText(known.namespace, at: 0), statement.hasText(known.node, at: 1),
                statement.hasText(known.port, at: 2)
            {
                queues.append(known)
            } else {
                let queue = DurableQueue(namespace: statement.text(at: 0), node: statement.text(at: 1), port: statement.text(at: 2))
                last = queue
                queues.append(queue)
            }
            while try statement.step() {}
        }
        return queues
    }

    /// Releases message `id` if `token` still holds it, available again at `availableAt`
    /// with `error` as its last and the attempt uncounted unless `countsAsAttempt`; returns
    /// whether it did.
    func release(_ id: Int64, token: Int64, availableAt: Int64, error: String, countsAsAttempt: Bool) throws -> Bool {
        let statement = try database.cachedStatement("""
            UPDATE messages SET lease_token = NULL, visible_at_ms = ?3, last_error = ?4, attempts = attempts - ?5
            WHERE id = ?1 AND lease_token = ?2
            """)
        defer { statement.reset() }
        try statement.bind(id, at: 1)
        try statement.bind(token, at: 2)
        try statement.bind(availableAt, at: 3)
        try statement.bind(error, at: 4)
        try statement.bind(Int64(countsAsAttempt ? 0 : 1), at: 5)
        while try statement.step() {}
        return database.changes == 1
    }

    /// Moves message `id` to the dead letters, if `token` still holds it (`nil`: whoever
    /// does), with `reason` and `error`, at `now`; returns whether it did.
    func deadLetter(_ id: Int64, token: Int64?, reason: DeadLetter.Reason, error: String, now: Int64) throws -> Bool {
        let insert = try database.cachedStatement("""
            INSERT INTO dead_letters (
                id, namespace, node, port, edge_node, edge_id, priority, deadline_ms, attempts, reason, last_error,
                enqueued_at_ms, dead_lettered_at_ms, body)
            SELECT id, namespace, node, port, edge_node, edge_id, priority, deadline_ms, attempts, ?3, ?4,
                enqueued_at_ms, ?5, body
            FROM messages WHERE id = ?1 AND (?2 IS NULL OR lease_token = ?2)
            """)
        do {
            defer { insert.reset() }
            try insert.bind(id, at: 1)
            try insert.bind(token, at: 2)
            try insert.bind(reason.rawValue, at: 3)
            try insert.bind(error, at: 4)
            try insert.bind(now, at: 5)
            while try insert.step() {}
            guard database.changes == 1 else { return false }
        }
        let delete = try database.cachedStatement("DELETE FROM messages WHERE id = ?1")
        defer { delete.reset() }
        try delete.bind(id, at: 1)
        while try delete.step() {}
        return true
    }

    /// Moves message `id`'s lease to expire at `expiresAt` if `token` still holds it; returns
    /// whether it did.
    func extend(_ id: Int64, token: Int64, expiresAt: Int64) throws -> Bool {
        let statement = try database.cachedStatement(
            "UPDATE messages SET visible_at_ms = ?3 WHERE id = ?1 AND lease_token = ?2")
        defer { statement.reset() }
        try statement.bind(id, at: 1)
        try statement.bind(token, at: 2)
        try statement.bind(expiresAt, at: 3)
        while try statement.step() {}
        return database.changes == 1
    }

    /// Puts the dead letters `filter` selects back into their queues as new arrivals (new ids,
    /// in their old order), attempts reset, available at `now`, and removes them from the dead
    /// letters; returns the queue of each.
    func replay(_ filter: DeadLetterFilter, now: Int64) throws -> [DurableQueue] {
        let insert = try database.cachedStatement("""
            INSERT INTO messages (
                namespace, node, port, edge_node, edge_id, priority, deadline_ms, visible_at_ms,
                lease_token, attempts, last_error, enqueued_at_ms, body)
            SELECT namespace, node, port, edge_node, edge_id, priority, deadline_ms, ?4, NULL, 0, NULL, enqueued_at_ms, body
            FROM dead_letters WHERE \(Self.filterCondition)
            ORDER BY id
            RETURNING namespace, node, port
            """)
        var queues: [DurableQueue] = []
        do {
            defer { insert.reset() }
            try insert.bind(filter)
            try insert.bind(now, at: 4)
            while try insert.step() {
                queues.append(DurableQueue(namespace: insert.text(at: 0), node: insert.text(at: 1), port: insert.text(at: 2)))
            }
        }
        guard !queues.isEmpty else { return [] }
        _ = try purge(filter)
        return queues
    }

    /// Removes the dead letters `filter` selects; returns how many.
    func purge(_ filter: DeadLetterFilter) throws -> Int {
        let statement = try database.cachedStatement("DELETE FROM dead_letters WHERE \(Self.filterCondition)")
        defer { statement.reset() }
        try statement.bind(filter)
        while try statement.step() {}
        return database.changes
    }

    /// Removes every message and dead letter of the node's queues; returns the ports whose
    /// queues lost messages and how many rows went.
    func deleteQueues(namespace: String, node: String) throws -> (ports: Set<String>, removed: Int) {
        var ports: Set<String> = []
        var removed = 0
        do {
            let statement = try database.cachedStatement(
                "DELETE FROM messages WHERE namespace = ?1 AND node = ?2 RETURNING port")
            defer { statement.reset() }
            try statement.bind(namespace, at: 1)
            try statement.bind(node, at: 2)
            while try statement.step() {
                ports.insert(statement.text(at: 0))
                removed += 1
            }
        }
        do {
            let statement = try database.cachedStatement("DELETE FROM dead_letters WHERE namespace = ?1 AND node = ?2")
            defer { statement.reset() }
            try statement.bind(namespace, at: 1)
            try statement.bind(node, at: 2)
            while try statement.step() {}
            removed += database.changes
        }
        let statement = try database.cachedStatement("DELETE FROM message_queues WHERE namespace = ?1 AND node = ?2")
        defer { statement.reset() }
        try statement.bind(namespace, at: 1)
        try statement.bind(node, at: 2)
        while try statement.step() {}
        return (ports, removed)
    }

    // MARK: - Reading (either connection)

    /// How many messages `queue` holds, leased or waiting (the count the triggers keep).
    func count(in queue: DurableQueue) throws -> Int {
        let statement = try database.cachedStatement(
            "SELECT backlog FROM message_queues WHERE namespace = ?1 AND node = ?2 AND port = ?3")
        defer { statement.reset() }
        try statement.bind(queue)
        guard try statement.step() else { return 0 }
        return Int(statement.int64(at: 0))
    }

    /// The earliest time at which a claim may take a message of `queue` (its availability or
    /// its lease's expiry; possibly past), or `nil` when it holds none.
    func earliestVisibleTime(in queue: DurableQueue) throws -> Int64? {
        let statement = try database.cachedStatement(
            "SELECT min(visible_at_ms) FROM messages WHERE namespace = ?1 AND node = ?2 AND port = ?3")
        defer { statement.reset() }
        try statement.bind(queue)
        guard try statement.step() else { return nil }
        return statement.optionalInt64(at: 0)
    }

    /// The dead letters `filter` selects, in arrival order of their messages, at most `limit`.
    func deadLetters(_ filter: DeadLetterFilter, limit: Int) throws -> [DeadLetter] {
        let statement = try database.cachedStatement("""
            SELECT id, namespace, node, port, edge_node, edge_id, attempts, reason, last_error, enqueued_at_ms,
                dead_lettered_at_ms, body
            FROM dead_letters WHERE \(Self.filterCondition)
            ORDER BY id
            LIMIT ?4
            """)
        defer { statement.reset() }
        try statement.bind(filter)
        try statement.bind(Int64(max(limit, 0)), at: 4)
        var letters: [DeadLetter] = []
        while try statement.step() {
            let id = statement.int64(at: 0)
            let reasonText = statement.text(at: 7)
            guard let reason = DeadLetter.Reason(rawValue: reasonText) else {
                throw MessageStoreError.corrupt(id: id, reason: "unknown dead-letter reason \"\(reasonText)\"")
            }
            letters.append(DeadLetter(
                id: id,
                queue: DurableQueue(namespace: statement.text(at: 1), node: statement.text(at: 2), port: statement.text(at: 3)),
                edge: DurableEdge(node: statement.text(at: 4), edge: statement.text(at: 5)),
                message: try Self.message(statement, column: 11, id: id),
                attempts: Int(statement.int64(at: 6)),
                reason: reason,
                lastError: statement.text(at: 8),
                enqueuedAt: SQLiteContextStore.date(statement.int64(at: 9)),
                deadLetteredAt: SQLiteContextStore.date(statement.int64(at: 10))))
        }
        return letters
    }

    // MARK: - Helpers

    /// The rows a ``DeadLetterFilter`` selects, on parameters 1 (namespace), 2 (nodes, a JSON
    /// array or `NULL`) and 3 (ids, a JSON array or `NULL`): one statement whatever the filter.
    private static let filterCondition = """
        namespace = ?1
            AND (?2 IS NULL OR node IN (SELECT value FROM json_each(?2)))
            AND (?3 IS NULL OR id IN (SELECT value FROM json_each(?3)))
        """

    /// Reads `id, edge_node, edge_id, attempts, last_error, enqueued_at_ms, body` rows.
    private static func storedMessages(_ statement: SQLiteDatabase.Statement) throws -> [StoredMessage] {
        var messages: [StoredMessage] = []
        while try statement.step() {
            let id = statement.int64(at: 0)
            messages.append(StoredMessage(
                id: id,
                edge: DurableEdge(node: statement.text(at: 1), edge: statement.text(at: 2)),
                body: statement.data(at: 6),
                attempts: Int(statement.int64(at: 3)),
                lastError: statement.isNull(at: 4) ? nil : statement.text(at: 4),
                enqueuedAtMilliseconds: statement.int64(at: 5)))
        }
        return messages
    }

    /// Decodes the message body in `column`.
    private static func message(_ statement: SQLiteDatabase.Statement, column: Int32, id: Int64) throws -> Message {
        do {
            return try MessageBody.decode(statement.data(at: column))
        } catch {
            throw MessageStoreError.corrupt(id: id, reason: "its body is not a message: \(error)")
        }
    }
}

extension SQLiteDatabase.Statement {
    /// Whether column `index` of the current row is `text`, compared as bytes without making a string.
    fileprivate func hasText(_ text: String, at index: Int32) -> Bool {
        var text = text
        return text.withUTF8 { expected in withBytes(at: index) { $0.elementsEqual(expected) } }
    }

    /// Binds a queue to parameters 1…3 (namespace, node, port).
    fileprivate func bind(_ queue: DurableQueue) throws {
        try bind(queue.namespace, at: 1)
        try bind(queue.node, at: 2)
        try bind(queue.port, at: 3)
    }

    /// Binds a dead-letter filter to parameters 1…3 (``MessageStatements/filterCondition``).
    fileprivate func bind(_ filter: DeadLetterFilter) throws {
        try bind(filter.namespace, at: 1)
        if let nodes = filter.nodes { try bind(Self.jsonArray(nodes.sorted()), at: 2) } else { try bindNull(at: 2) }
        if let ids = filter.ids { try bind(Self.jsonArray(ids.sorted()), at: 3) } else { try bindNull(at: 3) }
    }

    /// A JSON array of `values` (strings escaped as JSON wants).
    private static func jsonArray<T: Encodable>(_ values: [T]) throws -> String {
        String(decoding: try JSONEncoder().encode(values), as: UTF8.self)
    }
}
