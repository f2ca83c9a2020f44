import CommonComponents
import ComponentKit
import Foundation
import Logging
import ModuleHost
import BoundedChannels
import Synchronization

/// Workloads that run the real `ModuleRuntime`: message hops between nodes
/// (channel + handler + counters) and the memory of idle nodes.
enum NodeRuntimeWorkloads {
    /// Resident memory of this process, in bytes.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Gives the allocator's free memory back to the system (glibc's
    /// `malloc_trim`, looked up at run time), so that what a measurement then
    /// allocates shows in the resident size instead of reusing memory that
    /// earlier benchmarks freed.
    static func trimHeap() {
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        let trim = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        _ = trim(0)
    }

    /// Runs a runtime for the duration of `body`.
    static func withRuntime<T: Sendable>(
        _ module: ModuleDefinition, _ body: (ModuleRuntime) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let runtime = ModuleRuntime(module: module, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runtime.run() }
            let result = try await body(runtime)
            await runtime.shutdown()
            try await group.waitForAll()
            return result
        }
    }

    /// Bytes of resident memory per idle node: `count` debug nodes synced into
    /// one host. A first sync of 1,000 nodes (then removed) warms the runtime
    /// up; the free heap is then given back to the system, so the figure counts
    /// every page the nodes touch, allocator overhead included. The node
    /// definitions are built before the baseline is taken: they are the
    /// operator's request, not the nodes.
    static func idleNodeBytes(count: Int) async throws -> Double {
        try await withRuntime(CommonModule.definition) { runtime in
            let settings = [PortConfiguration(port: "_settings", configuration: ["log": false])]
            let first = (0..<min(count, 1_000)).map { NodeDefinition(name: "warm-\($0)", component: "debug", ports: settings) }
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: first))
            _ = await runtime.sync(DesiredNodes(generation: 2, nodes: []))
            let desired = DesiredNodes(
                generation: 3, nodes: (0..<count).map { NodeDefinition(name: "idle-\($0)", component: "debug", ports: settings) })
            trimHeap()
            let before = residentBytes()
            let result = await runtime.sync(desired)
            precondition(result.nodes.count == count && result.nodes.allSatisfy { $0.phase == .running })
            try await Task.sleep(for: .milliseconds(500))
            return Double(residentBytes() - before) / Double(count)
        }
    }

    /// The same measure for the bare minimum: one task parked on one channel per node.
    static func idleTaskBytes(count: Int) async -> Double {
        let warm = (0..<min(count, 1_000)).map { _ in BoundedChannel<Message>(capacity: 64) }
        await park(warm) {}
        let channels = (0..<count).map { _ in BoundedChannel<Message>(capacity: 64) }
        trimHeap()
        let before = residentBytes()
        var measured = 0.0
        await park(channels) {
            try? await Task.sleep(for: .milliseconds(500))
            measured = Double(residentBytes() - before) / Double(count)
        }
        return measured
    }

    private static func park(_ channels: [BoundedChannel<Message>], while body: () async -> Void) async {
        await withDiscardingTaskGroup { group in
            for channel in channels {
                group.addTask {
                    var batch: [Message] = []
                    while (try? await channel.next(into: &batch, upTo: 32)) == true { batch.removeAll() }
                }
            }
            await body()
            for channel in channels { channel.finish() }
        }
    }

    /// Seconds to move `messages` messages from a source node through one
    /// edge to a sink node of the real runtime.
    static func hop(messages: Int) async throws -> Double {
        let module = ModuleDefinition(name: "bench", version: "1", components: [BurstSource.self, CountingSink.self])
        return try await withRuntime(module) { runtime in
            let done = BenchSignals.shared.expect(messages)
            let clock = ContinuousClock()
            let started = clock.now
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                NodeDefinition(
                    name: "source", component: "burst-source",
                    ports: [PortConfiguration(port: "_settings", configuration: ["messages": .integer(messages)])],
                    edges: [Edge(id: "e", port: "out", to: "sink:in")]),
                NodeDefinition(name: "sink", component: "counting-sink"),
            ]))
            await done.wait()
            return (clock.now - started) / .seconds(1)
        }
    }
}

/// Sends `messages` small messages as fast as the edge takes them.
struct BurstSource: RunningComponent {
    @Schema
    struct Settings: Codable, Sendable {
        var messages: Int = 1000
    }
    static let info = ComponentInfo(name: "burst-source", description: "Sends a burst of messages.")
    static let ports: [PortDefinition] = [.settings(Settings.self), .output("out", message: Int.self)]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {}
    func run(context: NodeContext, output: any Output) async throws {
        let settings: Settings = try context.settings()
        let message = Message(id: "m", payload: 1)
        for _ in 0..<settings.messages { try await output.send("out", message) }
        try await Task.sleep(for: .seconds(3600))
    }
}

/// Counts what arrives and signals the benchmark when all did.
struct CountingSink: Component {
    static let info = ComponentInfo(name: "counting-sink", description: "Counts messages.")
    static let ports: [PortDefinition] = [.input("in", message: Int.self)]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        BenchSignals.shared.arrived()
    }
}

/// Where the counting sink reports to the running benchmark.
final class BenchSignals: Sendable {
    static let shared = BenchSignals()
    private let state = Mutex<(remaining: Int, done: Done?)>((0, nil))

    final class Done: Sendable {
        private let event = Mutex<(happened: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))
        func signal() {
            let waiter = event.withLock { state -> CheckedContinuation<Void, Never>? in
                state.happened = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
        func wait() async {
            await withCheckedContinuation { continuation in
                let now = event.withLock { state -> Bool in
                    if state.happened { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    func expect(_ count: Int) -> Done {
        let done = Done()
        state.withLock { $0 = (count, done) }
        return done
    }

    func arrived() {
        let done = state.withLock { state -> Done? in
            state.remaining -= 1
            return state.remaining == 0 ? state.done : nil
        }
        done?.signal()
    }
}
