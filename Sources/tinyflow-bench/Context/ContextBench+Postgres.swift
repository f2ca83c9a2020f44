import ContextStoreAPI
import ContextStorePostgres
import JSONSchemaKit
import LocalPostgres
import Logging

extension ContextBench {
    /// `PostgresContextStore` against the same SQL on bare connections, on `url` or on a local
    /// server started for the run. Skips (with a note) when PostgreSQL is not installed, unless `required`.
    func measurePostgres(operations: Int, url: String?, required: Bool, emit: (Figure) -> Void) async throws {
        var server: LocalPostgresServer?
        let databaseURL: String
        if let url {
            databaseURL = url
        } else {
            guard LocalPostgresServer.isInstalled else {
                let reason = "PostgreSQL is not installed (no initdb/postgres in /usr/lib/postgresql/<version>/bin or on the PATH)"
                if required { throw ContextBenchError(reason) }
                note("skipping the postgres figures: \(reason); install the postgresql package or pass --postgres-url")
                return
            }
            do {
                let launched = try await LocalPostgresServer.launch()
                server = launched
                databaseURL = try await launched.createDatabase()
            } catch {
                await server?.terminate()
                if required { throw error }
                note("skipping the postgres figures: \(error)")
                return
            }
            note("started a local PostgreSQL server (fsync=off, synchronous_commit=off) on port \(server!.port)")
        }
        do {
            try await measurePostgres(operations: operations, url: databaseURL, emit: emit)
        } catch {
            await server?.terminate()
            throw error
        }
        await server?.terminate()
    }

    private func measurePostgres(operations: Int, url: String, emit: (Figure) -> Void) async throws {
        let configuration = try PostgresContextStore.Configuration(url: url)
        let logger = Logger(label: "tinyflow-bench.context") { _ in SwiftLogNoOpLogHandler() }
        let store = PostgresContextStore(configuration: configuration, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            do {
                try await measurePostgres(store: store, configuration: configuration, logger: logger, operations: operations, emit: emit)
            } catch {
                await store.close()
                throw error
            }
            await store.close()
            try await group.waitForAll()
        }
    }

    private func measurePostgres(
        store: PostgresContextStore, configuration: PostgresContextStore.Configuration, logger: Logger, operations: Int,
        emit: (Figure) -> Void
    ) async throws {
        let scope = Self.scope
        let keys = keys
        let counters = counters
        // Through the store: creates the schema, then the rows both sides use.
        for key in keys { try await store.set(key, to: Self.value, in: scope) }
        for counter in counters { _ = try await store.increment(counter, by: 0, in: scope) }

        var connections: [RawPostgres] = []
        for id in 0..<maxClients {
            connections.append(
                try await RawPostgres.connect(
                    host: configuration.host, port: configuration.port, user: configuration.user, password: configuration.password,
                    database: configuration.database, namespace: scope.namespace, kind: scope.kind.rawValue, name: scope.name,
                    id: id, logger: logger))
        }
        let raw = connections
        let note = "the store's SQL on bare PostgresConnections (postgres-nio), one per client, same database"
        do {
            try await compare(
                backend: "postgres", baselineName: "postgres-bare-connection", operation: .get, operations: operations, note: note,
                emit: emit,
                ours: { client, count in
                    let key = keys[client]
                    var sum: Int64 = 0
                    for _ in 0..<count {
                        guard let entry = try await store.get(key, in: scope) else {
                            throw ContextBenchError("postgres get: \(key) is missing")
                        }
                        sum &+= entry.version
                    }
                    blackHole(sum)
                },
                baseline: { client, count in
                    let key = keys[client]
                    var sum: Int64 = 0
                    for _ in 0..<count { sum &+= try await raw[client].get(key) }
                    blackHole(sum)
                })

            let value = Self.value
            let encoded = value.jsonString
            try await compare(
                backend: "postgres", baselineName: "postgres-bare-connection", operation: .set, operations: operations, note: note,
                emit: emit,
                ours: { client, count in
                    let key = keys[client]
                    for _ in 0..<count { try await store.set(key, to: value, in: scope) }
                },
                baseline: { client, count in
                    let key = keys[client]
                    for _ in 0..<count { _ = try await raw[client].set(key, to: encoded) }
                })

            try await compare(
                backend: "postgres", baselineName: "postgres-bare-connection", operation: .increment, operations: operations,
                note: note, emit: emit,
                ours: { client, count in
                    let counter = counters[client]
                    var sum = 0
                    for _ in 0..<count { sum &+= try await store.increment(counter, by: 1, in: scope) }
                    blackHole(sum)
                },
                baseline: { client, count in
                    let counter = counters[client]
                    var sum: Int64 = 0
                    for _ in 0..<count { sum &+= try await raw[client].increment(counter, by: 1) }
                    blackHole(sum)
                })
        } catch {
            for connection in raw { await connection.close() }
            throw error
        }
        for connection in raw { await connection.close() }
    }
}
