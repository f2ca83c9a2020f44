import ControlPlane
import Foundation
import KubernetesClient
import KubernetesModels
import Logging
import Synchronization

/// A fresh temporary directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-kube-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}

/// Retries fast, so fault-injection tests stay quick.
let fastRetries = RequestRetryPolicy(maxAttempts: 5, backoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(200)))

/// Runs `body` against an embedded control plane, with a client that sends its token.
func withPlane<T: Sendable>(
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
final class ScriptedTransport: HTTPTransport {
    struct Answer: Sendable {
        var status: Int
        var headers: [(name: String, value: String)] = []
        var body: String = ""
    }

    private let script: Mutex<[Answer]>
    private let sent = Mutex<[(TransportRequest, ContinuousClock.Instant)]>([])

    init(_ answers: [Answer]) { script = Mutex(answers) }

    func execute(_ request: TransportRequest) async throws -> TransportResponse {
        sent.withLock { $0.append((request, .now)) }
        let answer = script.withLock { $0.isEmpty ? Answer(status: 200, body: "{}") : $0.removeFirst() }
        return TransportResponse(status: answer.status, headers: answer.headers, body: ResponseBody(data: Data(answer.body.utf8)))
    }

    func shutdown() async throws {}

    var requests: [TransportRequest] { sent.withLock { $0.map(\.0) } }
    var times: [ContinuousClock.Instant] { sent.withLock { $0.map(\.1) } }
}

/// Wraps a transport and records each request's path and time.
final class RecordingTransport: HTTPTransport {
    let base: any HTTPTransport
    private let sent = Mutex<[(String, ContinuousClock.Instant)]>([])

    init(_ base: any HTTPTransport) { self.base = base }

    func execute(_ request: TransportRequest) async throws -> TransportResponse {
        sent.withLock { $0.append(("\(request.method) \(request.url)", .now)) }
        return try await base.execute(request)
    }

    func shutdown() async throws { try await base.shutdown() }

    var requests: [(String, ContinuousClock.Instant)] { sent.withLock { $0 } }
}

func configMap(_ name: String, _ data: [String: String] = [:], labels: [String: String]? = nil) -> ConfigMap {
    ConfigMap(metadata: ObjectMeta(name: name, labels: labels), data: data)
}

enum TestPEM {
    static let certificate = """
        -----BEGIN CERTIFICATE-----
        MIIBlDCCATugAwIBAgIUfoCJCOgZZrUbeSIeOPrkFQdn/GUwCgYIKoZIzj0EAwIw
        HzEdMBsGA1UEAwwUdGlueWZsb3ctdGVzdC1jbGllbnQwIBcNMjYxMTIzMTcwNzIz
        WhgPMjEyNjEwMzAxNzA3MjNaMB8xHTAbBgNVBAMMFHRpbnlmbG93LXRlc3QtY2xp
        ZW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEo4/lpPZxiUPYwslBUD76hyis
        U0ctzbB2whgyupznB/hMQEJ/PpNpA1ZrObmbXDFJ5eC16+tKsXmCBbn1qtNERaNT
        MFEwHQYDVR0OBBYEFAkBh0WmXSs60qqPEyeSCNA5B4NlMB8GA1UdIwQYMBaAFAkB
        h0WmXSs60qqPEyeSCNA5B4NlMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
        RwAwRAIgPINqS5SkP7+RuOt0e867niiofSh/eq7an9ZTijC3VOcCIE8ai+Al75fu
        yJDJSCxl9wEPu72jCwGOyFi7YWWgeQ7T
        -----END CERTIFICATE-----

        """
    static let key = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsWY/fACCtVae2ySH
        x/7T1k5ovBu4NVBXmfMerB8pRuGhRANCAASjj+Wk9nGJQ9jCyUFQPvqHKKxTRy3N
        sHbCGDK6nOcH+ExAQn8+k2kDVms5uZtcMUnl4LXr60qxeYIFufWq00RF
        -----END PRIVATE KEY-----

        """
}

/// A value behind a lock that closures can capture (a `Mutex` is not copyable).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending Value) -> sending R) -> R { mutex.withLock(body) }
}
