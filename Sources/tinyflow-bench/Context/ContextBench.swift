import ContextStoreAPI
import ContextStoreMemory
import JSONSchemaKit
import Synchronization

/// The context figures: for each backend, operation and client count, the store's rate
/// beside its raw engine's, measured in the same run.
struct ContextBench: Sendable {
    /// How many concurrent clients each figure is measured with (`1, 8` by default).
    var clientCounts: [Int]
    /// Which operations to measure (all by default).
    var operations: Set<Operation>
    var repetitions: Int
    var timeLimit: Duration

    /// The operations measured, in the order they are printed.
    enum Operation: String, CaseIterable, Sendable {
        case get, set, increment
    }

    /// The one scope every client works in, with keys of its own.
    static let scope = ContextScope.flow(namespace: "bench", flow: "context")
    /// What the get and set keys hold: a small JSON object, the shape a node typically keeps.
    static let value = JSONValue.object(["count": .integer(42), "name": .string("context-bench"), "ok": .bool(true)])

    var maxClients: Int { clientCounts.max() ?? 1 }
    /// Client `i`'s key for gets and sets.
    var keys: [String] { (0..<maxClients).map { "key-\($0)" } }
    /// Client `i`'s counter for increments.
    var counters: [String] { (0..<maxClients).map { "counter-\($0)" } }

    /// The targets on the 2-core development machine, as extra fields of the figure.
    static func targets(backend: String, operation: Operation) -> [(String, Double)] {
        switch (backend, operation) {
        case ("memory", .get): [("target", 5_000_000)]
        case ("sqlite", .get): [("target", 200_000)]
        case ("sqlite", .increment): [("target", 20_000)]
        case ("postgres", _): [("target_ratio", 0.8)]
        default: []
        }
    }

    /// Measures one figure against its baseline for every client count and emits it.
    func compare(
        backend: String, baselineName: String, operation: Operation, operations: Int, note: String,
        emit: (Figure) -> Void,
        ours: @escaping @Sendable (_ client: Int, _ count: Int) async throws -> Void,
        baseline: @escaping @Sendable (_ client: Int, _ count: Int) async throws -> Void
    ) async throws {
        guard self.operations.contains(operation) else { return }
        for clients in clientCounts {
            let timeLimit = timeLimit
            let (value, base) = try await ContextLoad.compare(
                repetitions: repetitions,
                ours: { try await ContextLoad.opsPerSecond(clients: clients, operations: operations, timeLimit: timeLimit, ours) },
                baseline: { try await ContextLoad.opsPerSecond(clients: clients, operations: operations, timeLimit: timeLimit, baseline) }
            )
            var figure = Figure(
                bench: "context-\(backend)-\(operation.rawValue)-\(clients)", value: value.rounded(), unit: "ops/s",
                baseline: base.rounded(), baselineBench: "\(baselineName)-\(operation.rawValue)-\(clients)")
            figure.extra = [("clients", Double(clients))] + Self.targets(backend: backend, operation: operation)
            figure.labels = [("baseline_note", note)]
            emit(figure)
        }
    }

    // MARK: - Memory

    /// `MemoryContextStore` against a `Mutex<[String: JSONValue]>` doing the same lookup or write.
    func measureMemory(operations: Int, emit: (Figure) -> Void) async throws {
        let store = MemoryContextStore()
        let scope = Self.scope
        let keys = keys
        let counters = counters
        let dictionary = Mutex<[String: JSONValue]>([:])
        for key in keys {
            try await store.set(key, to: Self.value, in: scope)
            dictionary.withLock { $0[key] = Self.value }
        }
        for counter in counters {
            _ = try await store.increment(counter, by: 0, in: scope)
            dictionary.withLock { $0[counter] = .integer(0) }
        }
        let note = "Mutex<[String: JSONValue]> dictionary: the same lookup or write, no store"

        try await compare(
            backend: "memory", baselineName: "mutex-dictionary", operation: .get, operations: operations, note: note, emit: emit,
            ours: { client, count in
                let key = keys[client]
                var sum: Int64 = 0
                for _ in 0..<count {
                    guard let entry = try await store.get(key, in: scope) else { throw ContextBenchError("memory get: \(key) is missing") }
                    sum &+= entry.version
                }
                blackHole(sum)
            },
            baseline: { client, count in
                let key = keys[client]
                var found = 0
                for _ in 0..<count {
                    guard dictionary.withLock({ $0[key] }) != nil else { throw ContextBenchError("dictionary get: \(key) is missing") }
                    found &+= 1
                }
                blackHole(found)
            })

        let value = Self.value
        try await compare(
            backend: "memory", baselineName: "mutex-dictionary", operation: .set, operations: operations, note: note, emit: emit,
            ours: { client, count in
                let key = keys[client]
                for _ in 0..<count { try await store.set(key, to: value, in: scope) }
            },
            baseline: { client, count in
                let key = keys[client]
                for _ in 0..<count { dictionary.withLock { $0[key] = value } }
            })

        try await compare(
            backend: "memory", baselineName: "mutex-dictionary", operation: .increment, operations: operations, note: note, emit: emit,
            ours: { client, count in
                let counter = counters[client]
                var sum = 0
                for _ in 0..<count { sum &+= try await store.increment(counter, by: 1, in: scope) }
                blackHole(sum)
            },
            baseline: { client, count in
                let counter = counters[client]
                var sum = 0
                for _ in 0..<count {
                    sum &+= try dictionary.withLock { dictionary throws(ContextBenchError) in
                        guard case .integer(let old) = dictionary[counter] else { throw ContextBenchError("dictionary increment: not an integer") }
                        dictionary[counter] = .integer(old &+ 1)
                        return old &+ 1
                    }
                }
                blackHole(sum)
            })
        await store.close()
    }
}
