import Foundation
import Logging
import PostgresNIO

/// The raw-engine baseline of the PostgreSQL figures: a bare `PostgresConnection` (no pool,
/// no timeout race, no JSON) running the statements `PostgresContextStore` runs for the same
/// operation on an existing key, word for word, with the same bound parameters and the same
/// row decoding. One connection per client.
struct RawPostgres: Sendable {
    let connection: PostgresConnection
    let logger: Logger
    let namespace: String
    let kind: String
    let name: String

    static func connect(
        host: String, port: Int, user: String, password: String?, database: String?,
        namespace: String, kind: String, name: String, id: Int, logger: Logger
    ) async throws -> RawPostgres {
        let configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
        return RawPostgres(connection: connection, logger: logger, namespace: namespace, kind: kind, name: name)
    }

    func close() async {
        try? await connection.close()
    }

    /// The store's `get`: returns the version.
    func get(_ key: String) async throws -> Int64 {
        let rows = try await connection.query(
            """
            SELECT value, version, expires_at FROM tinyflow_context
            WHERE namespace = \(namespace) AND kind = \(kind) AND name = \(name)
                AND key = \(key) AND (expires_at IS NULL OR expires_at > now())
            """, logger: logger)
        for try await (value, version, expiresAt) in rows.decode((String, Int64, Date?).self) {
            blackHole((value, expiresAt))
            return version
        }
        throw ContextBenchError("raw PostgreSQL get: no row for \(key)")
    }

    /// The store's `set` of a live key (its first statement, which finds the row).
    func set(_ key: String, to encoded: String) async throws -> Int64 {
        let ttl: Int64? = nil
        let updated = try await connection.query(
            """
            UPDATE tinyflow_context SET value = \(encoded), version = nextval('tinyflow_context_version'),
                expires_at = now() + \(ttl)::bigint * interval '1 microsecond'
            WHERE namespace = \(namespace) AND kind = \(kind) AND name = \(name)
                AND key = \(key) AND (expires_at IS NULL OR expires_at > now())
            RETURNING version
            """, logger: logger)
        for try await version in updated.decode(Int64.self) { return version }
        throw ContextBenchError("raw PostgreSQL set: no row for \(key)")
    }

    /// The store's `increment` of a live integer key (its first statement, which finds the row).
    func increment(_ key: String, by amount: Int64) async throws -> Int64 {
        let updated = try await connection.query(
            """
            UPDATE tinyflow_context SET value = (value::bigint + \(amount))::text,
                version = nextval('tinyflow_context_version')
            WHERE namespace = \(namespace) AND kind = \(kind) AND name = \(name)
                AND key = \(key) AND (expires_at IS NULL OR expires_at > now()) AND value ~ '^-?[0-9]+$'
            RETURNING value::bigint
            """, logger: logger)
        for try await total in updated.decode(Int64.self) { return total }
        throw ContextBenchError("raw PostgreSQL increment: no row for \(key)")
    }
}
