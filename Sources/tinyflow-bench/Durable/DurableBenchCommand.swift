import ArgumentParser
import ComponentKit
import ContextStorePostgres
import ContextStoreSQLite
import ContextStores
import Foundation
import LocalPostgres
import Logging

/// `tinyflow-bench durable`: the durable hop (issue 16 item 7) on SQLite and PostgreSQL, in
/// one module and across two module-host processes, beside the memory hop and the raw
/// engine measured in the same run.
struct DurableBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "durable",
        abstract: "Measure durable edges (SQLite, PostgreSQL) against the memory hop and the raw engines.",
        discussion: """
            Prints one JSON line per figure: {"bench", "value", "unit", "baseline", "baseline_bench", "ratio", …}. \
            The hop: a source node sending small timestamped messages from --senders tasks on one edge \
            to a sink node that counts them; throughput is messages handled / (last handled − first \
            sent). In one module: one ModuleRuntime, the stores opened as a module host opens them. \
            Across hosts: two module-host child processes (this executable's durable-host: \
            ModuleHostProcess with the bench's components) sharing the store, synced over gRPC. \
            Latency: enqueue (send) → handled, at --latency-load of the measured peak, paced. \
            Baselines of the same run: the same nodes on a memory edge, and the raw engine moving \
            the same messages through the store's tables with the store's statements in batches \
            of --raw-batch (insert, claim = select + update, delete) on one connection. Each \
            throughput is the median of --repetitions runs after a warm-up, alternating with its \
            baselines; each run stops after its message count or --time-limit. Build with -c release.
            """
    )

    @Option(help: "Messages per SQLite throughput run.")
    var messages = 50_000

    @Option(help: "Messages per PostgreSQL throughput run.")
    var postgresMessages = 10_000

    @Option(help: "Concurrent sending tasks in the source node.")
    var senders = 16

    @Option(help: "Messages per raw-engine batch (the runtime claims 32 at a time).")
    var rawBatch = 32

    @Option(help: "Measured runs per figure; the median is reported.")
    var repetitions = 3

    @Option(help: "Seconds after which a run stops early.")
    var timeLimit = 10.0

    @Option(help: "Latency runs send at this fraction of the measured peak.")
    var latencyLoad = 0.5

    @Option(help: "Seconds of sending per latency run.")
    var latencySeconds = 2.0

    @Option(help: "Measure only these backends (comma-separated): sqlite, postgres. Default: both.")
    var only: String?

    @Flag(help: "Skip the figures across two module-host processes.")
    var noCrossHost = false

    @Option(help: "The executable to start the module hosts with (`<it> durable-host …`; default: this one).")
    var hostExecutable: String?

    @Option(help: "Use this PostgreSQL database (it must accept sslmode=disable) instead of starting a local server.")
    var postgresURL: String?

    @Flag(help: "Write every run's measurement to stderr.")
    var verbose = false

    @Flag(help: "Fail instead of skipping the PostgreSQL figures when PostgreSQL cannot be started.")
    var requirePostgres = false

    static let backends: Set<String> = ["sqlite", "postgres"]

    func validate() throws {
        guard messages > 0, postgresMessages > 0, senders > 0, rawBatch > 0, repetitions > 0 else { throw ValidationError("counts must be positive") }
        guard timeLimit > 0, latencySeconds > 0 else { throw ValidationError("times must be positive") }
        guard latencyLoad > 0, latencyLoad <= 1 else { throw ValidationError("--latency-load must be in (0, 1]") }
        let unknown = selectedBackends.subtracting(Self.backends)
        guard unknown.isEmpty else {
            throw ValidationError("unknown backend(s) \(unknown.sorted().joined(separator: ", ")); backends: sqlite, postgres")
        }
    }

    private var selectedBackends: Set<String> {
        guard let only else { return Self.backends }
        return Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    func run() async throws {
        try await measure { printLine($0) }
    }

    /// Measures the selected backends, handing each JSON line to `emit` as soon as it is measured.
    func measure(emit: (String) -> Void) async throws {
        let bench = DurableBench(
            messages: messages, senders: senders, rawBatch: rawBatch, repetitions: repetitions,
            timeLimit: .milliseconds(Int64(timeLimit * 1000)), latencyLoad: latencyLoad, latencySeconds: latencySeconds,
            crossHost: !noCrossHost, hostExecutable: hostExecutable, verbose: verbose)
        let backends = selectedBackends
        if backends.contains("sqlite") { try await bench.measureSQLite(emit: emit) }
        if backends.contains("postgres") {
            var postgres = bench
            postgres.messages = postgresMessages
            try await measurePostgres(postgres, emit: emit)
        }
    }

    /// On `--postgres-url`, or on a local server started for the run; skipped with a line
    /// saying why when PostgreSQL is not installed (unless `--require-postgres`).
    private func measurePostgres(_ bench: DurableBench, emit: (String) -> Void) async throws {
        if let postgresURL {
            try await bench.measurePostgres(url: postgresURL, emit: emit)
            return
        }
        guard LocalPostgresServer.isInstalled else {
            let reason = "PostgreSQL is not installed (no initdb/postgres in /usr/lib/postgresql/<version>/bin or on the PATH)"
            if requirePostgres { throw DurableBenchError(reason) }
            emit(#"{"bench":"durable-postgres","skipped":\#(jsonString(reason + "; install the postgresql package or pass --postgres-url"))}"#)
            return
        }
        let server: LocalPostgresServer
        let url: String
        do {
            server = try await LocalPostgresServer.launch()
            do {
                url = try await server.createDatabase()
            } catch {
                await server.terminate()
                throw error
            }
        } catch {
            if requirePostgres { throw error }
            emit(#"{"bench":"durable-postgres","skipped":\#(jsonString("cannot start a local PostgreSQL server: \(error)"))}"#)
            return
        }
        durableNote("started a local PostgreSQL server (fsync=off, synchronous_commit=off) on port \(server.port)")
        do {
            try await bench.measurePostgres(url: url, emit: emit)
        } catch {
            await server.terminate()
            throw error
        }
        await server.terminate()
    }
}

/// Writes a note for the person running the bench to stderr (stdout holds only JSON lines).
func durableNote(_ text: String) {
    FileHandle.standardError.write(Data("tinyflow-bench durable: \(text)\n".utf8))
}
