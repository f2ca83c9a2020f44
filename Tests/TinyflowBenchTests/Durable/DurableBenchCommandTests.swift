import ArgumentParser
import Foundation
import Synchronization
import Testing

@testable import tinyflow_bench

@Suite("tinyflow-bench durable", .serialized, .timeLimit(.minutes(3)))
struct DurableBenchCommandTests {
    /// Runs the command with `arguments` and returns its JSON lines as objects.
    private func figures(_ arguments: [String]) async throws -> [[String: Any]] {
        let command = try DurableBenchCommand.parse(arguments)
        let lines = Mutex<[String]>([])
        try await command.measure { line in lines.withLock { $0.append(line) } }
        return try lines.withLock { $0 }.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
    }

    /// Checks a throughput line: a rate beside the raw engine's and the issue's targets.
    private func expectThroughput(_ figure: [String: Any], target: Int) {
        let bench = figure["bench"] as? String ?? "?"
        #expect(figure["unit"] as? String == "msgs/s", "\(bench)")
        #expect((figure["value"] as? Double ?? 0) > 0, "\(bench)")
        #expect((figure["baseline"] as? Double ?? 0) > 0, "\(bench)")
        #expect((figure["ratio"] as? Double ?? 0) > 0, "\(bench)")
        #expect(figure["baseline_bench"] as? String == "sqlite-c-api-queue-batch-32", "\(bench)")
        #expect(figure["target"] as? Int == target, "\(bench)")
        #expect(["met", "not met"].contains(figure["target_met"] as? String), "\(bench)")
        #expect(["met", "not met"].contains(figure["target_ratio_met"] as? String), "\(bench)")
    }

    @Test("sqlite in one module: throughput beside the raw engine and the memory hop, then p50 and p99 beside the memory hop's")
    func inModuleFigures() async throws {
        let figures = try await figures([
            "--only", "sqlite", "--no-cross-host", "--messages", "400", "--senders", "4", "--repetitions", "1",
            "--latency-seconds", "0.2", "--time-limit", "30",
        ])
        #expect(figures.map { $0["bench"] as? String } == [
            "durable-sqlite-hop-throughput", "durable-sqlite-hop-latency-p50", "durable-sqlite-hop-latency-p99",
        ])
        guard figures.count == 3 else { return }
        expectThroughput(figures[0], target: 50_000)
        #expect((figures[0]["memory_hop_msgs_per_s"] as? Double ?? 0) > 0)
        #expect(figures[0]["partial_runs"] == nil, "every run handled all its messages")
        for latency in figures[1...] {
            #expect(latency["unit"] as? String == "ms")
            #expect((latency["value"] as? Double ?? 0) > 0)
            #expect(latency["baseline"] != nil)
            #expect(latency["baseline_bench"] as? String == "memory-hop-latency-\((latency["bench"] as? String ?? "").suffix(3))")
        }
        #expect(figures[2]["target"] as? Int == 20)
        #expect(["met", "not met"].contains(figures[2]["target_met"] as? String))
    }

    /// The `tinyflow-bench` executable built beside this test bundle, if any.
    static let benchExecutable: String? = {
        let candidate = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("tinyflow-bench").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }()

    @Test("sqlite across two module-host processes: throughput and latencies", .enabled(if: benchExecutable != nil))
    func crossHostFigures() async throws {
        let figures = try await figures([
            "--only", "sqlite", "--messages", "300", "--senders", "4", "--repetitions", "1", "--latency-seconds", "0.2",
            "--time-limit", "30", "--host-executable", try #require(Self.benchExecutable),
        ])
        #expect(figures.map { $0["bench"] as? String } == [
            "durable-sqlite-hop-throughput", "durable-sqlite-hop-latency-p50", "durable-sqlite-hop-latency-p99",
            "durable-sqlite-cross-host-throughput", "durable-sqlite-cross-host-latency-p50", "durable-sqlite-cross-host-latency-p99",
        ])
        guard figures.count == 6 else { return }
        expectThroughput(figures[3], target: 50_000)
        #expect((figures[3]["scope"] as? String ?? "").contains("module-host processes"))
        #expect((figures[5]["value"] as? Double ?? 0) > 0)
    }

    @Test("an unknown backend or a bad count is a usage error")
    func validation() {
        #expect(throws: (any Error).self) { try DurableBenchCommand.parse(["--only", "sqlite,redis"]) }
        #expect(throws: (any Error).self) { try DurableBenchCommand.parse(["--messages", "0"]) }
        #expect(throws: (any Error).self) { try DurableBenchCommand.parse(["--latency-load", "1.5"]) }
    }
}
