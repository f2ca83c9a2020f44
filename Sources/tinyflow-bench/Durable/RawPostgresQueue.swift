import Foundation
import Logging
import PostgresNIO

/// The raw-engine baseline of the PostgreSQL durable figures: one bare `PostgresConnection`
/// (no pool, no deadline race, no JSON decoding) on the message store's tables, doing a
/// durable hop's work in batches without Tinyflow: per batch, the store's multi-row `INSERT`
/// (`unnest` of arrays, the same JSON body), its claim (the `FOR UPDATE SKIP LOCKED` pick and
/// the leasing `UPDATE … RETURNING`, one statement) and its acknowledgement (`DELETE … = ANY`),
/// each its own transaction. Without what Tinyflow adds around them: the backlog count under
/// an advisory lock, `NOTIFY`s, the expiry check, the lease check before the delete.
struct RawPostgresQueue: Sendable {
    let connection: PostgresConnection
    let logger: Logger
    let namespace = "bench"
    let node: String
    let port = "in"

    static func connect(
        host: String, port: Int, user: String, password: String?, database: String?, node: String, logger: Logger
    ) async throws -> RawPostgresQueue {
        let configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        return RawPostgresQueue(connection: connection, logger: logger, node: node)
    }

    func close() async {
        try? await connection.close()
    }

    /// Moves `messages` messages through the queue in batches of `batch`, stopping after
    /// `timeLimit`; returns messages per second.
    func hop(messages: Int, batch: Int, body: String, timeLimit: Duration) async throws -> Double {
        let start = systemMonotonicNanoseconds()
        let deadline = start + nanoseconds(timeLimit)
        var moved = 0
        let leaseMicroseconds: Int64 = 30_000_000
        while moved < messages, systemMonotonicNanoseconds() < deadline {
            let count = min(batch, messages - moved)
            let none = Date(timeIntervalSince1970: 0)
            let namespaces = Array(repeating: namespace, count: count)
            let nodes = Array(repeating: node, count: count)
            let ports = Array(repeating: port, count: count)
            let edgeNodes = Array(repeating: "source", count: count)
            let edges = Array(repeating: "hop", count: count)
            let bodies = Array(repeating: body, count: count)
            let priorities = Array(repeating: Int64(0), count: count)
            let times = Array(repeating: none, count: count)
            let flags = Array(repeating: false, count: count)
            _ = try await connection.query(
                """
                INSERT INTO tinyflow_messages (namespace, node, port, edge_node, edge, body, priority, deadline, visible_at)
                SELECT namespace, node, port, edge_node, edge, body, priority,
                    CASE WHEN has_deadline THEN deadline END,
                    CASE WHEN has_available_at THEN available_at ELSE now() END
                FROM unnest(
                    \(namespaces)::text[], \(nodes)::text[], \(ports)::text[], \(edgeNodes)::text[], \(edges)::text[],
                    \(bodies)::text[], \(priorities)::bigint[], \(times)::timestamptz[], \(flags)::boolean[],
                    \(times)::timestamptz[], \(flags)::boolean[]
                ) WITH ORDINALITY AS r(
                    namespace, node, port, edge_node, edge, body, priority, deadline, has_deadline, available_at, has_available_at, n)
                ORDER BY n
                """, logger: logger)
            let claimed = try await connection.query(
                """
                WITH picked AS (
                    SELECT id FROM tinyflow_messages
                    WHERE namespace = \(namespace) AND node = \(node) AND port = \(port)
                        AND visible_at <= now() AND (deadline IS NULL OR deadline > now())
                    ORDER BY priority DESC, deadline ASC NULLS LAST, id
                    LIMIT \(Int64(count))
                    FOR UPDATE SKIP LOCKED
                ), claimed AS (
                    UPDATE tinyflow_messages m
                    SET lease_token = nextval('tinyflow_message_lease'),
                        visible_at = now() + \(leaseMicroseconds)::bigint * interval '1 microsecond',
                        attempts = m.attempts + 1
                    FROM picked WHERE m.id = picked.id
                    RETURNING m.id, m.lease_token, m.edge_node, m.edge, m.body, m.attempts, m.last_error, m.enqueued_at,
                        m.visible_at, m.priority, m.deadline
                )
                SELECT id, lease_token, edge_node, edge, body, attempts, last_error, enqueued_at, visible_at, priority, deadline
                FROM claimed
                """, logger: logger)
            var ids: [Int64] = []
            ids.reserveCapacity(count)
            for try await row in claimed.decode((Int64, Int64, String, String, String, Int, String?, Date, Date, Int64, Date?).self) {
                ids.append(row.0)
                blackHole(row)
            }
            guard ids.count == count else { throw DurableBenchError("raw PostgreSQL: claimed \(ids.count) of \(count)") }
            _ = try await connection.query("DELETE FROM tinyflow_messages WHERE id = ANY(\(ids)::bigint[])", logger: logger)
            moved += count
        }
        return Double(moved) / (Double(systemMonotonicNanoseconds() - start) / 1e9)
    }
}
