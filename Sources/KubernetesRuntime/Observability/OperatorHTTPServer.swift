import Hummingbird
public import Logging
public import Prometheus
public import ServiceLifecycle

/// The operator's HTTP endpoints as a `Service`: `/metrics` (Prometheus text
/// from a `PrometheusCollectorRegistry`), `/healthz` (the process runs) and
/// `/readyz` (200 while `isReady()` holds, else 503).
public struct OperatorHTTPServer: Service {
    private let application: Application<RouterResponder<BasicRequestContext>>

    /// A server on `host:port` (port 0 picks one; `onServerRunning` gets it).
    public init(
        host: String = "0.0.0.0", port: Int = 8080, registry: PrometheusCollectorRegistry,
        isReady: @escaping @Sendable () -> Bool = { true }, logger: Logger = Logger(label: "tinyflow.operator-http"),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        router.get("/healthz") { _, _ in "ok" }
        router.get("/readyz") { _, _ -> Response in
            isReady()
                ? Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok")))
                : Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "not ready")))
        }
        application = Application(
            router: router, configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Serves until graceful shutdown.
    public func run() async throws { try await application.run() }
}
