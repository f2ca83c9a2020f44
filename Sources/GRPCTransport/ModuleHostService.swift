import AsyncPrimitives
public import GRPCCore
import ComponentKit
import Foundation
public import Logging
import MessageStoreAPI
public import ModuleHostAPI

/// The `tinyflow.ModuleHost` gRPC service: dispatches cross-module messages
/// into a ``MessageSink`` and the operator's control calls into a
/// ``ModuleHostControl``.
///
/// Methods: `Deliver` (bidirectional stream of message batches and ack
/// batches), `Catalogue`, `SyncNodes`, `WatchNodeStatus` (server stream),
/// `RecentMessages`, `Context` and `DeadLetters`. ``ModuleHostServer`` serves
/// it; register it on your own `GRPCServer` to combine it with other services.
public struct ModuleHostService: RegistrableRPCService {
    /// Limits of the service.
    public struct Configuration: Sendable {
        /// The shortest interval between two `WatchNodeStatus` reports, whatever the client asks for.
        public var minimumWatchInterval: Duration
        /// How many requests (messages awaiting a reply) one `Deliver` stream may have
        /// running at once; further batches are not read until one finishes.
        public var maximumConcurrentRequestsPerStream: Int

        /// Creates a configuration.
        public init(minimumWatchInterval: Duration = .milliseconds(50), maximumConcurrentRequestsPerStream: Int = 1024) {
            self.minimumWatchInterval = minimumWatchInterval
            self.maximumConcurrentRequestsPerStream = max(1, maximumConcurrentRequestsPerStream)
        }
    }

    private let control: any ModuleHostControl
    private let sink: any MessageSink
    private let configuration: Configuration
    private let logger: Logger
    /// Signalled when the server shuts down: open streams then end.
    let shutdown = OneShotEvent()

    /// Creates the service over a host's control and sink.
    public init(
        control: any ModuleHostControl, sink: any MessageSink, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "tinyflow.grpc.server")
    ) {
        self.control = control
        self.sink = sink
        self.configuration = configuration
        self.logger = logger
    }

    /// Ends every open `Deliver` and `WatchNodeStatus` stream with status
    /// `unavailable`, so that a graceful server shutdown does not wait for
    /// long-lived streams; new streams end at once.
    public func endStreams() {
        shutdown.signal()
    }

    /// Registers the service's methods with `router`.
    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(
            forMethod: ModuleHostMethods.deliver,
            deserializer: DeliveryBatchDeserializer(),
            serializer: AckBatchSerializer()
        ) { request, context in
            StreamingServerResponse { writer in
                try await self.serveDeliveries(request.messages, writer: writer, peer: context.remotePeer)
                return [:]
            }
        }
        router.registerHandler(
            forMethod: ModuleHostMethods.catalogue,
            deserializer: JSONMessageDeserializer<EmptyRequest>(),
            serializer: JSONMessageSerializer<ModuleCatalogue>()
        ) { request, _ in
            _ = try await ServerRequest(stream: request)
            return StreamingServerResponse(single: ServerResponse(message: await self.control.catalogue()))
        }
        router.registerHandler(
            forMethod: ModuleHostMethods.syncNodes,
            deserializer: JSONMessageDeserializer<DesiredNodes>(),
            serializer: JSONMessageSerializer<SyncResult>()
        ) { request, _ in
            let single = try await ServerRequest(stream: request)
            return StreamingServerResponse(single: ServerResponse(message: await self.control.sync(single.message)))
        }
        router.registerHandler(
            forMethod: ModuleHostMethods.recentMessages,
            deserializer: JSONMessageDeserializer<RecentMessagesRequest>(),
            serializer: JSONMessageSerializer<[Message]>()
        ) { request, _ in
            let single = try await ServerRequest(stream: request)
            guard let messages = await self.control.recentMessages(node: single.message.node) else {
                return StreamingServerResponse(
                    error: RPCError(code: .notFound, message: "no node \"\(single.message.node)\" on this host"))
            }
            return StreamingServerResponse(single: ServerResponse(message: messages))
        }
        router.registerHandler(
            forMethod: ModuleHostMethods.context,
            deserializer: JSONMessageDeserializer<ContextRequest>(),
            serializer: JSONMessageSerializer<ContextResponse>()
        ) { request, _ in
            let single = try await ServerRequest(stream: request)
            do {
                return StreamingServerResponse(single: ServerResponse(message: try await self.control.context(single.message)))
            } catch let error as ContextStoreError {
                return StreamingServerResponse(error: RPCError(code: error.rpcCode, message: error.description))
            }
        }
        router.registerHandler(
            forMethod: ModuleHostMethods.deadLetters,
            deserializer: JSONMessageDeserializer<DeadLetterRequest>(),
            serializer: JSONMessageSerializer<DeadLetterResponse>()
        ) { request, _ in
            let single = try await ServerRequest(stream: request)
            do {
                return StreamingServerResponse(single: ServerResponse(message: try await self.control.deadLetters(single.message)))
            } catch let error as DeadLetterAccessError {
                return StreamingServerResponse(error: RPCError(code: error.rpcCode, message: error.description))
            } catch let error as MessageStoreError {
                return StreamingServerResponse(error: RPCError(code: error.rpcCode, message: error.description))
            }
        }
        router.registerHandler(
            forMethod: ModuleHostMethods.watchNodeStatus,
            deserializer: JSONMessageDeserializer<WatchStatusRequest>(),
            serializer: JSONMessageSerializer<[NodeStatusReport]>()
        ) { request, context in
            let single = try await ServerRequest(stream: request)
            let requested = Duration.milliseconds(max(0, single.message.intervalMilliseconds))
            let interval = max(requested, self.configuration.minimumWatchInterval)
            return StreamingServerResponse { writer in
                try await self.serveWatch(interval: interval, writer: writer, context: context)
                return [:]
            }
        }
    }

    /// Streams status reports until the client cancels, the control stops or the server shuts down.
    private func serveWatch(interval: Duration, writer: RPCWriter<[NodeStatusReport]>, context: ServerContext) async throws {
        let control = self.control
        let shutdown = self.shutdown
        let endedBy = try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask {
                try await control.watchStatus(interval: interval) { reports in try await writer.write(reports) }
                return "control"
            }
            group.addTask {
                try await context.cancellation.cancelled
                return "client"
            }
            group.addTask {
                await shutdown.wait()
                return "shutdown"
            }
            defer { group.cancelAll() }
            return try await group.next() ?? "control"
        }
        if endedBy == "shutdown" {
            throw RPCError(code: .unavailable, message: "module host is shutting down")
        }
    }

    /// Unwritten acks per `Deliver` stream beyond which the stream is not read further.
    static let maximumUnwrittenAcks = 16_384
    /// A frame's acks are handed to the ack writer every this many delivered messages,
    /// so that the first of them travel back while the rest of the frame is delivered.
    static let ackChunk = 32

    /// Reads batches from one `Deliver` stream, delivers their messages in
    /// order and answers with acks (replies to requests as they come). The acks
    /// gathered while the previous ack frame was being written go out as one frame.
    private func serveDeliveries(
        _ batches: RPCAsyncSequence<[DeliveryEntry], any Error>, writer: RPCWriter<[DeliveryAck]>, peer: String
    ) async throws {
        let acks = AckOutbox(limit: Self.maximumUnwrittenAcks)
        let shutdown = self.shutdown
        let logger = self.logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The only writer of the response stream.
            group.addTask {
                // If writing fails, nobody takes acks any more: the deliverer must not wait for room.
                defer { acks.finish() }
                while let batch = await acks.take() { try await writer.write(batch) }
            }
            // Reads and delivers until the client ends its side, the stream breaks or the server shuts down.
            let endedBy: String = await withTaskGroup(of: String.self) { reader in
                reader.addTask {
                    do {
                        try await self.deliverBatches(batches, acks: acks)
                        return "client"
                    } catch {
                        logger.debug("Deliver stream from \(peer) ended: \(error)")
                        return "error"
                    }
                }
                reader.addTask {
                    await shutdown.wait()
                    return "shutdown"
                }
                defer { reader.cancelAll() }
                return await reader.next() ?? "client"
            }
            acks.finish()
            try await group.waitForAll()
            if endedBy == "shutdown" {
                throw RPCError(code: .unavailable, message: "module host is shutting down")
            }
        }
    }

    private func deliverBatches(_ batches: RPCAsyncSequence<[DeliveryEntry], any Error>, acks: AckOutbox) async throws {
        let sink = self.sink
        let limit = configuration.maximumConcurrentRequestsPerStream
        try await withThrowingTaskGroup(of: Void.self) { requests in
            var running = 0
            for try await batch in batches {
                var batchAcks: [DeliveryAck] = []
                batchAcks.reserveCapacity(min(batch.count, Self.ackChunk))
                for entry in batch {
                    switch entry.kind {
                    case .send:
                        let outcome = await Self.deliver(entry.message, to: sink)
                        if Task.isCancelled, outcome != .accepted {
                            // Interrupted by shutdown: leave it (and the rest) unacked, so the
                            // client reports it unavailable and may retry elsewhere.
                            acks.append(contentsOf: batchAcks)
                            return
                        }
                        batchAcks.append(DeliveryAck(sequence: entry.sequence, outcome: outcome))
                        if batchAcks.count >= Self.ackChunk {
                            // Acks go out while the rest of the frame is delivered.
                            acks.append(contentsOf: batchAcks)
                            batchAcks = []
                            batchAcks.reserveCapacity(Self.ackChunk)
                        }
                    case .request:
                        if running >= limit {
                            _ = try await requests.next()
                            running -= 1
                        }
                        running += 1
                        requests.addTask {
                            let outcome = await Self.request(entry.message, to: sink)
                            acks.append(contentsOf: [DeliveryAck(sequence: entry.sequence, outcome: outcome)])
                        }
                    }
                }
                acks.append(contentsOf: batchAcks)
                // A client that does not read its acks is not read either.
                await acks.waitForRoom()
            }
            try await requests.waitForAll()
        }
    }

    private static func deliver(_ message: Message, to sink: any MessageSink) async -> DeliveryOutcome {
        if message.isExpired() { return .failed("deadline passed before delivery") }
        do {
            try await sink.deliver(message)
            return .accepted
        } catch {
            return .failed(String(describing: error))
        }
    }

    private static func request(_ message: Message, to sink: any MessageSink) async -> DeliveryOutcome {
        if message.isExpired() { return .failed("deadline passed before delivery") }
        do {
            return .reply(try await sink.request(message))
        } catch {
            return .failed(String(describing: error))
        }
    }
}

extension DeadLetterAccessError {
    /// The gRPC status a refused dead-letter request answers with. `FAILED_PRECONDITION` is
    /// kept for ``noMessageStore`` alone: the client turns it back into that error.
    var rpcCode: RPCError.Code {
        switch self {
        case .noMessageStore: .failedPrecondition
        case .invalidRequest: .invalidArgument
        case .namespaceNotServed: .permissionDenied
        }
    }
}

extension MessageStoreError {
    /// The gRPC status a failed message-store operation answers with.
    var rpcCode: RPCError.Code {
        switch self {
        case .unavailable: .unavailable
        case .leaseLost: .aborted
        case .backlogFull: .resourceExhausted
        case .messageTooLarge: .invalidArgument
        case .corrupt: .dataLoss
        }
    }
}

extension ContextStoreError {
    /// The gRPC status a failed context operation answers with.
    var rpcCode: RPCError.Code {
        switch self {
        case .unavailable: .unavailable
        case .conflict: .aborted
        case .invalidKey, .invalidValue, .valueTooLarge, .notAnInteger, .overflow, .noFlow: .invalidArgument
        case .tooManyKeys: .resourceExhausted
        case .corrupt: .dataLoss
        case .namespaceNotServed: .permissionDenied
        }
    }
}
