import AsyncPrimitives
import GRPCCore
import GRPCNIOTransportHTTP2
public import Logging
public import ModuleHostAPI
public import ServiceLifecycle

/// A module host's gRPC server as a swift-service-lifecycle `Service`: serves
/// ``ModuleHostService`` on `host:port` until graceful shutdown.
///
/// On graceful shutdown it ends the open `Deliver` and `WatchNodeStatus`
/// streams (clients see `unavailable` and reconnect elsewhere), lets running
/// calls finish within ``gracePeriod`` and then closes the listener.
public final class ModuleHostServer: Service {
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    /// The service it serves (tests end its streams without stopping the server).
    let service: ModuleHostService
    private let shutdownRequested = OneShotEvent()
    /// How long a graceful shutdown waits for running calls before they are cancelled.
    public let gracePeriod: Duration
    /// The largest request a module host reads (a `SyncNodes`, a frame of messages).
    public static let maximumRequestBytes = 16 << 20

    /// Creates a server for `control` and `sink`, listening on `host:port`
    /// (port 0 picks a free port: see ``boundPort``), with plaintext or mutual TLS; with a
    /// `token`, every call must carry it (`authorization: Bearer …`) or is refused as
    /// `unauthenticated`. With mutual TLS and an `operatorName`, only a certificate issued to
    /// that name may make control calls (`permissionDenied` otherwise); every certificate of
    /// the CA may deliver messages.
    public init(
        host: String = "0.0.0.0", port: Int, tls: MutualTLSConfiguration? = nil, token: String? = nil, operatorName: String? = nil,
        control: any ModuleHostControl, sink: any MessageSink,
        configuration: ModuleHostService.Configuration = ModuleHostService.Configuration(),
        gracePeriod: Duration = .seconds(5), logger: Logger = Logger(label: "tinyflow.grpc.server")
    ) {
        let service = ModuleHostService(control: control, sink: sink, configuration: configuration, logger: logger)
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = Self.maximumRequestBytes
        let transport = HTTP2ServerTransport.Posix(
            address: host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port),
            transportSecurity: tls?.serverSecurity ?? .plaintext,
            config: config)
        self.service = service
        var interceptors = serverInterceptors(requiring: token)
        if tls != nil, let operatorName { interceptors.append(OperatorOnlyInterceptor(operatorName: operatorName)) }
        self.server = GRPCServer(transport: transport, services: [service], interceptors: interceptors)
        self.gracePeriod = gracePeriod
    }

    /// The port the server listens on, once it does; throws if it could not bind or has stopped.
    public var boundPort: Int {
        get async throws {
            let address = try await server.transport.listeningAddress
            if let ipv4 = address.ipv4 { return ipv4.port }
            if let ipv6 = address.ipv6 { return ipv6.port }
            throw RPCError(code: .failedPrecondition, message: "server is not listening on an IP address")
        }
    }

    /// Serves until graceful shutdown (or cancellation).
    public func run() async throws {
        let server = self.server
        let shutdownRequested = self.shutdownRequested
        let gracePeriod = self.gracePeriod
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.serve() }
                group.addTask {
                    // After a shutdown request, give running calls the grace period, then cancel.
                    await shutdownRequested.wait()
                    try await Task.sleep(for: gracePeriod)
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        } onGracefulShutdown: {
            self.beginGracefulShutdown()
        }
    }

    /// Stops accepting connections, ends long-lived streams and lets ``run()``
    /// return once running calls finished (or the grace period passed).
    public func beginGracefulShutdown() {
        shutdownRequested.signal()
        service.endStreams()
        server.beginGracefulShutdown()
    }
}
