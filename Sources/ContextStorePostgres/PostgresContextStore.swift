public import ContextStoreAPI
import Foundation
public import JSONSchemaKit
public import Logging
import MessageStoreAPI
import NIOCore
import NIOSSL
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// A context store in a PostgreSQL database: shared by every replica of every module of a
/// cluster, so atomic operations are atomic across replicas.
///
/// A `Service`: its ``run()`` runs the connection pool until cancelled or shut down
/// gracefully, and every operation waits (within ``Configuration/operationTimeout``) for it
/// to have started. The schema is created or migrated on first use. When the database cannot
/// be reached, operations throw ``ContextStoreError/unavailable(store:reason:)`` within the
/// operation timeout instead of hanging, and work again once it is back, with no restart.
///
/// A ``PostgresMessageStore`` made from it keeps durable edges' messages in the same database,
/// on the same pool, and applies handlers' context writes with this store's rules in the
/// transactions that settle their messages.
public final class PostgresContextStore: ContextStore, Service {
    /// The limits this store enforces.
    public let limits: ContextLimits
    /// Where the database is (its ``Configuration/redacted`` form names it in errors and logs).
    public let configuration: Configuration

    private let client: PostgresClient
    /// The store's logger (its metadata names the redacted database): the message store sharing it logs there too.
    let logger: Logger
    /// Whether ``run()`` serves; a message store sharing the pool ends its own service when this one finishes.
    let lifecycle = Lifecycle()
    private let schemaReady = Atomic<Bool>(false)
    /// A problem with the configuration itself (an unreadable CA file): every operation reports it.
    private let configurationProblem: String?

    /// Creates a store; nothing connects until ``run()`` runs and an operation needs a connection.
    public init(
        configuration: Configuration, limits: ContextLimits = ContextLimits(),
        logger: Logger = Logger(label: "tinyflow.context-store.postgres")
    ) {
        self.configuration = configuration
        self.limits = limits
        var logger = logger
        logger[metadataKey: "context-store"] = "\(configuration.redacted)"
        self.logger = logger

        var problem: String?
        let tls: PostgresClient.Configuration.TLS
        switch Self.makeTLS(configuration) {
        case .success(let value): tls = value
        case .failure(let failure):
            tls = .disable
            problem = failure.reason
        }
        self.configurationProblem = problem

        var clientConfiguration = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.user,
            password: configuration.password, database: configuration.database, tls: tls)
        clientConfiguration.options.connectTimeout = configuration.connectTimeout
        clientConfiguration.options.maximumConnections = max(1, configuration.maxConnections)
        clientConfiguration.options.additionalStartupParameters = configuration.startupParameters
        var backgroundLogger = logger
        backgroundLogger.logLevel = max(logger.logLevel, .notice)
        self.client = PostgresClient(configuration: clientConfiguration, backgroundLogger: backgroundLogger)
    }

    /// Runs the connection pool until the task is cancelled, a graceful shutdown begins or
    /// ``close()`` is called. Run it once (a second call returns at once).
    public func run() async throws {
        guard lifecycle.start() else { return }
        defer { lifecycle.finish() }
        logger.debug("context store running")
        let client = client
        let lifecycle = lifecycle
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    // No suspension between the two: the pool is marked running at once, before
                    // any operation that `serving()` wakes can ask it for a connection.
                    lifecycle.serving()
                    await client.run()
                }
                group.addTask { await lifecycle.waitForStopRequest() }
                await group.next()
                group.cancelAll()
            }
        }
        logger.debug("context store stopped")
    }

    /// Stops ``run()`` and waits for its connections to close; operations fail afterwards.
    public func close() async {
        lifecycle.requestStop()
        await lifecycle.waitUntilRunReturned()
    }

    // MARK: - Operations

    public func get(_ key: String, in scope: ContextScope) async throws -> ContextEntry? {
        try await perform { connection, logger in
            try await Self.get(key, in: scope, on: connection, logger: logger)
        }
    }

    public func set(_ key: String, to value: JSONValue, in scope: ContextScope, ttl: Duration?) async throws -> Int64 {
        try limits.check(key: key)
        let encoded = try limits.encode(value, key: key)
        let ttl = Self.microseconds(ttl)
        let maxKeys = Int64(limits.maxKeysPerScope)
        return try await perform { connection, logger in
            let updated = try await connection.send(
                """
                UPDATE tinyflow_context SET value = \(encoded), version = nextval('tinyflow_context_version'),
                    expires_at = now() + \(ttl)::bigint * interval '1 microsecond'
                WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                    AND key = \(key) AND (expires_at IS NULL OR expires_at > now())
                RETURNING version
                """, logger: logger)
            for try await version in updated.decode(Int64.self) { return version }
            let rows = try await connection.send(
                """
                SELECT o_status, o_version FROM tinyflow_context_insert(
                    \(scope.namespace), \(scope.kind.rawValue), \(scope.name), \(key), \(encoded), \(ttl)::bigint, \(maxKeys), false)
                """, logger: logger)
            for try await (status, version) in rows.decode((Int, Int64?).self) {
                if status == 2 { throw ContextStoreError.tooManyKeys(scope: scope, limit: self.limits.maxKeysPerScope) }
                if let version { return version }
            }
            throw ContextStoreError.unavailable(store: self.configuration.redacted, reason: "the database returned no version for the write")
        }
    }

    public func delete(_ key: String, in scope: ContextScope) async throws -> Bool {
        try await perform { connection, logger in
            let rows = try await connection.send(
                """
                DELETE FROM tinyflow_context
                WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name) AND key = \(key)
                RETURNING (expires_at IS NULL OR expires_at > now())
                """, logger: logger)
            var live = false
            for try await wasLive in rows.decode(Bool.self) { live = wasLive }
            return live
        }
    }

    public func keys(in scope: ContextScope, prefix: String) async throws -> [String] {
        try await perform { connection, logger in
            let rows = try await connection.send(
                """
                SELECT key FROM tinyflow_context
                WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                    AND starts_with(key, \(prefix)) AND (expires_at IS NULL OR expires_at > now())
                ORDER BY key
                """, logger: logger)
            var keys: [String] = []
            for try await key in rows.decode(String.self) { keys.append(key) }
            return keys
        }
    }

    public func compareAndSet(
        _ key: String, in scope: ContextScope, expecting expected: Int64?, to value: JSONValue?, ttl: Duration?
    ) async throws -> CompareAndSetOutcome {
        try limits.check(key: key)
        let encoded = try value.map { value throws(ContextStoreError) in try limits.encode(value, key: key) }
        let ttl = Self.microseconds(ttl)
        let maxKeys = Int64(limits.maxKeysPerScope)
        return try await perform { connection, logger in
            switch (expected, encoded) {
            case (let expected?, let encoded?):
                let rows = try await connection.send(
                    """
                    UPDATE tinyflow_context SET value = \(encoded), version = nextval('tinyflow_context_version'),
                        expires_at = now() + \(ttl)::bigint * interval '1 microsecond'
                    WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                        AND key = \(key) AND version = \(expected) AND (expires_at IS NULL OR expires_at > now())
                    RETURNING version
                    """, logger: logger)
                for try await version in rows.decode(Int64.self) { return .written(version: version) }
            case (let expected?, nil):
                let rows = try await connection.send(
                    """
                    DELETE FROM tinyflow_context
                    WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                        AND key = \(key) AND version = \(expected) AND (expires_at IS NULL OR expires_at > now())
                    RETURNING version
                    """, logger: logger)
                for try await _ in rows.decode(Int64.self) { return .written(version: nil) }
            case (nil, let encoded?):
                let rows = try await connection.send(
                    """
                    SELECT o_status, o_version, o_value, o_expires_at FROM tinyflow_context_insert(
                        \(scope.namespace), \(scope.kind.rawValue), \(scope.name), \(key), \(encoded), \(ttl)::bigint, \(maxKeys), true)
                    """, logger: logger)
                for try await (status, version, value, expiresAt) in rows.decode((Int, Int64?, String?, Date?).self) {
                    switch status {
                    case 0: return .written(version: version)
                    case 2: throw ContextStoreError.tooManyKeys(scope: scope, limit: self.limits.maxKeysPerScope)
                    default:
                        guard let version, let value else { break }
                        return .conflict(current: try Self.entry(key: key, value: value, version: version, expiresAt: expiresAt))
                    }
                }
            case (nil, nil):
                break
            }
            let current = try await Self.get(key, in: scope, on: connection, logger: logger)
            if expected == nil, encoded == nil, current == nil { return .written(version: nil) }
            return .conflict(current: current)
        }
    }

    public func increment(_ key: String, by amount: Int, in scope: ContextScope, ttl: Duration?) async throws -> Int {
        try limits.check(key: key)
        let ttl = Self.microseconds(ttl)
        let maxKeys = Int64(limits.maxKeysPerScope)
        let amount = Int64(amount)
        return try await perform { connection, logger in
            do {
                let updated = try await connection.send(
                    """
                    UPDATE tinyflow_context SET value = (value::bigint + \(amount))::text,
                        version = nextval('tinyflow_context_version')
                    WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                        AND key = \(key) AND (expires_at IS NULL OR expires_at > now()) AND value ~ '^-?[0-9]+$'
                    RETURNING value::bigint
                    """, logger: logger)
                for try await total in updated.decode(Int64.self) { return Int(total) }
                let rows = try await connection.send(
                    """
                    SELECT o_status, o_total, o_found FROM tinyflow_context_increment(
                        \(scope.namespace), \(scope.kind.rawValue), \(scope.name), \(key), \(amount), \(ttl)::bigint, \(maxKeys))
                    """, logger: logger)
                for try await (status, total, found) in rows.decode((Int, Int64?, String?).self) {
                    switch status {
                    case 2: throw ContextStoreError.tooManyKeys(scope: scope, limit: self.limits.maxKeysPerScope)
                    case 3: throw ContextStoreError.notAnInteger(key: key, found: found ?? "value")
                    default: if let total { return Int(total) }
                    }
                }
                throw ContextStoreError.unavailable(store: self.configuration.redacted, reason: "the database returned no sum")
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "22003" {
                throw ContextStoreError.overflow(key: key)
            }
        }
    }

    /// Reads the key with a row lock (`SELECT … FOR UPDATE`) and writes `transform`'s result in
    /// the same transaction, so concurrent updates of one key queue on the server instead of
    /// racing a compare-and-set that a busy writer can lose every time. Only a key that is
    /// absent and created concurrently makes it start again (at most 100 times).
    public func update(
        _ key: String, in scope: ContextScope, ttl: Duration?, _ transform: (JSONValue?) throws -> JSONValue?
    ) async throws -> JSONValue? {
        try limits.check(key: key)
        let ttl = Self.microseconds(ttl)
        let maxKeys = Int64(limits.maxKeysPerScope)
        let limits = limits
        let attempts = 100
        return try await withoutActuallyEscaping(transform) { transform in
            // Called only by the operation below, which `perform` awaits: never concurrently, never later.
            let transform = UncheckedSendable(transform)
            for _ in 0..<attempts {
                let outcome: UpdateOutcome = try await perform { connection, logger in
                    try await connection.send("BEGIN", logger: logger)
                    do {
                        let rows = try await connection.send(
                            """
                            SELECT value FROM tinyflow_context
                            WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                                AND key = \(key) AND (expires_at IS NULL OR expires_at > now())
                            FOR UPDATE
                            """, logger: logger)
                        var stored: String?
                        for try await value in rows.decode(String.self) { stored = value }
                        let current = try stored.map { value throws(ContextStoreError) in
                            try Self.entry(key: key, value: value, version: 0, expiresAt: nil).value
                        }
                        let next = try transform.value(current)
                        let encoded = try next.map { value throws(ContextStoreError) in try limits.encode(value, key: key) }
                        switch (stored, encoded) {
                        case (_?, let encoded?):
                            try await connection.send(
                                """
                                UPDATE tinyflow_context SET value = \(encoded), version = nextval('tinyflow_context_version'),
                                    expires_at = now() + \(ttl)::bigint * interval '1 microsecond'
                                WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                                    AND key = \(key)
                                """, logger: logger)
                        case (_?, nil):
                            try await connection.send(
                                """
                                DELETE FROM tinyflow_context
                                WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                                    AND key = \(key)
                                """, logger: logger)
                        case (nil, let encoded?):
                            let rows = try await connection.send(
                                """
                                SELECT o_status FROM tinyflow_context_insert(
                                    \(scope.namespace), \(scope.kind.rawValue), \(scope.name), \(key), \(encoded), \(ttl)::bigint, \(maxKeys), true)
                                """, logger: logger)
                            var status = 0
                            for try await value in rows.decode(Int.self) { status = value }
                            switch status {
                            case 1:  // created meanwhile: read it again, locked this time
                                try await connection.send("ROLLBACK", logger: logger)
                                return .createdMeanwhile
                            case 2: throw ContextStoreError.tooManyKeys(scope: scope, limit: limits.maxKeysPerScope)
                            default: break
                            }
                        case (nil, nil):
                            break
                        }
                        try await connection.send("COMMIT", logger: logger)
                        return .written(next)
                    } catch {
                        // Not sent when the operation was cancelled: its connection closes, which rolls back.
                        _ = try? await connection.send("ROLLBACK", logger: logger)
                        throw error
                    }
                }
                if case .written(let value) = outcome { return value }
            }
            throw ContextStoreError.conflict(key: key, attempts: attempts)
        }
    }

    private enum UpdateOutcome: Sendable {
        case written(JSONValue?)
        case createdMeanwhile
    }

    public func deleteAll(in scope: ContextScope) async throws -> Int {
        try await perform { connection, logger in
            let rows = try await connection.send(
                """
                WITH removed AS (
                    DELETE FROM tinyflow_context
                    WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                    RETURNING expires_at
                )
                SELECT count(*) FILTER (WHERE expires_at IS NULL OR expires_at > now()) FROM removed
                """, logger: logger)
            var count = 0
            for try await removed in rows.decode(Int64.self) { count = Int(removed) }
            return count
        }
    }

    /// Runs `SELECT 1` through the pool (creating the schema first if needed) within
    /// ``Configuration/availabilityTimeout``; when that fails, connects once directly to say
    /// why (refused, unknown host, authentication, TLS).
    public func checkAvailability() async throws {
        let timeout = min(configuration.operationTimeout, configuration.availabilityTimeout)
        do {
            try await perform(timeout: timeout) { connection, logger in
                for try await _ in try await connection.send("SELECT 1", logger: logger) {}
            }
        } catch ContextStoreError.unavailable(let store, let reason) {
            guard lifecycle.isRunning, configurationProblem == nil else {
                throw ContextStoreError.unavailable(store: store, reason: reason)
            }
            let probed = await probe(timeout: timeout) ?? "works (the pool is busy or the server slow)"
            throw ContextStoreError.unavailable(store: store, reason: "\(reason); connecting directly: \(probed)")
        }
    }

    // MARK: - Internals

    /// Runs `body` on a pooled connection after `run()` started and the schema is in place,
    /// within `timeout`: past it, the wait for a connection is cancelled or the connection
    /// closed, and the operation throws ``ContextStoreError/unavailable(store:reason:)``.
    /// The server enforces the same deadline (`statement_timeout`, `lock_timeout`). When the
    /// calling task is cancelled, the operation throws `CancellationError`, not unavailability.
    ///
    /// Errors the body throws on purpose — ``ContextStoreError`` and `MessageStoreError` (the
    /// message store's operations run here too) — pass through unchanged.
    func perform<Result: Sendable>(
        timeout: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        if let configurationProblem { throw unavailable(configurationProblem) }
        if lifecycle.isFinished { throw unavailable("the store is closed") }
        let timeout = timeout ?? configuration.operationTimeout
        let outcome: Outcome<Result>
        do {
            outcome = try await withThrowingTaskGroup(of: Outcome<Result>.self) { group in
                group.addTask {
                    if !self.lifecycle.isRunning { try await self.lifecycle.waitUntilRunning() }
                    return .finished(try await self.onConnection(body))
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return .timedOut
                }
                defer { group.cancelAll() }
                return try await group.next() ?? .timedOut
            }
        } catch let error as ContextStoreError {
            throw error
        } catch let error as MessageStoreError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch where Task.isCancelled {
            // The caller stopped waiting (a node stopping): what the cancelled connection then
            // reports (closed, query cancelled) says nothing about the database.
            throw CancellationError()
        } catch is Lifecycle.NotRunning {
            throw unavailable("the store is closed")
        } catch is ConnectionClosedBeforeStatement {
            throw unavailable("the connection was closed")
        } catch let error as PSQLError {
            throw unavailable(Self.reason(for: error))
        } catch {
            throw unavailable(String(describing: error))
        }
        switch outcome {
        case .finished(let result): return result
        case .timedOut:
            // The timer also ends early when the caller is cancelled: that is no deadline missed.
            if Task.isCancelled { throw CancellationError() }
            if !lifecycle.isRunning {
                throw unavailable("the store is not running (its run() has not started) after \(Self.format(timeout))")
            }
            throw unavailable(
                "no answer from \(configuration.host):\(configuration.port) within \(Self.format(timeout)) "
                    + "(the server is down, unreachable or overloaded)")
        }
    }

    /// Runs `body` on a pooled connection, on that connection's event loop, closing the
    /// connection if the task is cancelled meanwhile. A connection the pool lends after it
    /// closed (one a cancelled operation closed, before the pool learnt it) is traded for
    /// another: no statement was sent on it, and every body sends its writes last or returns
    /// after the first write that succeeds, so running it again from the start is safe.
    private func onConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        let logger = logger
        var attempt = 1
        while true {
            do {
                return try await client.withConnection { connection in
                    // On the connection's event loop, so that `send` and a close never interleave.
                    try await withTaskExecutorPreference(EventLoopTaskExecutor(connection.eventLoop)) {
                        let outcome: Swift.Result<Result, any Error>
                        do {
                            outcome = .success(
                                try await withTaskCancellationHandler {
                                    if !self.schemaReady.load(ordering: .acquiring) {
                                        try await self.migrate(on: connection)
                                    }
                                    return try await body(connection, logger)
                                } onCancel: {
                                    // A statement the deadline cut off leaves the connection in an unknown state.
                                    _ = connection.close() as EventLoopFuture<Void>
                                })
                        } catch {
                            outcome = .failure(error)
                        }
                        // Closed by the handler above: let it finish closing before the lease
                        // returns, so the pool is less likely to lend it again.
                        if Task.isCancelled { _ = try? await connection.closeFuture.get() }
                        return try outcome.get()
                    }
                }
            } catch is ConnectionClosedBeforeStatement where attempt < 3 && !Task.isCancelled {
                attempt += 1
            }
        }
    }

    private enum Outcome<Result: Sendable>: Sendable {
        case finished(Result)
        case timedOut
    }

    /// Creates or migrates the context schema, under an advisory lock so replicas starting together do not race.
    private func migrate(on connection: PostgresConnection) async throws {
        var encoding = ""
        for try await value in try await connection.send("SHOW server_encoding", logger: logger).decode(String.self) {
            encoding = value
        }
        guard encoding.uppercased() == "UTF8" else {
            throw unavailable("the database's encoding is \(encoding), not UTF8")
        }
        try await migrate(component: Schema.component, migrations: Schema.migrations, on: connection)
        schemaReady.store(true, ordering: .releasing)
    }

    /// Runs the migrations of `component` (its row in `tinyflow_schema_versions`) that have not
    /// run yet, in one transaction under ``Schema/migrationLock``: the context schema's, and the
    /// message store's (``PostgresMessageStore``), which share the database and the lock.
    func migrate(component: String, migrations: [[String]], on connection: PostgresConnection) async throws {
        let known = migrations.count
        // BEGIN and COMMIT by hand rather than postgres-nio's `withTransaction`, whose ROLLBACK
        // would be written to a connection the cancellation handler closed (and never answered).
        try await connection.send("BEGIN", logger: logger)
        do {
            try await connection.send(
                "SELECT pg_advisory_xact_lock(\(Schema.migrationLock.0), \(Schema.migrationLock.1))", logger: logger)
            try await connection.send(PostgresQuery(unsafeSQL: Schema.versionTable), logger: logger)
            var current = 0
            let rows = try await connection.send(
                "SELECT version FROM tinyflow_schema_versions WHERE component = \(component)", logger: logger)
            for try await version in rows.decode(Int.self) { current = version }
            if current > known {
                throw unavailable("the database's \(component) schema is version \(current), newer than the \(known) this build knows")
            }
            if current < known {
                for migration in migrations[current...] {
                    for statement in migration {
                        try await connection.send(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                }
                try await connection.send(
                    """
                    INSERT INTO tinyflow_schema_versions (component, version) VALUES (\(component), \(known))
                    ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version, migrated_at = now()
                    """, logger: logger)
            }
            try await connection.send("COMMIT", logger: logger)
            if current < known {
                logger.info("schema migrated", metadata: ["component": "\(component)", "from": "\(current)", "to": "\(known)"])
            }
        } catch {
            // Not sent when the operation was cancelled: its connection closes, which rolls back.
            _ = try? await connection.send("ROLLBACK", logger: logger)
            throw error
        }
    }

    static func get(
        _ key: String, in scope: ContextScope, on connection: PostgresConnection, logger: Logger
    ) async throws -> ContextEntry? {
        let rows = try await connection.send(
            """
            SELECT value, version, expires_at FROM tinyflow_context
            WHERE namespace = \(scope.namespace) AND kind = \(scope.kind.rawValue) AND name = \(scope.name)
                AND key = \(key) AND (expires_at IS NULL OR expires_at > now())
            """, logger: logger)
        for try await (value, version, expiresAt) in rows.decode((String, Int64, Date?).self) {
            return try entry(key: key, value: value, version: version, expiresAt: expiresAt)
        }
        return nil
    }

    static func entry(key: String, value: String, version: Int64, expiresAt: Date?) throws(ContextStoreError) -> ContextEntry {
        do {
            return ContextEntry(value: try JSONValue(parsing: Data(value.utf8)), version: version, expiresAt: expiresAt)
        } catch {
            throw .corrupt(key: key, reason: "\(error)")
        }
    }

    /// A time to live in whole microseconds (`nil`: none), rounded up so a tiny TTL still expires in the future.
    static func microseconds(_ ttl: Duration?) -> Int64? {
        guard let ttl else { return nil }
        let (seconds, attoseconds) = ttl.components
        let (micros, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        if overflow { return seconds < 0 ? Int64.min : Int64.max }
        let fraction = attoseconds / 1_000_000_000_000 + (attoseconds % 1_000_000_000_000 > 0 ? 1 : 0)
        return micros.addingReportingOverflow(fraction).overflow ? Int64.max : micros + fraction
    }

    private func unavailable(_ reason: String) -> ContextStoreError {
        .unavailable(store: configuration.redacted, reason: reason)
    }

    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }

    /// A reason without credentials: postgres-nio's own description hides everything, so the
    /// code, the server's message and the underlying network error are spelled out here.
    static func reason(for error: PSQLError) -> String {
        if let serverInfo = error.serverInfo {
            let state = serverInfo[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return "the server refused: \(serverInfo[.message] ?? "no message")\(state)"
        }
        switch error.code {
        case .connectionError:
            return "cannot connect: \(error.underlying.map { String(describing: $0) } ?? "connection error")"
        case .serverClosedConnection, .uncleanShutdown:
            return "the server closed the connection"
        case .clientClosedConnection:
            return "the connection was closed"
        case .poolClosed:
            return "the store is closed"
        case .queryCancelled:
            return "the operation was cancelled"
        case .sslUnsupported:
            return "the server does not support TLS, which sslmode requires"
        case .failedToAddSSLHandler:
            return "TLS setup failed: \(error.underlying.map { String(describing: $0) } ?? "unknown")"
        case .authMechanismRequiresPassword:
            return "the server asks for a password and none was given"
        case .unsupportedAuthMechanism:
            return "the server asks for an authentication method postgres-nio does not support"
        default:
            return "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
        }
    }

    /// Connects once, directly, to learn why the pool cannot (`nil` if the connection works).
    private func probe(timeout: Duration) async -> String? {
        do {
            let connectionConfiguration: PostgresConnection.Configuration
            switch try directConnectionConfiguration(connectTimeout: timeout) {
            case .success(let value): connectionConfiguration = value
            case .failure(let problem): return problem.reason
            }
            let logger = logger
            let connectionConfigurationCopy = connectionConfiguration
            let outcome = try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask {
                    let connection = try await PostgresConnection.connect(configuration: connectionConfigurationCopy, id: 0, logger: logger)
                    try? await connection.close()
                    return nil
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return "no answer within \(Self.format(timeout))"
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
            return outcome
        } catch let error as PSQLError {
            return Self.reason(for: error)
        } catch {
            return String(describing: error)
        }
    }

    /// The configuration of a connection of its own, outside the pool (the availability probe,
    /// the message store's `LISTEN` connection): the pool's server, credentials, TLS and startup
    /// parameters. A configuration problem (an unreadable CA file) is the failure; a TLS context
    /// that cannot be made throws.
    func directConnectionConfiguration(connectTimeout: Duration) throws -> Result<PostgresConnection.Configuration, TLSProblem> {
        let tls: PostgresConnection.Configuration.TLS
        switch Self.makeClientTLS(configuration) {
        case .success(.disable): tls = .disable
        case .success(.prefer(let configuration)): tls = .prefer(try NIOSSLContext(configuration: configuration))
        case .success(.require(let configuration)): tls = .require(try NIOSSLContext(configuration: configuration))
        case .failure(let problem): return .failure(problem)
        }
        var connectionConfiguration = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.user,
            password: configuration.password, database: configuration.database, tls: tls)
        connectionConfiguration.options.connectTimeout = .milliseconds(
            connectTimeout.components.seconds * 1000 + connectTimeout.components.attoseconds / 1_000_000_000_000_000)
        connectionConfiguration.options.additionalStartupParameters = configuration.startupParameters
        return .success(connectionConfiguration)
    }

    /// A configuration that cannot give a connection (an unreadable CA file); `reason` says why.
    struct TLSProblem: Error {
        var reason: String
    }

    private enum ClientTLS {
        case disable
        case prefer(TLSConfiguration)
        case require(TLSConfiguration)
    }

    private static func makeTLS(_ configuration: Configuration) -> Result<PostgresClient.Configuration.TLS, TLSProblem> {
        switch makeClientTLS(configuration) {
        case .success(.disable): .success(.disable)
        case .success(.prefer(let tls)): .success(.prefer(tls))
        case .success(.require(let tls)): .success(.require(tls))
        case .failure(let problem): .failure(problem)
        }
    }

    /// libpq's `sslmode`s: `prefer` and `require` do not check the certificate (`require` with
    /// `sslrootcert` checks it as `verify-ca` does); `verify-ca` checks the chain; `verify-full`
    /// checks the chain and the host name.
    private static func makeClientTLS(_ configuration: Configuration) -> Result<ClientTLS, TLSProblem> {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let path = configuration.rootCertificatePath {
            guard FileManager.default.isReadableFile(atPath: path) else {
                return .failure(TLSProblem(reason: "the CA file \(path) (sslrootcert) cannot be read"))
            }
            tls.trustRoots = .file(path)
        }
        switch configuration.tlsMode {
        case .disable:
            return .success(.disable)
        case .prefer:
            tls.certificateVerification = .none
            return .success(.prefer(tls))
        case .require:
            tls.certificateVerification = configuration.rootCertificatePath == nil ? .none : .noHostnameVerification
            return .success(.require(tls))
        case .verifyCA:
            tls.certificateVerification = .noHostnameVerification
            return .success(.require(tls))
        case .verifyFull:
            tls.certificateVerification = .fullVerification
            return .success(.require(tls))
        }
    }
}
