import AsyncPrimitives
import Backoff
import ComponentKit
import Foundation
public import JSONSchemaKit
public import Logging
public import ModuleHostAPI
public import ServiceLifecycle
import Synchronization

/// The production ``Transport``: sends messages to other modules' hosts over
/// gRPC, one long-lived bidirectional `Deliver` stream per replica address.
///
/// - Messages to a replica share its stream and are batched into frames
///   (up to ``Configuration/maximumBatchMessages`` per frame) while the
///   previous frame is being written, so batching costs no latency at low load.
/// - ``send(_:toModule:)`` returns when the remote host accepted the message,
///   so remote backpressure reaches the sender; at most
///   ``Configuration/maximumInFlightPerReplica`` messages per replica are
///   queued or unacknowledged, further senders wait.
/// - Messages are spread round robin over the module's replicas whose stream
///   is open (or opening); a broken stream fails its pending messages with
///   ``TransportError/unavailable(module:reason:)`` and reconnects with
///   jittered exponential backoff.
/// - A message's `deadline` bounds its wait: ``TransportError/deadlineExceeded(module:messageID:)``.
/// - ``send(contentsOf:toModule:)`` sends a batch to one replica, in order, and
///   waits once for all of its acks: the way to move many messages cheaply.
///
/// The connections run inside ``run()``: run the transport in a `ServiceGroup`
/// (or use ``withTransport(configuration:logger:_:)``).
public final class GRPCModuleTransport: Transport, Service {
    /// Batching, backpressure, reconnection and security settings.
    public struct Configuration: Sendable {
        /// Most messages in one frame.
        public var maximumBatchMessages: Int
        /// Most bytes in one frame (a larger single message still goes alone).
        public var maximumBatchBytes: Int
        /// Most messages queued or awaiting an ack per replica; further senders wait.
        public var maximumInFlightPerReplica: Int
        /// The first reconnection delay after a stream broke.
        public var initialBackoff: Duration
        /// The longest reconnection delay.
        public var maximumBackoff: Duration
        /// The largest message, encoded, that is sent to another module; a larger one fails
        /// at once with ``TransportError/messageTooLarge(module:messageID:bytes:limit:)``
        /// (to the sender's error port) instead of breaking the stream it would travel on.
        public var maximumMessageBytes: Int
        /// Mutual TLS, or `nil` for plaintext.
        public var tls: MutualTLSConfiguration?
        /// The bearer token sent with every stream (local mode), or `nil`.
        public var token: String?
        /// How long a shutdown waits for streams to drain before cancelling them.
        public var shutdownGracePeriod: Duration

        /// Creates a configuration.
        public init(
            maximumBatchMessages: Int = 256, maximumBatchBytes: Int = 1 << 20, maximumInFlightPerReplica: Int = 4096,
            initialBackoff: Duration = .milliseconds(50), maximumBackoff: Duration = .seconds(5),
            maximumMessageBytes: Int = 4 << 20,
            tls: MutualTLSConfiguration? = nil, token: String? = nil, shutdownGracePeriod: Duration = .seconds(5)
        ) {
            self.maximumMessageBytes = min(max(1024, maximumMessageBytes), ModuleHostServer.maximumRequestBytes)
            self.token = token
            self.shutdownGracePeriod = shutdownGracePeriod
            self.maximumBatchMessages = max(1, maximumBatchMessages)
            self.maximumBatchBytes = max(1024, maximumBatchBytes)
            self.maximumInFlightPerReplica = max(1, maximumInFlightPerReplica)
            self.initialBackoff = initialBackoff
            self.maximumBackoff = max(initialBackoff, maximumBackoff)
            self.tls = tls
        }

        /// The delays between a replica's stream attempts: ``initialBackoff`` doubling up to
        /// ``maximumBackoff``, each spread by ± 50 %. The only reconnect backoff of a
        /// replica connection (gRPC's own never comes into play, see `ReplicaConnection`).
        var reconnectBackoff: Backoff {
            Backoff(initial: initialBackoff, maximum: maximumBackoff, multiplier: 2, jitter: 0.5)
        }
    }

    /// A module's replicas, resolved when addresses change, so that picking one
    /// takes one dictionary lookup and no connection lock.
    private final class ModuleReplicas: Sendable {
        let connections: [ReplicaConnection]
        let unusable: [String]
        let cursor = Atomic<UInt>(0)

        init(connections: [ReplicaConnection], unusable: [String]) {
            self.connections = connections
            self.unusable = unusable
        }
    }

    private struct State {
        var addresses: [String: [String]] = [:]
        var connections: [String: ReplicaConnection] = [:]
        var modules: [String: ModuleReplicas] = [:]
        var invalid: [String: String] = [:]
        var isShutDown = false
    }

    private let configuration: Configuration
    private let logger: Logger
    private let state = Mutex(State())
    private let started: AsyncStream<ReplicaConnection>
    private let starter: AsyncStream<ReplicaConnection>.Continuation
    private let stopped = OneShotEvent()

    /// Creates a transport with no known replicas; see ``updateAddresses(_:)``.
    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "tinyflow.grpc.transport")) {
        self.configuration = configuration
        self.logger = logger
        (started, starter) = AsyncStream<ReplicaConnection>.makeStream()
    }

    /// Runs `body` with a running transport and shuts it down afterwards.
    public static func withTransport<Result: Sendable>(
        configuration: Configuration = Configuration(), logger: Logger = Logger(label: "tinyflow.grpc.transport"),
        _ body: (GRPCModuleTransport) async throws -> Result
    ) async throws -> Result {
        let transport = GRPCModuleTransport(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await transport.run() }
            defer { transport.shutdown() }
            return try await body(transport)
        }
    }

    /// Runs the replica connections until graceful shutdown (or cancellation).
    /// Call it once; messages sent before it runs wait for their stream.
    public func run() async throws {
        let started = self.started
        let stopped = self.stopped
        let gracePeriod = configuration.shutdownGracePeriod
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await withDiscardingTaskGroup { connections in
                        for await connection in started {
                            connections.addTask { await connection.run() }
                        }
                    }
                }
                group.addTask {
                    // Streams that do not drain within the grace period are cancelled.
                    await stopped.wait()
                    try? await Task.sleep(for: gracePeriod)
                }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.shutdown()
        }
    }

    /// Closes every replica connection; ``run()`` returns once their streams
    /// drained, or after ``Configuration/shutdownGracePeriod``. Later sends fail.
    public func shutdown() {
        let connections = state.withLock { state -> [ReplicaConnection] in
            defer {
                state.isShutDown = true
                state.connections.removeAll()
                state.addresses.removeAll()
                state.modules.removeAll()
            }
            return Array(state.connections.values)
        }
        stopped.signal()
        for connection in connections { connection.stop(reason: "the transport shut down") }
        starter.finish()
    }

    /// Replaces the known replica addresses per module: opens streams to new
    /// addresses and closes those no module lists any more.
    public func updateAddresses(_ addresses: [String: [String]]) async {
        var created: [ReplicaConnection] = []
        let removed = state.withLock { state -> [ReplicaConnection] in
            guard !state.isShutDown else { return [] }
            state.addresses = addresses.mapValues { list in
                var seen = Set<String>()
                return list.filter { seen.insert($0).inserted }
            }
            let wanted = Set(addresses.values.joined())
            for address in wanted where state.connections[address] == nil && state.invalid[address] == nil {
                do {
                    let connection = try ReplicaConnection(
                        address: address,
                        limits: ReplicaLimits(
                            maximumBatchMessages: configuration.maximumBatchMessages,
                            maximumBatchBytes: configuration.maximumBatchBytes,
                            maximumInFlight: configuration.maximumInFlightPerReplica),
                        backoff: configuration.reconnectBackoff,
                        tls: configuration.tls, token: configuration.token, logger: logger)
                    state.connections[address] = connection
                    created.append(connection)
                } catch {
                    state.invalid[address] = "cannot connect to \"\(address)\": \(error)"
                }
            }
            state.modules = state.addresses.mapValues { addresses in
                ModuleReplicas(
                    connections: addresses.compactMap { state.connections[$0] },
                    unusable: addresses.compactMap { state.invalid[$0] })
            }
            let gone = state.connections.keys.filter { !wanted.contains($0) }
            return gone.compactMap { state.connections.removeValue(forKey: $0) }
        }
        for connection in created { starter.yield(connection) }
        for connection in removed { connection.stop(reason: "replica \(connection.address) was removed") }
    }

    /// Sends `message` to a replica of `module`; returns when that host accepted it.
    public func send(_ message: Message, toModule module: String) async throws {
        switch try await submit(message, kind: .send, module: module) {
        case .accepted, .reply: return
        case .failed(let reason): throw TransportError.rejected(module: module, reason: reason)
        }
    }

    /// Sends `messages` to one replica of `module` as one batch, in order:
    /// they are queued under one lock acquisition (as many as the in-flight
    /// window takes; the rest wait in line) and the caller waits once, until
    /// every message was acked or failed. Throws a ``BatchSendError`` naming
    /// each message that was not accepted, with its ``TransportError`` (or
    /// `CancellationError`); messages whose deadline already passed fail at
    /// once with ``TransportError/deadlineExceeded(module:messageID:)``.
    public func send(contentsOf messages: [Message], toModule module: String) async throws(BatchSendError) {
        guard !messages.isEmpty else { return }
        var failures: [BatchSendError.Failure] = []
        let connection: ReplicaConnection
        do {
            connection = try pick(module)
        } catch {
            throw BatchSendError(
                count: messages.count,
                failures: messages.enumerated().map { BatchSendError.Failure(index: $0, messageID: $1.id, error: error) })
        }
        let now = Date()
        var indices: [Int] = []
        var bodies = EncodedBodies(reservingCapacity: messages.count)
        var deadlines: [Date?] = []
        indices.reserveCapacity(messages.count)
        deadlines.reserveCapacity(messages.count)
        for index in messages.indices {
            if messages[index].isExpired(at: now) {
                failures.append(BatchSendError.Failure(
                    index: index, messageID: messages[index].id,
                    error: TransportError.deadlineExceeded(module: module, messageID: messages[index].id)))
                continue
            }
            bodies.append(messages[index])
            if bodies.lastBodySize > configuration.maximumMessageBytes {
                failures.append(BatchSendError.Failure(
                    index: index, messageID: messages[index].id,
                    error: TransportError.messageTooLarge(
                        module: module, messageID: messages[index].id, bytes: bodies.lastBodySize, limit: configuration.maximumMessageBytes)))
                bodies.removeLast()
                continue
            }
            indices.append(index)
            deadlines.append(messages[index].deadline)
        }
        for member in await connection.submitBatch(bodies: bodies, deadlines: deadlines) {
            let index = indices[member.offset]
            let id = messages[index].id
            let error: any Error
            switch member.reason {
            case .unavailable(let reason): error = TransportError.unavailable(module: module, reason: reason)
            case .deadlineExceeded: error = TransportError.deadlineExceeded(module: module, messageID: id)
            case .rejected(let reason): error = TransportError.rejected(module: module, reason: reason)
            case .cancelled: error = CancellationError()
            }
            failures.append(BatchSendError.Failure(index: index, messageID: id, error: error))
        }
        if !failures.isEmpty { throw BatchSendError(count: messages.count, failures: failures) }
    }

    /// Sends a request to a replica of `module` and returns the reply.
    public func request(_ message: Message, toModule module: String) async throws -> JSONValue {
        switch try await submit(message, kind: .request, module: module) {
        case .reply(let value): return value
        case .accepted: return .null
        case .failed(let reason): throw TransportError.rejected(module: module, reason: reason)
        }
    }

    /// The phase of each replica connection by address (for tests and diagnostics).
    var replicaPhases: [String: ReplicaPhase] {
        state.withLock { $0.connections.mapValues(\.phase) }
    }

    /// Messages queued or awaiting an ack per replica address (for tests and diagnostics).
    var replicaInFlight: [String: Int] {
        state.withLock { $0.connections.mapValues(\.inFlight) }
    }

    /// `Deliver` streams opened so far per replica address (for tests and diagnostics).
    var replicaAttempts: [String: Int] {
        state.withLock { $0.connections.mapValues(\.attempts) }
    }

    private func submit(_ message: Message, kind: DeliveryKind, module: String) async throws -> DeliveryOutcome {
        if message.isExpired() { throw TransportError.deadlineExceeded(module: module, messageID: message.id) }
        let connection = try pick(module)
        let body = encodeMessageBody(message)
        guard body.count <= configuration.maximumMessageBytes else {
            throw TransportError.messageTooLarge(
                module: module, messageID: message.id, bytes: body.count, limit: configuration.maximumMessageBytes)
        }
        do {
            return try await connection.submit(kind: kind, body: body[...], deadline: message.deadline)
        } catch SubmitFailure.unavailable(let reason) {
            throw TransportError.unavailable(module: module, reason: reason)
        } catch SubmitFailure.deadlineExceeded {
            throw TransportError.deadlineExceeded(module: module, messageID: message.id)
        } catch SubmitFailure.rejected(let reason) {
            throw TransportError.rejected(module: module, reason: reason)
        } catch SubmitFailure.cancelled {
            throw CancellationError()
        }
    }

    /// Round robin over replicas with an open stream, else over those opening one.
    private func pick(_ module: String) throws -> ReplicaConnection {
        let replicas = try state.withLock { state -> ModuleReplicas in
            guard !state.isShutDown else {
                throw TransportError.unavailable(module: module, reason: "the transport shut down")
            }
            guard let replicas = state.modules[module] else { throw TransportError.noReplicas(module: module) }
            return replicas
        }
        let connections = replicas.connections
        guard !connections.isEmpty else {
            if replicas.unusable.isEmpty { throw TransportError.noReplicas(module: module) }
            throw TransportError.unavailable(module: module, reason: replicas.unusable.joined(separator: "; "))
        }
        let start = replicas.cursor.wrappingAdd(1, ordering: .relaxed).oldValue
        var connecting: ReplicaConnection?
        for offset in 0..<connections.count {
            let connection = connections[Int((start &+ UInt(offset)) % UInt(connections.count))]
            switch connection.isReady {
            case true?: return connection
            case false?: if connecting == nil { connecting = connection }
            case nil: break
            }
        }
        if let connecting { return connecting }
        var reasons = replicas.unusable
        for connection in connections {
            switch connection.phase {
            case .backingOff(let reason), .closed(let reason): reasons.append(reason)
            case .connecting, .ready: break
            }
        }
        throw TransportError.unavailable(
            module: module, reason: reasons.isEmpty ? "no replica reachable" : reasons.joined(separator: "; "))
    }
}
