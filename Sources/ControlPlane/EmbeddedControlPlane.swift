import AsyncHTTPClient
import BearerTokens
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle

/// How an embedded control plane is set up.
public struct ControlPlaneConfiguration: Sendable {
    /// Where state (`state.db`) and the bearer token (`token`) are kept; reused across restarts.
    public var dataDirectory: URL
    /// Address to listen on; loopback by default.
    public var host: String = "127.0.0.1"
    /// Port to listen on; 0 picks a free one (see ``EmbeddedControlPlane/baseURL``).
    public var port: Int = 0
    /// Whether to serve HTTPS with a self-signed certificate kept in the data directory.
    /// kubectl (client-go) only sends bearer tokens over TLS, so turn this on for kubectl.
    public var tls: Bool = false
    /// Where to write a kubeconfig for the running server, if anywhere.
    public var kubeconfigPath: String?
    /// The bearer token clients must send; nil reuses the data directory's or generates one.
    public var token: String?
    /// How many changes are kept in memory for resuming watches; older ones get `410 Gone`.
    public var watchHistoryCapacity: Int = 10_000
    /// How many undelivered events a watcher may fall behind before its stream is closed.
    public var watchBufferSize: Int = 1_000
    /// How often watches that asked for bookmarks get one.
    public var bookmarkInterval: Duration = .seconds(30)
    /// How long a watch without `timeoutSeconds` stays open.
    public var defaultWatchTimeout: Duration = .seconds(1800)
    /// How durable an acknowledged write is.
    public var durability: Durability = .fsync
    /// What one request may cost and how many are served at once.
    public var limits = ControlPlaneLimits()
    /// Where the control plane logs.
    public var logger: Logger

    /// A configuration that keeps state in `dataDirectory` and listens on 127.0.0.1, port 0.
    public init(dataDirectory: URL, logger: Logger = Logger(label: "tinyflow.control-plane")) {
        self.dataDirectory = dataDirectory
        self.logger = logger
    }
}

/// How durable a write is when the control plane acknowledges it.
public enum Durability: Sendable {
    /// Flushed to disk before the answer (SQLite `synchronous=FULL`): survives power loss.
    /// Costs one fsync per write (about 3 ms on the development machines).
    case fsync
    /// Written to the operating system before the answer (`synchronous=NORMAL` in WAL mode):
    /// survives the control plane crashing or being killed, not the machine losing power.
    /// For throughput-bound local runs and benchmarks.
    case processCrash
}

/// Tinyflow's embedded Kubernetes-API control plane: serves namespaces, CRDs and their
/// custom resources, Leases, Events, ConfigMaps, Secrets, Services and Endpoints with the
/// semantics of a real API server, keeping state in SQLite, and forwards requests to a
/// Service's endpoint through the service proxy (`services/NAME:PORT/proxy/…`). Use it for clusterless local runs and in tests:
///
/// ```swift
/// try await EmbeddedControlPlane.withRunning(dataDirectory: dir) { plane in
///     // plane.baseURL, plane.token, plane.kubeconfig(), plane.faults
/// }
/// ```
public final class EmbeddedControlPlane: Sendable {
    /// Where the API is served, e.g. `http://127.0.0.1:41234`.
    public let baseURL: URL
    /// The bearer token every API request must carry.
    public let token: String
    /// Fault injection for tests.
    public let faults: ControlPlaneFaults
    /// The PEM certificate clients should trust when TLS is on (it is self-signed).
    public let certificateAuthorityPEM: String?
    let server: APIServer

    init(baseURL: URL, token: String, faults: ControlPlaneFaults, certificateAuthorityPEM: String?, server: APIServer) {
        self.baseURL = baseURL
        self.token = token
        self.faults = faults
        self.certificateAuthorityPEM = certificateAuthorityPEM
        self.server = server
    }

    /// The current global resourceVersion (the last committed change).
    public var resourceVersion: Int {
        get async { await server.durableVersion }
    }

    /// How many watch streams are open right now.
    public var openWatchCount: Int {
        get async { await server.openWatchCount }
    }

    /// A kubeconfig document (YAML) that points kubectl and clients at this control plane.
    public func kubeconfig(namespace: String = "default") -> String {
        Self.kubeconfig(server: baseURL.absoluteString, token: token, namespace: namespace, certificateAuthorityPEM: certificateAuthorityPEM)
    }

    /// Writes ``kubeconfig(namespace:)`` to `path` (mode 0600).
    public func writeKubeconfig(to path: String, namespace: String = "default") throws {
        try Self.writePrivate(kubeconfig(namespace: namespace), to: path)
    }

    static func kubeconfig(server: String, token: String, namespace: String, certificateAuthorityPEM: String?) -> String {
        let authority = certificateAuthorityPEM.map { "\n    certificate-authority-data: " + Data($0.utf8).base64EncodedString() } ?? ""
        return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: tinyflow
          cluster:
            server: \(server)\(authority)
        contexts:
        - name: tinyflow
          context:
            cluster: tinyflow
            user: tinyflow
            namespace: \(namespace)
        current-context: tinyflow
        users:
        - name: tinyflow
          user:
            token: \(token)
        preferences: {}

        """
    }

    static func writePrivate(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url, options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    /// Starts a control plane on `dataDirectory` (port 0 unless configured), runs `body`
    /// with it, then shuts it down, closing open watches first.
    public static func withRunning<T: Sendable>(
        dataDirectory: URL,
        configure: (inout ControlPlaneConfiguration) -> Void = { _ in },
        _ body: (EmbeddedControlPlane) async throws -> T
    ) async throws -> T {
        var configuration = ControlPlaneConfiguration(dataDirectory: dataDirectory)
        configure(&configuration)
        return try await withRunning(configuration: configuration, body)
    }

    /// Starts a control plane with `configuration`, runs `body` with it, then shuts it down.
    public static func withRunning<T: Sendable>(
        configuration: ControlPlaneConfiguration,
        _ body: (EmbeddedControlPlane) async throws -> T
    ) async throws -> T {
        let prepared = try await Prepared(configuration)
        let result: Result<T, any Error>
        do {
            result = .success(try await serve(prepared, body))
        } catch {
            result = .failure(error)
        }
        // Nothing forwards through the service proxy any more.
        try? await prepared.proxyClient.shutdown()
        return try result.get()
    }

    private static func serve<T: Sendable>(_ prepared: Prepared, _ body: (EmbeddedControlPlane) async throws -> T) async throws -> T {
        let configuration = prepared.configuration
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let application = try prepared.application { port in
            portContinuation.yield(port)
            portContinuation.finish()
        }
        let group = ServiceGroup(configuration: .init(services: [application], logger: configuration.logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                defer { portContinuation.finish() }
                try await group.run()
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else {
                try await tasks.waitForAll()
                throw ControlPlaneError.didNotStart
            }
            let plane = try await prepared.started(port: port)
            let result: Result<T, any Error>
            do {
                result = .success(try await body(plane))
            } catch {
                result = .failure(error)
            }
            await prepared.server.shutdown()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            configuration.logger.info("control plane stopped", metadata: ["data": "\(configuration.dataDirectory.path)"])
            return try result.get()
        }
    }
}

/// Why a control plane could not start.
public enum ControlPlaneError: Error, CustomStringConvertible {
    /// The HTTP server stopped before it was listening (e.g. the port was taken).
    case didNotStart
    /// `--listen` was not `HOST:PORT`.
    case invalidListenAddress(String)

    /// A sentence saying what went wrong.
    public var description: String {
        switch self {
        case .didNotStart: "the control plane's HTTP server did not start"
        case .invalidListenAddress(let value): "invalid listen address \(value); expected HOST:PORT"
        }
    }
}

/// The pieces shared by ``EmbeddedControlPlane/withRunning(configuration:_:)`` and ``ControlPlaneService``.
struct Prepared: Sendable {
    let configuration: ControlPlaneConfiguration
    let server: APIServer
    let faults: ControlPlaneFaults
    let token: String
    let tls: SelfSignedTLS?
    /// The HTTP client of the service proxy; shut down when the control plane stops.
    let proxyClient: HTTPClient

    init(_ configuration: ControlPlaneConfiguration) async throws {
        self.configuration = configuration
        let directory = configuration.dataDirectory
        // The token, the TLS key and state.db (Secrets' values) are the owner's only: the
        // directory 0700 (an existing one tightened), the files 0600.
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
        let tokenPath = directory.appendingPathComponent("token").path
        if let token = configuration.token {
            self.token = token
        } else if let stored = try? BearerTokenFile.read(tokenPath) {
            self.token = stored
        } else {
            self.token = try BearerTokenFile.create(at: tokenPath)
        }
        tls = configuration.tls ? try SelfSignedTLS.loadOrCreate(directory: directory, host: configuration.host) : nil
        server = try APIServer(
            databasePath: directory.appendingPathComponent("state.db").path,
            options: APIServerOptions(historyCapacity: configuration.watchHistoryCapacity, watchBufferSize: configuration.watchBufferSize,
                                      bookmarkInterval: configuration.bookmarkInterval, defaultWatchTimeout: configuration.defaultWatchTimeout,
                                      fsync: configuration.durability == .fsync, maxObjectBytes: configuration.limits.maxObjectBytes),
            logger: configuration.logger)
        await server.seedIfEmpty()
        faults = ControlPlaneFaults(server: server)
        // Connecting is bounded by the request timeout as a whole too; this only stops one
        // unreachable endpoint from holding a request for all of it.
        proxyClient = ServiceProxyForwarder.makeClient(connectTimeout: min(configuration.limits.requestTimeout, .seconds(10)))
    }

    func application(onPort: @escaping @Sendable (Int) -> Void) throws -> some Service {
        let gateway = HTTPGateway(server: server, faults: faults, token: token, limits: configuration.limits,
                                  admission: RequestAdmission(limits: configuration.limits),
                                  proxy: ServiceProxyForwarder(client: proxyClient, maxResponseBytes: configuration.limits.maxProxyResponseBytes),
                                  logger: configuration.logger)
        let builder: HTTPServerBuilder
        if let tls {
            // HTTP/2 when the client offers it (ALPN), as kube-apiserver does: a client then
            // multiplexes its requests and watches over one connection. HTTP/1.1 otherwise.
            builder = try HTTPServerBuilder.http2Upgrade(tlsConfiguration: try tls.serverConfiguration())
        } else {
            builder = HTTPServerBuilder.http1()
        }
        return Application(
            responder: gateway.responder,
            server: builder,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tinyflow-control-plane"),
            onServerRunning: { channel in onPort(channel.localAddress?.port ?? 0) },
            logger: configuration.logger)
    }

    func started(port: Int) async throws -> EmbeddedControlPlane {
        // A wildcard bind is reached through loopback from this machine.
        let reachable = ["0.0.0.0", "::", ""].contains(configuration.host) ? "127.0.0.1" : configuration.host
        let host = reachable.contains(":") ? "[\(reachable)]" : reachable
        guard let url = URL(string: "\(tls == nil ? "http" : "https")://\(host):\(port)") else { throw ControlPlaneError.invalidListenAddress("\(host):\(port)") }
        await server.setServerAddress("\(host):\(port)")
        let plane = EmbeddedControlPlane(baseURL: url, token: token, faults: faults, certificateAuthorityPEM: tls?.certificatePEM, server: server)
        if let path = configuration.kubeconfigPath { try plane.writeKubeconfig(to: path) }
        configuration.logger.info("control plane serving", metadata: ["url": "\(url)", "data": "\(configuration.dataDirectory.path)"])
        return plane
    }
}

/// The control plane as a long-running `Service` for the CLI: serves until graceful
/// shutdown (SIGTERM/SIGINT in a `ServiceGroup`), writing the kubeconfig once listening.
public struct ControlPlaneService: Service {
    let configuration: ControlPlaneConfiguration
    let onStarted: @Sendable (EmbeddedControlPlane) async -> Void

    /// A service for `configuration`; `onStarted` runs once the server is listening.
    public init(configuration: ControlPlaneConfiguration, onStarted: @escaping @Sendable (EmbeddedControlPlane) async -> Void = { _ in }) {
        self.configuration = configuration
        self.onStarted = onStarted
    }

    /// Serves until graceful shutdown is triggered.
    public func run() async throws {
        try await EmbeddedControlPlane.withRunning(configuration: configuration) { plane in
            await onStarted(plane)
            try await gracefulShutdown()
        }
    }
}
