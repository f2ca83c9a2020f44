public import ControlPlane
public import Foundation
public import KubernetesClient
public import KubernetesModels
import Synchronization

/// A fresh temporary directory, removed afterwards.
public func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-kube-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}

/// Retries fast, so fault-injection tests stay quick.
public let fastRetries = RequestRetryPolicy(maxAttempts: 5, backoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(200)))

/// Runs `body` against an embedded control plane, with a client that sends its token.
public func withPlane<T: Sendable>(
    retryPolicy: RequestRetryPolicy = fastRetries,
    configure: @escaping (inout ControlPlaneConfiguration) -> Void = { _ in },
    transport: (@Sendable (ClientConfiguration) throws -> any HTTPTransport)? = nil,
    _ body: (EmbeddedControlPlane, KubernetesClient) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        try await EmbeddedControlPlane.withRunning(dataDirectory: directory, configure: { configuration in
            configuration.durability = .processCrash
            configure(&configuration)
        }) { plane in
            let configuration = ClientConfiguration(server: plane.baseURL, credentials: .bearerToken(plane.token))
            let client = try KubernetesClient(
                configuration: configuration, transport: try transport?(configuration), retryPolicy: retryPolicy)
            do {
                let result = try await body(plane, client)
                try await client.shutdown()
                return result
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
    }
}

/// A transport that answers from a script and records what it was sent, and when.
public final class ScriptedTransport: HTTPTransport {
    /// One scripted answer.
    public struct Answer: Sendable {
        /// HTTP status.
        public var status: Int
        /// Header fields.
        public var headers: [(name: String, value: String)] = []
        /// Body text.
        public var body: String = ""

        /// Creates an answer.
        public init(status: Int, headers: [(name: String, value: String)] = [], body: String = "") {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    private let script: Mutex<[Answer]>
    private let sent = Mutex<[(TransportRequest, ContinuousClock.Instant)]>([])

    public init(_ answers: [Answer]) { script = Mutex(answers) }

    public func execute(_ request: TransportRequest) async throws -> TransportResponse {
        sent.withLock { $0.append((request, .now)) }
        let answer = script.withLock { $0.isEmpty ? Answer(status: 200, body: "{}") : $0.removeFirst() }
        return TransportResponse(status: answer.status, headers: answer.headers, body: ResponseBody(data: Data(answer.body.utf8)))
    }

    public func shutdown() async throws {}

    public var requests: [TransportRequest] { sent.withLock { $0.map(\.0) } }
    public var times: [ContinuousClock.Instant] { sent.withLock { $0.map(\.1) } }
}

/// Wraps a transport and records each request's path and time.
public final class RecordingTransport: HTTPTransport {
    public let base: any HTTPTransport
    private let sent = Mutex<[(String, ContinuousClock.Instant)]>([])

    public init(_ base: any HTTPTransport) { self.base = base }

    public func execute(_ request: TransportRequest) async throws -> TransportResponse {
        sent.withLock { $0.append(("\(request.method) \(request.url)", .now)) }
        return try await base.execute(request)
    }

    public func shutdown() async throws { try await base.shutdown() }

    public var requests: [(String, ContinuousClock.Instant)] { sent.withLock { $0 } }
}

public func configMap(_ name: String, _ data: [String: String] = [:], labels: [String: String]? = nil) -> ConfigMap {
    ConfigMap(metadata: ObjectMeta(name: name, labels: labels), data: data)
}

