import ComponentKit
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
public import JSONSchemaKit
import Logging
import ModuleHostAPI
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
        /// Acked messages per second at full speed, one `send` per message.
        public var throughput: Double
        /// Messages per batch in the batched phase (0: not measured).
        public var batchSize: Int
        /// Concurrent sending tasks in the batched phase.
        public var batchSenders: Int
        /// Acked messages per second at full speed, each sender sending batches
        /// of ``batchSize`` with ``GRPCModuleTransport/send(contentsOf:toModule:)``.
        public var batchedThroughput: Double
        /// The paced rate of the latency phase (half of ``throughput``).
        public var pacedRate: Double
        /// Median `send` latency at the paced rate, in microseconds.
        public var p50Microseconds: Double
        /// 99th percentile `send` latency at the paced rate, in microseconds.
        public var p99Microseconds: Double
        /// Messages measured in the latency phase.
        public var latencySamples: Int
        /// The baseline in the same run: messages per second over one plain
        /// grpc-swift-2 bidirectional stream, one gRPC message and one ack per
        /// message, pipelined (nobody waits for an ack before sending on).
        public var baselineThroughput: Double
    }

    /// Starts a server with an accepting sink on a free loopback port, pushes
    /// `messages` messages from `senders` concurrent tasks (throughput), then
    /// the same number in batches of `batch` from `batchSenders` tasks (batched
    /// throughput; `batch` 0 skips it), then sends single messages at half the
    /// unbatched rate from up to 32 paced tasks for `latencyDuration` and
    /// measures each `send`'s latency; finally measures the baseline,
    /// `baselineMessages` over one plain grpc-swift-2 stream.
    public static func run(
        messages: Int = 1_000_000, senders: Int = 256, batch: Int = 256, batchSenders: Int = 16,
        payload: JSONValue = ["n": 1, "text": "hello"],
        latencyDuration: Duration = .seconds(2), baselineMessages: Int = 200_000,
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

                var batchedThroughput = 0.0
                if batch > 0 {
                    try await pushBatches(
                        transport, template: template, messages: min(messages, 50_000), batch: batch, senders: batchSenders)
                    let batchedStart = clock.now
                    try await pushBatches(transport, template: template, messages: messages, batch: batch, senders: batchSenders)
                    batchedThroughput = Double(messages) / seconds(clock.now - batchedStart)
                }

                let pacedRate = throughput / 2
                let latencies = try await paced(
                    transport, template: template, rate: pacedRate, senders: min(senders, 32),
                    duration: latencyDuration)
                let sorted = latencies.sorted()
                func percentile(_ p: Double) -> Double {
                    guard !sorted.isEmpty else { return 0 }
                    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
                }
                let baseline = try await baselineThroughput(messages: baselineMessages, template: template)
                return Result(
                    messages: messages, senders: senders, throughput: throughput, batchSize: max(0, batch),
                    batchSenders: batchSenders, batchedThroughput: batchedThroughput, pacedRate: pacedRate,
                    p50Microseconds: percentile(0.50), p99Microseconds: percentile(0.99),
                    latencySamples: sorted.count, baselineThroughput: baseline)
            }
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        duration / .seconds(1)
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

    /// `senders` tasks share `messages`, each sending them in batches of `batch`
    /// and waiting for each batch's acks before the next; a failed message fails the run.
    private static func pushBatches(
        _ transport: GRPCModuleTransport, template: Message, messages: Int, batch: Int, senders: Int
    ) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for sender in 0..<senders {
                let count = messages / senders + (sender < messages % senders ? 1 : 0)
                group.addTask {
                    var buffer: [Message] = []
                    buffer.reserveCapacity(batch)
                    var index = 0
                    while index < count {
                        buffer.removeAll(keepingCapacity: true)
                        for _ in 0..<min(batch, count - index) {
                            var message = template
                            message.id = "b\(sender)-\(index)"
                            buffer.append(message)
                            index += 1
                        }
                        try await transport.send(contentsOf: buffer, toModule: "bench")
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
    func context(_ request: ContextRequest) async throws -> ContextResponse {
        throw ContextStoreError.unavailable(store: "none", reason: "the benchmark host keeps no context")
    }
    func deadLetters(_ request: DeadLetterRequest) async throws -> DeadLetterResponse {
        throw DeadLetterAccessError.noMessageStore
    }
}

// MARK: - Baseline: unbatched grpc-swift-2 streaming

extension CrossModuleBenchmark {
    /// One gRPC message per message and one ack per message over a single
    /// bidirectional stream; the server decodes each message as `Deliver` does.
    static func baselineThroughput(messages: Int, template: Message) async throws -> Double {
        let server = GRPCServer(
            transport: HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext),
            services: [RawEchoService()])
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            defer { server.beginGracefulShutdown() }
            guard let port = try await server.transport.listeningAddress.ipv4?.port else { return 0 }
            let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
            return try await withGRPCClient(transport: transport) { client in
                let body = encodeMessageBody(template)
                let clock = ContinuousClock()
                let start = clock.now
                let acked = try await client.bidirectionalStreaming(
                    request: StreamingClientRequest(of: [UInt8].self) { writer in
                        for _ in 0..<messages { try await writer.write(body) }
                    },
                    descriptor: RawEchoService.method, serializer: RawBytesCoder(), deserializer: RawBytesCoder(),
                    options: .defaults
                ) { response in
                    var count = 0
                    for try await _ in response.messages { count += 1 }
                    return count
                }
                return Double(acked) / seconds(clock.now - start)
            }
        }
    }
}

/// Passes bytes through unchanged.
struct RawBytesCoder: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}

/// Decodes every message of a bidirectional stream and answers each with a one-byte ack.
struct RawEchoService: RegistrableRPCService {
    static let method = MethodDescriptor(fullyQualifiedService: "tinyflow.Baseline", method: "Echo")

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(forMethod: Self.method, deserializer: RawBytesCoder(), serializer: RawBytesCoder()) {
            request, _ in
            StreamingServerResponse { writer in
                for try await bytes in request.messages {
                    _ = try bytes.withUnsafeBytes { buffer in
                        var reader = ByteReader(buffer)
                        return try reader.readMessage()
                    }
                    try await writer.write([0])
                }
                return [:]
            }
        }
    }
}
