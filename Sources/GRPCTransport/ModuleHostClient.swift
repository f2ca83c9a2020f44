import ComponentKit
import GRPCCore
import GRPCNIOTransportHTTP2
public import ModuleHostAPI
public import ServiceLifecycle

/// The operator's client for one module host's control API: catalogue,
/// node sync, status watch, recent messages, context and dead letters.
///
/// Its connection runs inside ``run()`` (a `Service`); or use
/// ``withClient(address:tls:callTimeout:_:)``. Unary calls are bounded by
/// ``callTimeout`` and throw gRPC's `RPCError` on failure.
public final class ModuleHostClient: Service {
    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    /// The deadline of each unary call.
    public let callTimeout: Duration
    /// The host's address, `host:port`.
    public let address: String

    /// Creates a client for the host at `address` (`host:port`), presenting `tls` and
    /// sending `token` when given.
    public init(address: String, tls: MutualTLSConfiguration? = nil, token: String? = nil, callTimeout: Duration = .seconds(10)) throws {
        guard let target = resolvableTarget(address) else {
            throw RPCError(code: .invalidArgument, message: "invalid module host address \"\(address)\"")
        }
        let transport = try HTTP2ClientTransport.Posix(
            target: target, transportSecurity: tls?.clientSecurity ?? .plaintext)
        self.client = GRPCClient(transport: transport, interceptors: clientInterceptors(sending: token))
        self.callTimeout = callTimeout
        self.address = address
    }

    /// Runs `body` with a connected client and closes it afterwards.
    public static func withClient<Result: Sendable>(
        address: String, tls: MutualTLSConfiguration? = nil, token: String? = nil, callTimeout: Duration = .seconds(10),
        _ body: (ModuleHostClient) async throws -> Result
    ) async throws -> Result {
        let client = try ModuleHostClient(address: address, tls: tls, token: token, callTimeout: callTimeout)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer { client.shutdown() }
            return try await body(client)
        }
    }

    /// Keeps the connection until graceful shutdown.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await client.runConnections()
        } onGracefulShutdown: {
            self.shutdown()
        }
    }

    /// Closes the connection once running calls finished.
    public func shutdown() {
        client.beginGracefulShutdown()
    }

    private var unaryOptions: CallOptions {
        var options = CallOptions.defaults
        options.timeout = callTimeout
        return options
    }

    /// The host's module, version and components.
    public func catalogue() async throws -> ModuleCatalogue {
        try await client.unary(
            request: ClientRequest(message: EmptyRequest()), descriptor: ModuleHostMethods.catalogue,
            serializer: JSONMessageSerializer<EmptyRequest>(), deserializer: JSONMessageDeserializer<ModuleCatalogue>(),
            options: unaryOptions
        ) { try $0.message }
    }

    /// Makes the host run exactly `desired`; returns the per-node outcome.
    public func sync(_ desired: DesiredNodes) async throws -> SyncResult {
        try await client.unary(
            request: ClientRequest(message: desired), descriptor: ModuleHostMethods.syncNodes,
            serializer: JSONMessageSerializer<DesiredNodes>(), deserializer: JSONMessageDeserializer<SyncResult>(),
            options: unaryOptions
        ) { try $0.message }
    }

    /// What `node` kept of its recent messages, or `nil` if the host runs no such node.
    public func recentMessages(node: String) async throws -> [Message]? {
        do {
            return try await client.unary(
                request: ClientRequest(message: RecentMessagesRequest(node: node)),
                descriptor: ModuleHostMethods.recentMessages,
                serializer: JSONMessageSerializer<RecentMessagesRequest>(),
                deserializer: JSONMessageDeserializer<[Message]>(),
                options: unaryOptions
            ) { try $0.message }
        } catch let error as RPCError where error.code == .notFound {
            return nil
        }
    }

    /// Reads or writes context in the host's store; a failed operation throws an `RPCError`
    /// whose message is the store's reason, a host without the method
    /// ``ModuleHostCallError/unimplemented(method:)``.
    public func context(_ request: ContextRequest) async throws -> ContextResponse {
        do {
            return try await client.unary(
                request: ClientRequest(message: request), descriptor: ModuleHostMethods.context,
                serializer: JSONMessageSerializer<ContextRequest>(), deserializer: JSONMessageDeserializer<ContextResponse>(),
                options: unaryOptions
            ) { try $0.message }
        } catch let error as RPCError where error.code == .unimplemented {
            throw ModuleHostCallError.unimplemented(method: "Context")
        }
    }

    /// Lists, replays or purges dead letters, or drops a deleted node's queues, in the host's
    /// message store. A host without one throws ``DeadLetterAccessError/noMessageStore``, a host
    /// without the method ``ModuleHostCallError/unimplemented(method:)``; any other failure an
    /// `RPCError` whose message is the host's or the store's reason.
    public func deadLetters(_ request: DeadLetterRequest) async throws -> DeadLetterResponse {
        do {
            return try await client.unary(
                request: ClientRequest(message: request), descriptor: ModuleHostMethods.deadLetters,
                serializer: JSONMessageSerializer<DeadLetterRequest>(),
                deserializer: JSONMessageDeserializer<DeadLetterResponse>(),
                options: unaryOptions
            ) { try $0.message }
        } catch let error as RPCError where error.code == .unimplemented {
            throw ModuleHostCallError.unimplemented(method: "DeadLetters")
        } catch let error as RPCError where error.code == .failedPrecondition {
            throw DeadLetterAccessError.noMessageStore
        }
    }

    /// Calls `body` with every node's status, at most once per `interval`
    /// (the host may enforce a longer one), until `body` throws, the calling
    /// task is cancelled or the host ends the stream.
    public func watchStatus(
        interval: Duration = .seconds(1), _ body: @escaping @Sendable ([NodeStatusReport]) async throws -> Void
    ) async throws {
        let milliseconds = interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000
        try await client.serverStreaming(
            request: ClientRequest(message: WatchStatusRequest(intervalMilliseconds: milliseconds)),
            descriptor: ModuleHostMethods.watchNodeStatus,
            serializer: JSONMessageSerializer<WatchStatusRequest>(),
            deserializer: JSONMessageDeserializer<[NodeStatusReport]>(),
            options: .defaults
        ) { response in
            for try await reports in response.messages { try await body(reports) }
        }
    }
}
