import Synchronization

/// The load loop every context figure runs: `clients` concurrent tasks, each doing its share
/// of `operations` in chunks, all stopping early once `timeLimit` has passed.
enum ContextLoad {
    /// Operations a client does between two looks at the clock.
    static let chunk = 128

    /// Runs the load and returns operations per second: all operations the clients did,
    /// divided by the wall time from the first start to the last finish. `body(client, count)`
    /// does `count` operations as client `client` (0 ..< clients).
    static func opsPerSecond(
        clients: Int, operations: Int, timeLimit: Duration,
        _ body: @escaping @Sendable (_ client: Int, _ count: Int) async throws -> Void
    ) async throws -> Double {
        let perClient = max(1, operations / clients)
        let limit = UInt64(timeLimit.components.seconds) * 1_000_000_000 + UInt64(timeLimit.components.attoseconds / 1_000_000_000)
        let start = monotonicNanoseconds()
        let deadline = start + limit
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for client in 0..<clients {
                group.addTask {
                    var done = 0
                    while done < perClient {
                        let count = min(chunk, perClient - done)
                        try await body(client, count)
                        done += count
                        if monotonicNanoseconds() >= deadline { break }
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        return Double(total) / elapsed
    }

    /// Measures a figure and its baseline: one warm-up run of each, then `repetitions` runs of
    /// each, alternating so drift (caches, checkpoints, the machine) hits both alike; returns
    /// the medians.
    static func compare(
        repetitions: Int, ours: () async throws -> Double, baseline: () async throws -> Double
    ) async throws -> (ours: Double, baseline: Double) {
        _ = try await baseline()
        _ = try await ours()
        var oursRuns: [Double] = []
        var baselineRuns: [Double] = []
        for _ in 0..<repetitions {
            baselineRuns.append(try await baseline())
            oursRuns.append(try await ours())
        }
        return (median(oursRuns), median(baselineRuns))
    }
}

/// Keeps the compiler from dropping work whose result is otherwise unused.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

/// Why a context figure could not be measured (a wrong answer from a store or an engine).
struct ContextBenchError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
    init(_ message: String) { self.message = message }
}
