import ArgumentParser
import Foundation
import GRPCTransport

/// `tinyflow-bench runtime`: the in-module hop (DESIGN §5: ≥ 5 M msgs/s, p99 ≤ 20 µs).
struct RuntimeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime",
        abstract: "Measure the in-module node channel against AsyncStream and Go's buffered channel.",
        discussion: """
            Prints one JSON line per figure: {"bench", "value", "unit", "baseline", "ratio"}. \
            Each figure is the median of --repetitions runs after one warm-up run. Build with \
            -c release.
            """
    )

    @Option(help: "Messages per throughput run.")
    var messages = 2_000_000

    @Option(help: "Messages per latency run.")
    var latencyMessages = 500_000

    @Option(help: "Round trips per idle-latency run (one message in flight).")
    var idleLatencyMessages = 50_000

    @Option(help: "Channel capacity (also the AsyncStream buffer and Go channel buffer).")
    var capacity = 1024

    @Option(help: "Elements per send(contentsOf:) in the batched run.")
    var batch = 64

    @Option(help: "Producer tasks in the fan-in run.")
    var producers = 4

    @Option(help: "Measured runs per figure; the median is reported.")
    var repetitions = 5

    @Option(help: "Latency runs send at this fraction of the measured single-send throughput.")
    var latencyLoad = 0.5

    @Option(help: "The Go baseline program (default: bench/go/chanbench.go of this package).")
    var goSource: String?

    @Option(help: "Messages per run through the real module runtime (source → sink).")
    var runtimeMessages = 500_000

    @Option(help: "Messages per cross-module run (gRPC over loopback).")
    var crossModuleMessages = 1_000_000

    @Option(help: "Concurrent senders in the cross-module run.")
    var crossModuleSenders = 256

    @Option(help: "Messages per send(contentsOf:) in the batched cross-module run (0 skips it).")
    var crossModuleBatch = 256

    @Option(help: "Concurrent senders in the batched cross-module run.")
    var crossModuleBatchSenders = 16

    @Option(help: "Idle nodes synced into one module host for the memory figure.")
    var idleNodes = 100_000

    @Option(
        help: """
            Measure only these groups (comma-separated): channel (hops, pipeline, latencies and their \
            baselines), runtime (runtime-hop-throughput), cross-module, idle-node. Default: all.
            """)
    var only: String?

    @Flag(help: "Skip the Go baseline.")
    var noGo = false

    @Flag(help: "Measure only the channel, without the AsyncStream and Go baselines (for profiling).")
    var noBaselines = false

    func validate() throws {
        guard messages > 0, latencyMessages > 0, idleLatencyMessages > 0, capacity > 0, batch > 0, producers > 0, repetitions > 0 else {
            throw ValidationError("counts must be positive")
        }
        guard latencyLoad > 0, latencyLoad <= 1 else { throw ValidationError("--latency-load must be in (0, 1]") }
        guard crossModuleBatch >= 0, crossModuleBatchSenders > 0 else {
            throw ValidationError("--cross-module-batch must be ≥ 0 and --cross-module-batch-senders positive")
        }
        let unknown = selectedGroups.subtracting(Self.groups)
        guard unknown.isEmpty else {
            throw ValidationError("unknown group(s) \(unknown.sorted().joined(separator: ", ")); groups: \(Self.groups.sorted().joined(separator: ", "))")
        }
    }

    /// The figure groups `--only` selects from.
    static let groups: Set<String> = ["channel", "runtime", "cross-module", "idle-node"]

    private var selectedGroups: Set<String> {
        guard let only else { return Self.groups }
        return Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    private func wants(_ group: String) -> Bool { selectedGroups.contains(group) }

    func run() async throws {
        let single = wants("channel") ? await measureChannel() : nil
        if wants("runtime") { await measureRuntimeHop(single: single) }
        if wants("cross-module") { await measureCrossModule() }
        if wants("idle-node") { await measureIdleNodes() }
    }

    /// The in-module channel hop, its baselines and latencies; returns the single-send rate.
    private func measureChannel() async -> Double {
        let messages = self.messages
        let capacity = self.capacity
        let batch = self.batch

        let streamRate = await baseline { await rate(messages) { await ChannelWorkloads.asyncStream(messages: messages, capacity: capacity) } }
        if let streamRate { emit(Figure(bench: "asyncstream-hop-throughput", value: streamRate, unit: "msgs/s")) }

        let go = noBaselines ? nil : runGoBaseline()
        if let go { emit(Figure(bench: "go-channel", value: go, unit: "msgs/s")) }

        let single = await rate(messages) { await ChannelWorkloads.nodeChannelSingle(messages: messages, capacity: capacity) }
        emit(compared("hop-throughput-single", single, streamRate, go))

        let batched = await rate(messages) {
            await ChannelWorkloads.nodeChannelBatched(messages: messages, capacity: capacity, batch: batch)
        }
        emit(compared("hop-throughput-batched-\(batch)", batched, streamRate, go))

        let producers = self.producers
        let fanIn = await rate(messages) {
            await ChannelWorkloads.nodeChannelFanIn(messages: messages, capacity: capacity, producers: producers)
        }
        emit(Figure(bench: "hop-throughput-fan-in-\(producers)-producers", value: fanIn, unit: "msgs/s", baseline: single, baselineBench: "hop-throughput-single"))

        let streamPipeline = await baseline {
            await rate(messages) { await ChannelWorkloads.asyncStreamPipeline(messages: messages, capacity: capacity) }
        }
        let pipeline = await rate(messages) {
            await ChannelWorkloads.nodeChannelPipeline(messages: messages, capacity: capacity)
        }
        emit(
            Figure(
                bench: "pipeline-3-stage-throughput", value: pipeline, unit: "msgs/s",
                baseline: streamPipeline, baselineBench: "asyncstream-pipeline-3-stage-throughput"
            )
        )

        // Latency with one message in flight: every hop wakes a parked consumer.
        let idleMessages = self.idleLatencyMessages
        let idle = await latency { await ChannelWorkloads.nodeChannelIdleLatency(messages: idleMessages) }
        let idleStream = await baseline { await latency { await ChannelWorkloads.asyncStreamIdleLatency(messages: idleMessages) } }
        for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
            emit(
                Figure(
                    bench: "hop-latency-idle-\(name)", value: idle.at(q), unit: "us",
                    baseline: idleStream?.at(q), baselineBench: "asyncstream-hop-latency-idle-\(name)"
                )
            )
        }

        // Latency at a fixed load, the same for both: a fraction of the channel's single-send peak.
        let load = single * latencyLoad
        let latencyMessages = self.latencyMessages
        let ours = await latency { await ChannelWorkloads.nodeChannelLatency(messages: latencyMessages, capacity: capacity, rate: load) }
        let theirs = await baseline {
            await latency { await ChannelWorkloads.asyncStreamLatency(messages: latencyMessages, capacity: capacity, rate: load) }
        }
        for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
            var figure = Figure(
                bench: "hop-latency-\(name)", value: ours.at(q), unit: "us",
                baseline: theirs?.at(q), baselineBench: "asyncstream-hop-latency-\(name)"
            )
            figure.extra = [("load_msgs_per_s", load.rounded())]
            emit(figure)
        }
        return single
    }

    /// The real runtime: source node → edge → sink node (send, channel, handler, counters),
    /// against the bare channel's single-send hop of the same run (measured here if not yet).
    private func measureRuntimeHop(single: Double?) async {
        let messages = self.messages
        let capacity = self.capacity
        var single = single
        if single == nil {
            single = await rate(messages) { await ChannelWorkloads.nodeChannelSingle(messages: messages, capacity: capacity) }
        }
        let runtimeMessages = self.runtimeMessages
        let runtimeHop = await rate(runtimeMessages) { (try? await NodeRuntimeWorkloads.hop(messages: runtimeMessages)) ?? .infinity }
        emit(Figure(bench: "runtime-hop-throughput", value: runtimeHop, unit: "msgs/s", baseline: single, baselineBench: "hop-throughput-single"))
    }

    private func measureCrossModule() async {
        // Across modules: batched gRPC streams over loopback, against one plain gRPC stream
        // with a message and an ack per message, measured in the same run.
        do {
            let cross = try await CrossModuleBenchmark.run(
                messages: crossModuleMessages, senders: crossModuleSenders, batch: crossModuleBatch,
                batchSenders: crossModuleBatchSenders)
            var throughput = Figure(
                bench: "cross-module-throughput", value: cross.throughput, unit: "msgs/s",
                baseline: cross.baselineThroughput, baselineBench: "grpc-unbatched-stream-throughput")
            throughput.extra = [("senders", Double(cross.senders))]
            emit(throughput)
            if cross.batchSize > 0 {
                var batched = Figure(
                    bench: "cross-module-throughput-batched", value: cross.batchedThroughput, unit: "msgs/s",
                    baseline: cross.baselineThroughput, baselineBench: "grpc-unbatched-stream-throughput")
                batched.extra = [
                    ("batch", Double(cross.batchSize)), ("senders", Double(cross.batchSenders)),
                    ("single_send_msgs_per_s", cross.throughput.rounded()),
                ]
                emit(batched)
            }
            for (name, value) in [("p50", cross.p50Microseconds), ("p99", cross.p99Microseconds)] {
                var latency = Figure(bench: "cross-module-latency-\(name)", value: value, unit: "us")
                latency.extra = [("load_msgs_per_s", cross.pacedRate.rounded())]
                emit(latency)
            }
        } catch {
            printLine("{\"bench\":\"cross-module-throughput\",\"skipped\":\(jsonString("failed: \(error)"))}")
        }
    }

    private func measureIdleNodes() async {
        // Memory of idle nodes in one host, against a bare parked task per node.
        let idleNodes = self.idleNodes
        let nodeBytes = (try? await NodeRuntimeWorkloads.idleNodeBytes(count: idleNodes)) ?? .nan
        let taskBytes = await NodeRuntimeWorkloads.idleTaskBytes(count: idleNodes)
        var memory = Figure(bench: "idle-node-bytes", value: nodeBytes, unit: "bytes", baseline: taskBytes, baselineBench: "idle-parked-task-bytes")
        memory.extra = [("nodes", Double(idleNodes))]
        emit(memory)
    }

    // MARK: Measuring

    /// Runs `body` once to warm up, then `repetitions` times; returns the median rate in
    /// messages per second.
    private func rate(_ messages: Int, _ body: () async -> Double) async -> Double {
        _ = await body()
        var rates: [Double] = []
        for _ in 0..<repetitions { rates.append(Double(messages) / (await body())) }
        return median(rates)
    }

    /// Quantiles of `repetitions` latency runs, in microseconds: the median over the runs of
    /// each quantile.
    private func latency(_ body: () async -> LatencyHistogram) async -> Quantiles {
        _ = await body()
        var runs: [LatencyHistogram] = []
        for _ in 0..<repetitions { runs.append(await body()) }
        return Quantiles(runs: runs)
    }

    /// Measures a baseline unless `--no-baselines` was given.
    private func baseline<T>(_ body: () async -> T) async -> T? {
        noBaselines ? nil : await body()
    }

    private func compared(_ bench: String, _ value: Double, _ stream: Double?, _ go: Double?) -> Figure {
        var figure = Figure(
            bench: bench, value: value, unit: "msgs/s",
            baseline: stream, baselineBench: "asyncstream-hop-throughput"
        )
        if let go { figure.extra = [("go_baseline", go), ("go_ratio", value / go)] }
        return figure
    }

    private func emit(_ figure: Figure) {
        printLine(figure.jsonLine)
    }

    /// Builds and runs `bench/go/chanbench.go` with the same message count and capacity;
    /// returns its median rate, or prints why it was skipped.
    private func runGoBaseline() -> Double? {
        if noGo {
            printLine(#"{"bench":"go-channel","skipped":"--no-go"}"#)
            return nil
        }
        switch GoBaseline.run(
            source: goSource ?? GoBaseline.defaultSource, messages: messages, capacity: capacity, repetitions: repetitions
        ) {
        case .success(let value):
            return value
        case .failure(let reason):
            printLine("{\"bench\":\"go-channel\",\"skipped\":\(jsonString(reason.description))}")
            return nil
        }
    }
}

/// Median quantiles over several latency runs.
struct Quantiles {
    let runs: [LatencyHistogram]

    /// The median over the runs of quantile `q`, in microseconds.
    func at(_ q: Double) -> Double {
        median(runs.map { Double($0.quantile(q)) / 1_000 })
    }
}
