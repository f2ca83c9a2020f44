import Foundation
import SQLite

/// The raw-engine baseline of the SQLite durable figures: one connection (`SQLiteDatabase`,
/// SQLite's C API with statements prepared once) on a file with the message store's schema
/// (tables, indexes, backlog triggers), doing a durable hop's work in batches without
/// Tinyflow: per batch, one transaction inserting the messages (the store's `INSERT`, the
/// same JSON body), one claiming them (the store's claim `SELECT` in queue order, a lease
/// token, an `UPDATE` per message) and one deleting them (the store's acknowledgement).
///
/// Not thread-safe: one task uses it at a time.
final class RawSQLiteQueue: @unchecked Sendable {
    private let database: SQLiteDatabase
    private let begin: SQLiteDatabase.Statement
    private let commit: SQLiteDatabase.Statement
    private let insert: SQLiteDatabase.Statement
    private let claimable: SQLiteDatabase.Statement
    private let nextToken: SQLiteDatabase.Statement
    private let lease: SQLiteDatabase.Statement
    private let acknowledge: SQLiteDatabase.Statement
    private let namespace = "bench"
    private let node: String
    private let port = "in"

    /// Opens `path` (a file with the store's schema, in WAL mode with `synchronous=NORMAL` as
    /// the store opens it); its messages go to the queue `bench/<node>:in`.
    init(path: String, node: String) throws {
        database = try SQLiteDatabase(path: path, fsync: false)
        self.node = node
        begin = try database.prepare("BEGIN IMMEDIATE")
        commit = try database.prepare("COMMIT")
        // The store's statements, word for word (Sources/ContextStoreSQLite/Internal/MessageStatements.swift).
        insert = try database.prepare("""
            INSERT INTO messages (
                namespace, node, port, edge_node, edge_id, priority, deadline_ms, visible_at_ms,
                lease_token, attempts, last_error, enqueued_at_ms, body)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, 0, NULL, ?9, ?10)
            """)
        claimable = try database.prepare("""
            SELECT id, edge_node, edge_id, attempts, last_error, enqueued_at_ms, body FROM messages
            WHERE namespace = ?1 AND node = ?2 AND port = ?3 AND visible_at_ms <= ?4
            ORDER BY priority DESC, ifnull(deadline_ms, 9223372036854775807), id
            LIMIT ?5
            """)
        nextToken = try database.prepare("UPDATE message_lease_sequence SET last = last + 1 WHERE id = 1 RETURNING last")
        lease = try database.prepare("""
            UPDATE messages SET lease_token = ?2, visible_at_ms = ?3, attempts = attempts + 1 WHERE id = ?1
            """)
        acknowledge = try database.prepare("DELETE FROM messages WHERE id = ?1 AND lease_token = ?2")
    }

    deinit {
        database.close()
    }

    /// Moves `messages` messages through the queue in batches of `batch`, stopping after
    /// `timeLimit`; returns messages per second.
    func hop(messages: Int, batch: Int, body: String, timeLimit: Duration) throws -> Double {
        let start = systemMonotonicNanoseconds()
        let deadline = start + nanoseconds(timeLimit)
        var moved = 0
        var ids: [(id: Int64, token: Int64)] = []
        ids.reserveCapacity(batch)
        while moved < messages, systemMonotonicNanoseconds() < deadline {
            let count = min(batch, messages - moved)
            let now = Self.nowMilliseconds()
            try transaction {
                for _ in 0..<count {
                    defer { insert.reset() }
                    try insert.bind(namespace, at: 1)
                    try insert.bind(node, at: 2)
                    try insert.bind(port, at: 3)
                    try insert.bind("source", at: 4)
                    try insert.bind("hop", at: 5)
                    try insert.bind(Int64(0), at: 6)
                    try insert.bindNull(at: 7)
                    try insert.bind(now, at: 8)
                    try insert.bind(now, at: 9)
                    try insert.bind(body, at: 10)
                    while try insert.step() {}
                }
            }
            ids.removeAll(keepingCapacity: true)
            try transaction {
                let token: Int64
                do {
                    defer { nextToken.reset() }
                    guard try nextToken.step() else { throw DurableBenchError("raw SQLite: no lease token row") }
                    token = nextToken.int64(at: 0)
                }
                do {
                    defer { claimable.reset() }
                    try claimable.bind(namespace, at: 1)
                    try claimable.bind(node, at: 2)
                    try claimable.bind(port, at: 3)
                    try claimable.bind(now, at: 4)
                    try claimable.bind(Int64(count), at: 5)
                    var bytes = 0
                    while try claimable.step() {
                        // Read every column a claim reads; the body as text, not decoded.
                        bytes &+= claimable.withBytes(at: 1) { $0.count } &+ claimable.withBytes(at: 2) { $0.count }
                        bytes &+= Int(claimable.int64(at: 3) &+ claimable.int64(at: 5))
                        bytes &+= claimable.withBytes(at: 6) { $0.count }
                        ids.append((claimable.int64(at: 0), token))
                    }
                    blackHole(bytes)
                }
                for (id, token) in ids {
                    defer { lease.reset() }
                    try lease.bind(id, at: 1)
                    try lease.bind(token, at: 2)
                    try lease.bind(now + 30_000, at: 3)
                    while try lease.step() {}
                }
            }
            guard ids.count == count else { throw DurableBenchError("raw SQLite: claimed \(ids.count) of \(count)") }
            try transaction {
                for (id, token) in ids {
                    defer { acknowledge.reset() }
                    try acknowledge.bind(id, at: 1)
                    try acknowledge.bind(token, at: 2)
                    while try acknowledge.step() {}
                }
            }
            moved += count
        }
        return Double(moved) / (Double(systemMonotonicNanoseconds() - start) / 1e9)
    }

    private func transaction(_ body: () throws -> Void) throws {
        do {
            defer { begin.reset() }
            while try begin.step() {}
        }
        do {
            try body()
        } catch {
            try? database.execute("ROLLBACK")
            throw error
        }
        defer { commit.reset() }
        while try commit.step() {}
    }

    private static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
