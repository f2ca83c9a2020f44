import ContextStoreAPI
import Foundation
import JSONSchemaKit
import Logging
import PostgresNIO

extension PostgresContextStore {
    /// Applies `mutations`, in order, on `connection` inside the caller's open transaction
    /// (``PostgresMessageStore/settle(_:maxBacklog:)``): with the same SQL, limits and rules as
    /// the store's own operations — key and value checks, the scope's key limit, versions from
    /// the store-wide sequence, time to live by the server's clock.
    ///
    /// Throws ``ContextStoreError/conflict(key:attempts:)`` (attempts 1) when a write's expected
    /// version does not hold, and the other context errors as the operations do; the caller
    /// rolls the transaction back, so nothing of it is applied.
    ///
    /// The scopes written are locked first (their advisory locks, which the new-key paths take
    /// too), in one order, so two settlements writing the same keys in opposite orders queue
    /// instead of deadlocking.
    func apply(_ mutations: [ContextMutation], on connection: PostgresConnection, logger: Logger) async throws {
        guard !mutations.isEmpty else { return }
        // Every check that needs no database first: a bad key or value fails before any lock.
        var prepared: [PreparedMutation] = []
        for mutation in mutations {
            try limits.check(key: mutation.key)
            switch mutation {
            case .write(let key, let scope, let value, let ttl, let expecting):
                let encoded = try value.map { value throws(ContextStoreError) in try limits.encode(value, key: key) }
                prepared.append(.write(key: key, scope: scope, encoded: encoded, ttl: Self.microseconds(ttl), expecting: expecting))
            case .increment(let key, let scope, let amount, let ttl):
                prepared.append(.increment(key: key, scope: scope, amount: Int64(amount), ttl: Self.microseconds(ttl)))
            }
        }
        let scopes = Set(mutations.map { "\($0.scope.namespace)\u{1f}\($0.scope.kind.rawValue)\u{1f}\($0.scope.name)" })
        let locks = try await connection.send(
            """
            SELECT pg_advisory_xact_lock(h) FROM (
                SELECT DISTINCT hashtextextended(s, 0) AS h FROM unnest(\(Array(scopes))::text[]) AS s ORDER BY h
            ) AS locks
            """, logger: logger)
        for try await _ in locks {}
        for mutation in prepared {
            try await apply(mutation, on: connection, logger: logger)
        }
    }

    private enum PreparedMutation {
        case write(key: String, scope: ContextScope, encoded: String?, ttl: Int64?, expecting: ExpectedVersion)
        case increment(key: String, scope: ContextScope, amount: Int64, ttl: Int64?)
    }

    private func apply(_ mutation: PreparedMutation, on connection: PostgresConnection, logger: Logger) async throws {
        let maxKeys = Int64(limits.maxKeysPerScope)
        switch mutation {
        case .write(let key, let scope, let encoded?, let ttl, .any):
            let updated = try await connection.send(
                """
                UPDATE tinyflow_context SET value = \(encoded), version = nextval('tinyflow_context_version'),
                    expires_at = now() + \(ttl)::bigint * interval '1 microsecond'
                WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                    AND key = \(key) AND (expires_at IS NULL OR expires_at > now())
                RETURNING version
                """, logger: logger)
            var written = false
            for try await _ in updated.decode(Int64.self) { written = true }
            if written { return }
            try await insert(
                key, scope: scope, encoded: encoded, ttl: ttl, maxKeys: maxKeys, onlyIfAbsent: false, on: connection, logger: logger)

        case .write(let key, let scope, nil, _, .any):
            try await connection.send(
                """
                DELETE FROM tinyflow_context
                WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name) AND key = \(key)
                """, logger: logger)

        case .write(let key, let scope, let encoded?, let ttl, .absent):
            try await insert(
                key, scope: scope, encoded: encoded, ttl: ttl, maxKeys: maxKeys, onlyIfAbsent: true, on: connection, logger: logger)

        case .write(let key, let scope, nil, _, .absent):
            // Deleting a key expected absent changes nothing, if it is absent.
            if try await Self.get(key, in: scope, on: connection, logger: logger) != nil {
                throw ContextStoreError.conflict(key: key, attempts: 1)
            }

        case .write(let key, let scope, let encoded?, let ttl, .version(let expected)):
            let rows = try await connection.send(
                """
                UPDATE tinyflow_context SET value = \(encoded), version = nextval('tinyflow_context_version'),
                    expires_at = now() + \(ttl)::bigint * interval '1 microsecond'
                WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                    AND key = \(key) AND version = \(expected) AND (expires_at IS NULL OR expires_at > now())
                RETURNING version
                """, logger: logger)
            var written = false
            for try await _ in rows.decode(Int64.self) { written = true }
            if !written { throw ContextStoreError.conflict(key: key, attempts: 1) }

        case .write(let key, let scope, nil, _, .version(let expected)):
            let rows = try await connection.send(
                """
                DELETE FROM tinyflow_context
                WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                    AND key = \(key) AND version = \(expected) AND (expires_at IS NULL OR expires_at > now())
                RETURNING version
                """, logger: logger)
            var deleted = false
            for try await _ in rows.decode(Int64.self) { deleted = true }
            if !deleted { throw ContextStoreError.conflict(key: key, attempts: 1) }

        case .increment(let key, let scope, let amount, let ttl):
            do {
                let updated = try await connection.send(
                    """
                    UPDATE tinyflow_context SET value = (value::bigint + \(amount))::text,
                        version = nextval('tinyflow_context_version')
                    WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                        AND key = \(key) AND (expires_at IS NULL OR expires_at > now()) AND value ~ '^-?[0-9]+$'
                    RETURNING value::bigint
                    """, logger: logger)
                var added = false
                for try await _ in updated.decode(Int64.self) { added = true }
                if added { return }
                let rows = try await connection.send(
                    """
                    SELECT o_status, o_total, o_found FROM tinyflow_context_increment(
                        \(scope.namespace), \(scope.kind.rawValue), \(scope.name), \(key), \(amount), \(ttl)::bigint, \(maxKeys))
                    """, logger: logger)
                for try await (status, _, found) in rows.decode((Int, Int64?, String?).self) {
                    switch status {
                    case 2: throw ContextStoreError.tooManyKeys(scope: scope, limit: limits.maxKeysPerScope)
                    case 3: throw ContextStoreError.notAnInteger(key: key, found: found ?? "value")
                    default: break
                    }
                }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "22003" {
                throw ContextStoreError.overflow(key: key)
            }
        }
    }

    /// The new-key path of a write (`tinyflow_context_insert`): status 1 (the key exists and
    /// `onlyIfAbsent`) is a conflict, 2 the scope's key limit.
    private func insert(
        _ key: String, scope: ContextScope, encoded: String, ttl: Int64?, maxKeys: Int64, onlyIfAbsent: Bool,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        let rows = try await connection.send(
            """
            SELECT o_status FROM tinyflow_context_insert(
                \(scope.namespace), \(scope.kind.rawValue), \(scope.name), \(key), \(encoded), \(ttl)::bigint, \(maxKeys), \(onlyIfAbsent))
            """, logger: logger)
        for try await status in rows.decode(Int.self) {
            switch status {
            case 1: throw ContextStoreError.conflict(key: key, attempts: 1)
            case 2: throw ContextStoreError.tooManyKeys(scope: scope, limit: limits.maxKeysPerScope)
            default: break
            }
        }
    }
}
