import CRDModels
import ComponentKit
import ContextStorePostgres
import ContextStoreSQLite
import ContextStores
import Foundation
import Logging
import MessageStoreAPI

/// The durable figures of one backend: throughput in one module and across two hosts, and
/// latency at a fraction of the peak, each beside the memory hop and the raw engine of the
/// same run, with the targets (2-core machine) and whether they were met.
struct DurableBench: Sendable {
    var messages: Int
    var senders: Int
    var rawBatch: Int
    var repetitions: Int
    var timeLimit: Duration
    var latencyLoad: Double
    var latencySeconds: Double
    var crossHost: Bool
    var hostExecutable: String?
    /// Writes every run's measurement to stderr.
    var verbose = false

    /// The targets (issue 16 item 7, on the 2-core development machine).
    enum Target {
        static func throughput(_ backend: String) -> Double { backend == "sqlite" ? 50_000 : 20_000 }
        /// Of the raw engine's rate.
        static let ratio = 0.5
        /// At `latencyLoad` (50 %) of the peak.
        static let p99Milliseconds = 20.0
    }

    /// The raw-engine loop of a backend, opened once the store made the schema.
    struct RawEngine: Sendable {
        var name: String
        var note: String
        var hop: @Sendable (_ messages: Int, _ batch: Int, _ body: String, _ timeLimit: Duration) async throws -> Double
        var close: @Sendable () async -> Void
    }

    // MARK: - Backends

    /// SQLite: the store in a fresh file; the raw engine on another file with the same schema.
    func measureSQLite(emit: (String) -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-bench-durable-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let storePath = directory.appendingPathComponent("context.db").path
        let rawPath = directory.appendingPathComponent("raw.db").path
        try await measure(
            backend: "sqlite", location: .sqlite(path: storePath), crossHostStore: "sqlite:\(storePath)", directory: directory,
            openRaw: { _ in
                // The store's schema, made by the store.
                await (try SQLiteContextStore(path: rawPath)).close()
                let raw = try RawSQLiteQueue(path: rawPath, node: "raw")
                return RawEngine(
                    name: "sqlite-c-api-queue",
                    note: """
                        the store's statements through SQLite's C API (SQLiteDatabase, prepared once), one connection, \
                        WAL + synchronous=NORMAL, a file of its own with the store's schema; per batch one transaction \
                        each: insert, claim (select + lease token + update per message), delete
                        """,
                    hop: { messages, batch, body, timeLimit in try raw.hop(messages: messages, batch: batch, body: body, timeLimit: timeLimit) },
                    close: {})
            }, emit: emit)
    }

    /// PostgreSQL at `url`: the store and the raw engine (another queue) in the same database.
    func measurePostgres(url: String, emit: (String) -> Void) async throws {
        let configuration = try PostgresContextStore.Configuration(url: url)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-bench-durable-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await measure(
            backend: "postgres", location: .postgres(configuration), crossHostStore: url, directory: directory,
            openRaw: { stores in
                // The store's tables, made by the store.
                _ = try await stores.messages.backlog(of: .init(namespace: "bench", node: "raw", port: "in"))
                let logger = Logger(label: "tinyflow-bench.durable") { _ in SwiftLogNoOpLogHandler() }
                let raw = try await RawPostgresQueue.connect(
                    host: configuration.host, port: configuration.port, user: configuration.user,
                    password: configuration.password, database: configuration.database, node: "raw", logger: logger)
                return RawEngine(
                    name: "postgres-bare-connection-queue",
                    note: """
                        the store's statements on one bare PostgresConnection (postgres-nio), same database and tables; \
                        per batch one statement each: multi-row insert, claim (FOR UPDATE SKIP LOCKED pick + leasing update), \
                        delete = ANY
                        """,
                    hop: { messages, batch, body, timeLimit in
                        try await raw.hop(messages: messages, batch: batch, body: body, timeLimit: timeLimit)
                    },
                    close: { await raw.close() })
            }, emit: emit)
    }

    // MARK: - Figures

    private func measure(
        backend: String, location: ContextStoreLocation, crossHostStore: String, directory: URL,
        openRaw: (DurableStores) async throws -> RawEngine, emit: (String) -> Void
    ) async throws {
        let peak = try await DurableStores.with(location) { stores -> (durable: Double, raw: Double, rawName: String) in
            let raw = try await openRaw(stores)
            do {
                let (durable, rawRate) = try await measureInModule(backend: backend, stores: stores, raw: raw, emit: emit)
                await raw.close()
                return (durable, rawRate, raw.name)
            } catch {
                await raw.close()
                throw error
            }
        }
        if crossHost {
            try await measureCrossHost(
                backend: backend, store: crossHostStore, directory: directory, rawName: peak.rawName, raw: peak.raw,
                inModule: peak.durable, emit: emit)
        }
    }

    /// The in-module throughput (beside the memory hop and the raw engine) and latency;
    /// returns the durable and raw rates.
    private func measureInModule(
        backend: String, stores: DurableStores, raw: RawEngine, emit: (String) -> Void
    ) async throws -> (durable: Double, raw: Double) {
        let body = try Self.sampleBody()
        let (messages, rawBatch, timeLimit) = (self.messages, self.rawBatch, self.timeLimit)
        let rawRun = {
            let cpuBefore = Self.processCPUSeconds()
            let rate = try await raw.hop(messages, rawBatch, body, timeLimit)
            if verbose {
                let cpu = (Self.processCPUSeconds() - cpuBefore) / Double(messages) * 1e6
                durableNote("\(raw.name): \(Int(rate)) msgs/s, \(Int(cpu)) µs CPU per message (this process)")
            }
            return rate
        }
        let memoryRun = {
            try await hop(stores, .memory, messages: messages, rate: 0, timeLimit: timeLimit)
        }
        let durableRun = {
            try await hop(stores, .durable, messages: messages, rate: 0, timeLimit: timeLimit)
        }
        // A warm-up of each, then the repetitions, alternating so drift hits all three alike.
        _ = try await rawRun()
        _ = try await memoryRun()
        _ = try await durableRun()
        var rawRates: [Double] = []
        var memoryRuns: [DurableRunResult] = []
        var durableRuns: [DurableRunResult] = []
        for _ in 0..<repetitions {
            rawRates.append(try await rawRun())
            memoryRuns.append(try await memoryRun())
            durableRuns.append(try await durableRun())
        }
        let rawRate = median(rawRates)
        let memoryRate = median(memoryRuns.map(\.rate))
        let durableRate = median(durableRuns.map(\.rate))
        emit(
            throughputFigure(
                "durable-\(backend)-hop-throughput", backend: backend, value: durableRate, runs: durableRuns, rawName: raw.name,
                rawNote: raw.note, rawRate: rawRate, scope: "one module: one ModuleRuntime, source node → durable edge → sink node",
                extra: [("memory_hop_msgs_per_s", memoryRate.rounded()), ("memory_ratio", durableRate / memoryRate)]))

        // Latency at a fraction of the peak, beside the memory edge at the same rate.
        let load = durableRate * latencyLoad
        let count = max(1, Int(load * latencySeconds))
        let latencyLimit = timeLimit + .seconds(latencySeconds)
        var durableLatency: [DurableRunResult] = []
        var memoryLatency: [DurableRunResult] = []
        for _ in 0..<repetitions {
            durableLatency.append(
                try await hop(stores, .durable, messages: count, rate: load, timeLimit: latencyLimit))
            memoryLatency.append(
                try await hop(stores, .memory, messages: count, rate: load, timeLimit: latencyLimit))
        }
        for figure in latencyFigures("durable-\(backend)-hop-latency", load: load, runs: durableLatency, baseline: memoryLatency) {
            emit(figure)
        }
        return (durableRate, rawRate)
    }

    /// The same hop across two module-host processes sharing the store.
    private func measureCrossHost(
        backend: String, store: String, directory: URL, rawName: String, raw: Double, inModule: Double,
        emit: (String) -> Void
    ) async throws {
        let hosts = try DurableHostPair(contextStore: store, executable: hostExecutable, directory: directory)
        do {
            var generation: Int64 = 0
            func run(messages: Int, rate: Double, timeLimit: Duration) async throws -> DurableRunResult {
                generation += 1
                let result = try await hosts.run(
                    messages: messages, senders: senders, rate: rate, timeLimit: timeLimit, generation: generation)
                if verbose { durableNote("\(backend) across hosts, rate \(rate): \(result)") }
                return result
            }
            _ = try await run(messages: messages, rate: 0, timeLimit: timeLimit)
            var runs: [DurableRunResult] = []
            for _ in 0..<repetitions { runs.append(try await run(messages: messages, rate: 0, timeLimit: timeLimit)) }
            let rate = median(runs.map(\.rate))
            emit(
                throughputFigure(
                    "durable-\(backend)-cross-host-throughput", backend: backend, value: rate, runs: runs, rawName: rawName,
                    rawNote: nil, rawRate: raw, scope: DurableHostPair.description,
                    extra: [("in_module_msgs_per_s", inModule.rounded())]))

            let load = rate * latencyLoad
            let count = max(1, Int(load * latencySeconds))
            var latency: [DurableRunResult] = []
            for _ in 0..<repetitions {
                latency.append(try await run(messages: count, rate: load, timeLimit: timeLimit + .seconds(latencySeconds)))
            }
            for figure in latencyFigures("durable-\(backend)-cross-host-latency", load: load, runs: latency, baseline: nil) {
                emit(figure)
            }
        } catch {
            await hosts.stop()
            throw error
        }
        await hosts.stop()
    }

    /// One in-module run of `messages` from ``senders`` tasks.
    private func hop(
        _ stores: DurableStores, _ delivery: EdgeDelivery, messages: Int, rate: Double, timeLimit: Duration
    ) async throws -> DurableRunResult {
        let cpuBefore = Self.processCPUSeconds()
        let result = try await DurableHop.run(
            stores: stores, delivery: delivery, messages: messages, senders: senders, rate: rate, timeLimit: timeLimit)
        if verbose {
            let cpu = (Self.processCPUSeconds() - cpuBefore) / Double(max(result.count, 1)) * 1e6
            durableNote("\(delivery) hop, rate \(Int(rate)): \(result) → \(Int(result.rate)) msgs/s, \(Int(cpu)) µs CPU per message")
        }
        return result
    }

    private func throughputFigure(
        _ bench: String, backend: String, value: Double, runs: [DurableRunResult], rawName: String, rawNote: String?,
        rawRate: Double, scope: String,
        extra: [(String, Double)]
    ) -> String {
        let target = Target.throughput(backend)
        let ratio = rawRate > 0 ? value / rawRate : 0
        var figure = Figure(
            bench: bench, value: value.rounded(), unit: "msgs/s", baseline: rawRate.rounded(),
            baselineBench: "\(rawName)-batch-\(rawBatch)")
        figure.extra =
            extra + [
                ("senders", Double(senders)), ("messages", Double(messages)), ("target", target), ("target_ratio", Target.ratio),
            ]
        figure.labels = [
            ("scope", scope),
            ("target_met", Self.met(value >= target)), ("target_ratio_met", Self.met(ratio >= Target.ratio)),
        ]
        if let rawNote { figure.labels.append(("baseline_note", rawNote)) }
        let partial = runs.filter { !$0.isComplete }.count
        if partial > 0 { figure.labels.append(("partial_runs", "\(partial) of \(runs.count) stopped at the time limit")) }
        return figure.jsonLine
    }

    private func latencyFigures(_ bench: String, load: Double, runs: [DurableRunResult], baseline: [DurableRunResult]?) -> [String] {
        let achieved = median(runs.map(\.rate))
        return [("p50", \DurableRunResult.p50), ("p99", \DurableRunResult.p99)].map { name, quantile in
            let value = median(runs.map { Double($0[keyPath: quantile]) / 1e6 })
            var figure = Figure(
                bench: "\(bench)-\(name)", value: value, unit: "ms",
                baseline: baseline.map { runs in median(runs.map { Double($0[keyPath: quantile]) / 1e6 }) },
                baselineBench: baseline == nil ? nil : "memory-hop-latency-\(name)")
            figure.extra = [("load_msgs_per_s", load.rounded()), ("achieved_msgs_per_s", achieved.rounded()), ("senders", Double(senders))]
            figure.labels = [("latency", "send (enqueue) → handler, paced at \(Int(latencyLoad * 100)) % of the peak")]
            if name == "p99" {
                figure.extra.append(("target", Target.p99Milliseconds))
                figure.labels.append(("target_met", Self.met(value <= Target.p99Milliseconds)))
            }
            return figure.jsonLine
        }
    }

    private static func met(_ condition: Bool) -> String { condition ? "met" : "not met" }

    /// User and system CPU time this process used so far, in seconds.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// A message as the hop stores it, encoded as the stores encode it: the raw engines store this text.
    static func sampleBody() throws -> String {
        let message = Message(
            id: "12345", from: PortAddress(node: "source-r1-1", port: "out"), to: PortAddress(node: "sink-r1-1", port: "in"),
            payload: .object(["t": .integer(systemMonotonicNanoseconds())]))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(message), as: UTF8.self)
    }
}
