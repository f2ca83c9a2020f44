import ArgumentParser
import ContextStoreAPI
import ContextStoreMemory
import ContextStorePostgres
import ContextStoreSQLite
import Foundation
import JSONSchemaKit
import LocalPostgres
import Logging
import Synchronization

/// `tinyflow-bench context`: get, set and increment operations per second of each context
/// store backend, each beside the raw engine doing the same work in the same run.
struct ContextBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "context",
        abstract: "Measure the context stores' get, set and increment rates against their raw engines.",
        discussion: """
            Prints one JSON line per figure: {"bench", "value", "unit", "baseline", "baseline_bench", \
            "ratio", "clients", "target"…}. Each figure is ops/s — all operations of N concurrent \
            clients (tasks) divided by the wall time — as the median of --repetitions runs after \
            one warm-up, measured alternately with its baseline. Every run stops after its \
            operation count or --time-limit, whichever comes first. Clients work on keys of their \
            own in one flow scope. Build with -c release.

            Baselines: memory — a Mutex<[String: JSONValue]> dictionary doing the same lookup or \
            write (no store); sqlite — the store's SQL through SQLite's C API, prepared once, on a \
            WAL file of its own (reads: one connection per client; writes: one connection behind \
            a Mutex, the store's own locking); postgres — the store's SQL on bare PostgresConnections, \
            one per client, against the same database.
            """
    )

    @Option(help: "Operations per memory run (split among the clients).")
    var memoryOperations = 2_000_000

    @Option(help: "Gets per SQLite run (split among the clients).")
    var sqliteReads = 400_000

    @Option(help: "Sets or increments per SQLite run (split among the clients).")
    var sqliteWrites = 60_000

    @Option(help: "Operations per PostgreSQL run (split among the clients).")
    var postgresOperations = 30_000

    @Option(help: "Seconds after which a run stops early.")
    var timeLimit = 1.0

    @Option(help: "Measured runs per figure; the median is reported.")
    var repetitions = 5

    @Option(help: "Concurrent client counts, comma-separated.")
    var clients = "1,8"

    @Option(help: "Measure only these backends (comma-separated): memory, sqlite, postgres. Default: all.")
    var only: String?

    @Option(help: "Measure only these operations (comma-separated): get, set, increment. Default: all.")
    var operations: String?

    @Option(help: "Use this PostgreSQL database (it must accept sslmode=disable) instead of starting a local server.")
    var postgresURL: String?

    @Flag(help: "Fail instead of skipping the PostgreSQL figures when PostgreSQL cannot be started.")
    var requirePostgres = false

    /// The backends `--only` selects from.
    static let backends: Set<String> = ["memory", "sqlite", "postgres"]

    func validate() throws {
        guard memoryOperations > 0, sqliteReads > 0, sqliteWrites > 0, postgresOperations > 0, repetitions > 0 else {
            throw ValidationError("counts must be positive")
        }
        guard timeLimit > 0 else { throw ValidationError("--time-limit must be positive") }
        guard let counts = clientCounts, !counts.isEmpty, counts.allSatisfy({ $0 > 0 && $0 <= 256 }) else {
            throw ValidationError("--clients takes client counts in 1…256, comma-separated")
        }
        guard let selected = selectedOperations, !selected.isEmpty else {
            throw ValidationError("--operations takes get, set, increment, comma-separated")
        }
        let unknown = selectedBackends.subtracting(Self.backends)
        guard unknown.isEmpty else {
            throw ValidationError("unknown backend(s) \(unknown.sorted().joined(separator: ", ")); backends: memory, sqlite, postgres")
        }
    }

    private var clientCounts: [Int]? {
        let parts = clients.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(nil) ? nil : parts.compactMap { $0 }
    }

    private var selectedOperations: Set<ContextBench.Operation>? {
        guard let operations else { return Set(ContextBench.Operation.allCases) }
        let parts = operations.split(separator: ",").map { ContextBench.Operation(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(nil) ? nil : Set(parts.compactMap { $0 })
    }

    private var selectedBackends: Set<String> {
        guard let only else { return Self.backends }
        return Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    func run() async throws {
        try await measure { printLine($0.jsonLine) }
    }

    /// Measures the selected backends, handing each figure to `emit` as soon as it is measured.
    func measure(emit: (Figure) -> Void) async throws {
        let bench = ContextBench(
            clientCounts: clientCounts ?? [1], operations: selectedOperations ?? Set(ContextBench.Operation.allCases),
            repetitions: repetitions, timeLimit: .milliseconds(Int64(timeLimit * 1000)))
        let backends = selectedBackends
        if backends.contains("memory") { try await bench.measureMemory(operations: memoryOperations, emit: emit) }
        if backends.contains("sqlite") { try await bench.measureSQLite(reads: sqliteReads, writes: sqliteWrites, emit: emit) }
        if backends.contains("postgres") {
            try await bench.measurePostgres(
                operations: postgresOperations, url: postgresURL, required: requirePostgres, emit: emit)
        }
    }
}

/// Writes a note for the person running the bench to stderr (stdout holds only JSON lines).
func note(_ text: String) {
    FileHandle.standardError.write(Data("tinyflow-bench context: \(text)\n".utf8))
}
