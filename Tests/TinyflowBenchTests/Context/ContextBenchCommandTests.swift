import ArgumentParser
import Foundation
import Synchronization
import Testing

@testable import tinyflow_bench

@Suite("tinyflow-bench context")
struct ContextBenchCommandTests {
    @Test("memory and sqlite print one JSON line per operation and client count, each with a positive rate and baseline")
    func figuresHaveTheirShape() async throws {
        let command = try ContextBenchCommand.parse([
            "--only", "memory,sqlite", "--clients", "1,2", "--repetitions", "1", "--time-limit", "5",
            "--memory-operations", "2000", "--sqlite-reads", "400", "--sqlite-writes", "100",
        ])
        let lines = Mutex<[String]>([])
        try await command.measure { figure in lines.withLock { $0.append(figure.jsonLine) } }

        let figures = try lines.withLock { $0 }.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        var expected: [String] = []
        for backend in ["memory", "sqlite"] {
            for operation in ["get", "set", "increment"] {
                for clients in [1, 2] { expected.append("context-\(backend)-\(operation)-\(clients)") }
            }
        }
        #expect(figures.map { $0["bench"] as? String } == expected)
        let baselineNames = ["memory": "mutex-dictionary", "sqlite": "sqlite-c-api"]
        for figure in figures {
            let bench = try #require(figure["bench"] as? String)
            let parts = bench.split(separator: "-")
            #expect(figure["unit"] as? String == "ops/s")
            #expect((figure["value"] as? Double ?? 0) > 0, "\(bench)")
            #expect((figure["baseline"] as? Double ?? 0) > 0, "\(bench)")
            #expect((figure["ratio"] as? Double ?? 0) > 0, "\(bench)")
            #expect(figure["clients"] as? Int == Int(parts[3]))
            #expect(figure["baseline_bench"] as? String == "\(baselineNames[String(parts[1])]!)-\(parts[2])-\(parts[3])")
            #expect(!(figure["baseline_note"] as? String ?? "").isEmpty)
        }
        let targets = figures.compactMap { figure in (figure["target"] as? Int).map { (figure["bench"] as! String, $0) } }
        #expect(targets.map(\.0) == [
            "context-memory-get-1", "context-memory-get-2", "context-sqlite-get-1", "context-sqlite-get-2",
            "context-sqlite-increment-1", "context-sqlite-increment-2",
        ])
    }

    @Test("an unknown backend or a bad client count is a usage error")
    func validation() {
        #expect(throws: (any Error).self) { try ContextBenchCommand.parse(["--only", "memory,redis"]) }
        #expect(throws: (any Error).self) { try ContextBenchCommand.parse(["--clients", "1,x"]) }
        #expect(throws: (any Error).self) { try ContextBenchCommand.parse(["--clients", "0"]) }
    }
}
