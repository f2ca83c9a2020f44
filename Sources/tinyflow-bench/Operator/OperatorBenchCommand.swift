import ArgumentParser
import ControlPlane
import Foundation

/// `tinyflow-bench operator`: how fast the operator makes applied TinyNodes
/// Ready, and how much memory it needs to cache many of them (DESIGN §5:
/// 1,000 nodes Ready ≤ 3 s, 10,000 cached ≤ 60 MiB).
struct OperatorBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Measure the operator: apply → all Ready for 1,000 TinyNodes, and its memory with 10,000 cached.",
        discussion: """
            Each run starts an embedded control plane with the CRDs, the common module's host in \
            this process (gRPC on loopback) and the operator as a child process, then creates \
            TinyNodes (transform → debug pairs) with --apply-concurrency requests in flight. \
            Prints one JSON line per figure. Build with -c release.
            """)

    @Option(help: "TinyNodes applied per timed run (even: transform → debug pairs).")
    var nodes = 1_000

    @Option(help: "TinyNodes cached by the operator for the memory figure.")
    var cachedNodes = 10_000

    @Option(help: "Timed runs of the apply → Ready figure; the median is reported.")
    var repetitions = 3

    @Option(help: "Create requests in flight while applying.")
    var applyConcurrency = 8

    @Option(help: "Give up on a run after this many seconds.")
    var timeout = 300

    @Flag(help: "Make the control plane fsync every write (as etcd does) instead of surviving only process crashes.")
    var fsync = false

    @Flag(help: "Skip the memory figure.")
    var noMemory = false

    @Flag(help: "Skip the idle CPU figures.")
    var noIdle = false

    @Option(help: "Seconds over which idle CPU is measured (each of: no nodes, then the idle nodes).")
    var idleSeconds = 30

    @Option(help: "Idle TinyNodes deployed for the idle CPU figures.")
    var idleNodes = 1_000

    @Flag(help: "Give every node a configuration of its own (by default the transforms share one, as do the debug nodes).")
    var distinctConfigurations = false

    @Option(help: ArgumentHelp(
        "The operator to measure: a tinyflow executable (run as `tinyflow operator`), or `self`.",
        discussion: """
            By default the bench first builds `tinyflow` as the images ship it, with \
            scripts/build-release.sh (minutes the first time, seconds after), and measures that. \
            `self` measures this bench's own copy of the operator: the same code, linked against \
            the toolchain's shared Swift libraries, which costs about 10 MiB more resident memory.
            """))
    var operatorExecutable: String?

    func validate() throws {
        guard nodes > 0, nodes.isMultiple(of: 2), cachedNodes > 0, cachedNodes.isMultiple(of: 2) else {
            throw ValidationError("--nodes and --cached-nodes must be positive and even (transform → debug pairs)")
        }
        guard repetitions > 0, applyConcurrency > 0, timeout > 0, idleSeconds > 0, idleNodes > 0, idleNodes.isMultiple(of: 2) else {
            throw ValidationError("counts must be positive (and --idle-nodes even)")
        }
        if let operatorExecutable, operatorExecutable != "self", !FileManager.default.isExecutableFile(atPath: operatorExecutable) {
            throw ValidationError("--operator-executable \(operatorExecutable): no executable file there")
        }
    }

    func run() async throws {
        let durability: Durability = fsync ? .fsync : .processCrash
        let operatorUnderTest: OperatorUnderTest
        switch operatorExecutable {
        case "self": operatorUnderTest = .benchProcess
        case let path?: operatorUnderTest = .executable(path)
        case nil: operatorUnderTest = .executable(try await OperatorUnderTest.buildShipped())
        }
        var applied: [Double] = []
        var ready: [Double] = []
        for _ in 0..<repetitions {
            let run = try await OperatorBenchEnvironment.withEnvironment(durability: durability, operatorUnderTest: operatorUnderTest) { environment in
                try await timeToReady(environment, count: nodes)
            }
            applied.append(run.applied)
            ready.append(run.ready)
        }
        let appliedMedian = median(applied)
        printLine(Figure(bench: "operator-apply-\(nodes)-nodes", value: appliedMedian, unit: "s").jsonLine)
        var readyFigure = Figure(
            bench: "operator-ready-\(nodes)-nodes", value: median(ready), unit: "s",
            baseline: appliedMedian, baselineBench: "operator-apply-\(nodes)-nodes")
        readyFigure.extra = [("target_s", 3), ("min_s", ready.min() ?? 0), ("max_s", ready.max() ?? 0)]
        readyFigure.labels = [("operator", operatorUnderTest.label)]
        printLine(readyFigure.jsonLine)

        if !noIdle { try await measureIdle(durability: durability, operatorUnderTest: operatorUnderTest) }
        guard !noMemory else { return }
        try await OperatorBenchEnvironment.withEnvironment(durability: durability, operatorUnderTest: operatorUnderTest) { environment in
            let idle = try environment.operatorMemory()
            var idleFigure = Figure(bench: "operator-rss-idle", value: mebibytes(idle.resident), unit: "MiB")
            idleFigure.labels = [("operator", operatorUnderTest.label)]
            printLine(idleFigure.jsonLine)
            let run = try await timeToReady(environment, count: cachedNodes)
            let atReady = try environment.operatorMemory()
            var readyFigure = Figure(
                bench: "operator-ready-\(cachedNodes)-nodes", value: run.ready, unit: "s",
                baseline: run.applied, baselineBench: "operator-apply-\(cachedNodes)-nodes")
            readyFigure.extra = [("target_s", 15)]
            readyFigure.labels = [("operator", operatorUnderTest.label)]
            printLine(readyFigure.jsonLine)
            // The figure is the steady state: after the last status write, not amid them.
            try await environment.tracker.waitUntilQuiet(for: .seconds(2), timeout: .seconds(120))
            let cached = try environment.operatorMemory()
            var figure = Figure(
                bench: "operator-rss-\(cachedNodes)-nodes", value: mebibytes(cached.resident), unit: "MiB",
                baseline: mebibytes(idle.resident), baselineBench: "operator-rss-idle")
            figure.extra = [
                ("peak_mib", mebibytes(cached.peak)), ("at_ready_mib", mebibytes(atReady.resident)), ("ready_s", run.ready),
                ("kib_per_node", (cached.resident - idle.resident) / 1024 / Double(cachedNodes)),
                ("distinct_configurations", distinctConfigurations ? 1 : 0), ("target_mib", 60),
            ]
            figure.labels = [("operator", operatorUnderTest.label)]
            printLine(figure.jsonLine)
        }
    }

    /// `operator-cpu-idle` and `host-cpu-idle`: CPU seconds per minute used by the
    /// operator process and by this process (the module host with its nodes, plus
    /// the embedded control plane and the readiness watch: an upper bound for the
    /// host) while `idleNodes` deployed nodes get no messages, beside the same
    /// figures with no nodes, measured first in the same run.
    private func measureIdle(durability: Durability, operatorUnderTest: OperatorUnderTest) async throws {
        try await OperatorBenchEnvironment.withEnvironment(durability: durability, operatorUnderTest: operatorUnderTest) { environment in
            let window = Duration.seconds(idleSeconds)
            func perMinute() async throws -> (operator: Double, host: Double) {
                let (operatorBefore, hostBefore) = (try environment.operatorCPUSeconds(), try environment.benchCPUSeconds())
                try await Task.sleep(for: window)
                let (operatorAfter, hostAfter) = (try environment.operatorCPUSeconds(), try environment.benchCPUSeconds())
                let minutes = seconds(window) / 60
                return ((operatorAfter - operatorBefore) / minutes, (hostAfter - hostBefore) / minutes)
            }
            try await Task.sleep(for: .seconds(2))  // the operator's first lists and watches
            let empty = try await perMinute()
            _ = try await timeToReady(environment, count: idleNodes)
            try await environment.tracker.waitUntilQuiet(for: .seconds(2), timeout: .seconds(120))
            let idle = try await perMinute()
            for (bench, value, baseline) in [
                ("operator-cpu-idle", idle.operator, empty.operator), ("host-cpu-idle", idle.host, empty.host),
            ] {
                var figure = Figure(
                    bench: bench, value: value, unit: "cpu-s/min", baseline: baseline, baselineBench: "\(bench) with no nodes")
                figure.extra = [("nodes", Double(idleNodes)), ("window_s", seconds(window)), ("target_cpu_s_per_min", 0.3)]
                figure.labels = [
                    ("operator", operatorUnderTest.label),
                    ("measured", bench == "host-cpu-idle"
                        ? "the bench process: module host, embedded control plane and readiness watch"
                        : "the operator process"),
                ]
                printLine(figure.jsonLine)
            }
        }
    }

    /// Creates `count` nodes; returns the seconds until the last create returned
    /// and until the last node was Ready, both from the first create.
    private func timeToReady(_ environment: OperatorBenchEnvironment, count: Int) async throws -> (applied: Double, ready: Double) {
        let start = ContinuousClock.now
        try await environment.createNodes(
            from: 0, count: count, concurrency: applyConcurrency, distinctConfigurations: distinctConfigurations)
        let applied = ContinuousClock.now - start
        let tracker = environment.tracker
        guard let readyAt = await withDeadline(.seconds(timeout), { await tracker.waitUntilReady(count) }) else {
            throw OperatorBenchError(
                description: "only \(tracker.readyCount) of \(count) TinyNodes were Ready after \(timeout) s")
        }
        return (seconds(applied), seconds(readyAt - start))
    }
}

private func seconds(_ duration: Duration) -> Double {
    duration / .seconds(1)
}

private func mebibytes(_ bytes: Double) -> Double { bytes / 1_048_576 }
