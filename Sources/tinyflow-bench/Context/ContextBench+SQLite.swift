import ContextStoreAPI
import ContextStoreSQLite
import Foundation
import JSONSchemaKit
import Synchronization

extension ContextBench {
    /// `SQLiteContextStore` on a temporary file against the same SQL through the C API on another.
    func measureSQLite(reads: Int, writes: Int, emit: (Figure) -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-bench-context-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let scope = Self.scope
        let keys = keys
        let counters = counters

        // Two files with the store's schema and the same rows: one for the store, one for the raw connections.
        let storePath = directory.appendingPathComponent("store.db").path
        let rawPath = directory.appendingPathComponent("raw.db").path
        let store = try SQLiteContextStore(path: storePath)
        let seed = try SQLiteContextStore(path: rawPath)
        for target in [store, seed] {
            for key in keys { try await target.set(key, to: Self.value, in: scope) }
            for counter in counters { _ = try await target.increment(counter, by: 0, in: scope) }
        }
        await seed.close()

        let open = { try RawSQLiteConnection(path: rawPath, namespace: scope.namespace, kind: scope.kind.rawValue, name: scope.name) }
        let readers = try (0..<maxClients).map { _ in try open() }
        let writer = Mutex(())
        let writeConnection = try open()
        let rawKeys = keys.map(RawText.init)
        let rawCounters = counters.map(RawText.init)
        let rawValue = RawText(Self.value.jsonString)
        let note = """
            the store's SQL through the C API, prepared once, WAL + synchronous=NORMAL on a file of its own; \
            reads: one connection per client; writes: one connection behind a Mutex (the store's locking)
            """

        try await compare(
            backend: "sqlite", baselineName: "sqlite-c-api", operation: .get, operations: reads, note: note, emit: emit,
            ours: { client, count in
                let key = keys[client]
                var sum: Int64 = 0
                for _ in 0..<count {
                    guard let entry = try await store.get(key, in: scope) else { throw ContextBenchError("sqlite get: \(key) is missing") }
                    sum &+= entry.version
                }
                blackHole(sum)
            },
            baseline: { client, count in
                let connection = readers[client]
                let key = rawKeys[client]
                var sum: Int64 = 0
                for _ in 0..<count { sum &+= try connection.get(key) }
                blackHole(sum)
            })

        let value = Self.value
        try await compare(
            backend: "sqlite", baselineName: "sqlite-c-api", operation: .set, operations: writes, note: note, emit: emit,
            ours: { client, count in
                let key = keys[client]
                for _ in 0..<count { try await store.set(key, to: value, in: scope) }
            },
            baseline: { client, count in
                let key = rawKeys[client]
                for _ in 0..<count { _ = try writer.withLock { _ in try writeConnection.set(key, to: rawValue) } }
            })

        try await compare(
            backend: "sqlite", baselineName: "sqlite-c-api", operation: .increment, operations: writes, note: note, emit: emit,
            ours: { client, count in
                let counter = counters[client]
                var sum = 0
                for _ in 0..<count { sum &+= try await store.increment(counter, by: 1, in: scope) }
                blackHole(sum)
            },
            baseline: { client, count in
                let counter = rawCounters[client]
                var sum: Int64 = 0
                for _ in 0..<count { sum &+= try writer.withLock { _ in try writeConnection.increment(counter, by: 1) } }
                blackHole(sum)
            })
        await store.close()
    }
}
