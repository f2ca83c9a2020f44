import ComponentKit
import Foundation
public import JSONSchemaKit
import Logging
import ModuleHost
import Synchronization

/// The cross-module hop benchmark (DESIGN.md §5): messages from concurrent
/// senders through ``GRPCModuleTransport`` to a ``ModuleHostServer`` on
/// loopback whose sink accepts at once.
public enum CrossModuleBenchmark {
    /// What one run measured.
    public struct Result: Sendable, Codable, Hashable {
        /// Messages sent in the throughput phase.
        public var messages: Int
        /// Concurrent sending tasks.
        public var senders: Int
        /// Acked messages per second at full speed.
        public var throughput: Double
        /// The paced rate of the latency phase (half of ``throughput``).
        public var pacedRate: Double
        /// Median `send` latency at the paced rate, in microseconds.
        public var p50Microseconds: Double
        /// 99th percentile `send` latency at the paced rate, in microseconds.
        public var p99Microseconds: Double
        /// Messages measured in the latency phase.
        public var latencySamples: Int
    }

    /// Starts a server with an accepting sink on a free loopback port, pushes
    /// `messages` messages from `senders` concurrent tasks (throughput), then
    /// sends at half that rate from up to 32 paced tasks for `latencyDuration`
    /// and measures each `send`'s latency.
    public static func run(
        messages: Int = 1_000_000, senders: Int = 256, payload: JSONValue = ["n": 1, "text": "hello"],
        latencyDuration: Duration = .seconds(2),
        configuration: GRPCModuleTransport.Configuration = GRPCModuleTransport.Configuration()
    ) async throws -> Result {
        let server = ModuleHostServer(
            host: "127.0.0.1", port: 0, control: IdleControl(), sink: AcceptingSink(),
            logger: Logger(label: "bench.server"))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { server.beginGracefulShutdown() }
            let port = try await server.boundPort
            return try await GRPCModuleTransport.withTransport(configuration: configuration) { transport in
                await transport.updateAddresses(["bench": ["127.0.0.1:\(port)"]])
                let template = Message(
                    from: PortAddress(node: "source", port: "out"), to: PortAddress(node: "sink", port: "in"),
                    payload: payload)
                // Wait for the stream, then warm up.
                let clock = ContinuousClock()
                let connectBy = clock.now.advanced(by: .seconds(10))
                while true {
                    do {
                        try await transport.send(template, toModule: "bench")
                        break
                    } catch where clock.now < connectBy {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
                try await push(transport, template: template, messages: min(messages, 50_000), senders: senders)

                let start = clock.now
                try await push(transport, template: template, messages: messages, senders: senders)
                let elapsed = clock.now - start
                let throughput = Double(messages) / seconds(elapsed)

                let pacedRate = throughput / 2
                let latencies = try await paced(
                    transport, template: template, rate: pacedRate, senders: min(senders, 32),
                    duration: latencyDuration)
                let sorted = latencies.sorted()
                func percentile(_ p: Double) -> Double {
                    guard !sorted.isEmpty else { return 0 }
                    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
                }
                return Result(
                    messages: messages, senders: senders, throughput: throughput, pacedRate: pacedRate,
                    p50Microseconds: percentile(0.50), p99Microseconds: percentile(0.99),
                    latencySamples: sorted.count)
            }
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func push(_ transport: GRPCModuleTransport, template: Message, messages: Int, senders: Int) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for sender in 0..<senders {
                let count = messages / senders + (sender < messages % senders ? 1 : 0)
                group.addTask {
                    var message = template
                    for index in 0..<count {
                        message.id = "\(sender)-\(index)"
                        try await transport.send(message, toModule: "bench")
                    }
                }
            }
        }
    }

    /// Each sender sends at `rate / senders` per second; returns send latencies in microseconds
    /// (from the call to its return, so time spent behind schedule is not counted).
    private static func paced(
        _ transport: GRPCModuleTransport, template: Message, rate: Double, senders: Int, duration: Duration
    ) async throws -> [Double] {
        let clock = ContinuousClock()
        let interval = Duration.nanoseconds(Int64(1e9 * Double(senders) / max(rate, 1)))
        let end = clock.now.advanced(by: duration)
        return try await withThrowingTaskGroup(of: [Double].self) { group in
            for sender in 0..<senders {
                group.addTask {
                    var latencies: [Double] = []
                    var message = template
                    // Stagger the senders over one interval.
                    var next = clock.now.advanced(by: interval * (Double(sender) / Double(senders)))
                    var index = 0
                    while next < end {
                        // Sleep only when a millisecond ahead of schedule, then catch up: one timer
                        // per sender and millisecond instead of one per message.
                        if next > clock.now.advanced(by: .milliseconds(1)) {
                            try await Task.sleep(until: next, clock: clock)
                        }
                        message.id = "p\(sender)-\(index)"
                        let sent = clock.now
                        try await transport.send(message, toModule: "bench")
                        latencies.append(seconds(clock.now - sent) * 1e6)
                        next = next.advanced(by: interval)
                        index += 1
                    }
                    return latencies
                }
            }
            var all: [Double] = []
            for try await part in group { all.append(contentsOf: part) }
            return all
        }
    }
}

/// A sink that accepts every message at once.
struct AcceptingSink: MessageSink {
    func deliver(_ message: Message) async throws {}
    func request(_ message: Message) async throws -> JSONValue { message.payload }
}

/// A control with no nodes.
struct IdleControl: ModuleHostControl {
    func catalogue() async -> ModuleCatalogue { ModuleCatalogue(module: "bench", version: "0", components: []) }
    func sync(_ desired: DesiredNodes) async -> SyncResult { SyncResult(generation: desired.generation, nodes: []) }
    func watchStatus(interval: Duration, _ body: @Sendable ([NodeStatusReport]) async throws -> Void) async throws {
        try await body([])
        try await Task.sleep(for: .seconds(86_400 * 365))
    }
    func recentMessages(node: String) async -> [Message]? { nil }
}
