public import Foundation
import JSONSchemaKit
public import KubernetesModels
public import Logging

/// Sends ``KubernetesRequest``s to an API server: adds credentials, retries
/// what may succeed later and turns error answers into ``KubernetesError``s.
///
/// Retries: `429 Too Many Requests` (the server did not process the request)
/// for every request, and `5xx` answers and connection failures for
/// idempotent ones (GET, PUT, DELETE, server-side apply), honouring
/// `Retry-After` and otherwise backing off exponentially with jitter. `409`
/// is returned to the caller (see ``retryOnConflict(maxAttempts:backoff:_:)``)
/// and `422` never retried.
public final class KubernetesClient: Sendable {
    /// Where and how the client connects.
    public let configuration: ClientConfiguration
    /// What sends the HTTP requests.
    public let transport: any HTTPTransport
    /// How error answers are retried.
    public let retryPolicy: RequestRetryPolicy
    /// Where the client logs retries.
    public let logger: Logger
    let tokens: TokenSource

    /// A client for `configuration`; by default on async-http-client.
    public init(
        configuration: ClientConfiguration, transport: (any HTTPTransport)? = nil, retryPolicy: RequestRetryPolicy = .default,
        logger: Logger = Logger(label: "tinyflow.kubernetes-client")
    ) throws(ConfigurationError) {
        self.configuration = configuration
        if let transport {
            self.transport = transport
        } else {
            self.transport = try AsyncHTTPClientTransport(configuration: configuration)
        }
        self.retryPolicy = retryPolicy
        self.logger = logger
        self.tokens = TokenSource(configuration.credentials)
    }

    /// Runs `body` with a client for `configuration`, then shuts the client down.
    public static func withClient<T: Sendable>(
        configuration: ClientConfiguration, transport: (any HTTPTransport)? = nil, retryPolicy: RequestRetryPolicy = .default,
        logger: Logger = Logger(label: "tinyflow.kubernetes-client"), _ body: (KubernetesClient) async throws -> T
    ) async throws -> T {
        let client = try KubernetesClient(configuration: configuration, transport: transport, retryPolicy: retryPolicy, logger: logger)
        let result: Result<T, any Error>
        do { result = .success(try await body(client)) } catch { result = .failure(error) }
        try await client.shutdown()
        return try result.get()
    }

    /// Closes connections; call once when done.
    public func shutdown() async throws { try await transport.shutdown() }

    /// Closes the client's connections, returning after `limit` at the latest
    /// (the closing goes on in the background): for a process about to exit,
    /// which must not outlive its supervisor's grace period closing idle
    /// connections. Failures are logged at debug level.
    public func shutdown(waitingAtMost limit: Duration, logger: Logger) async {
        let (closed, signal) = AsyncStream<Void>.makeStream()
        // Unstructured on purpose: the shutdown may not answer cancellation, and
        // the caller must not wait for it past `limit`.
        Task {
            do {
                try await shutdown()
            } catch {
                logger.debug("closing the API client: \(error)")
            }
            signal.finish()
        }
        Task {
            try? await Task.sleep(for: limit)
            signal.finish()
        }
        for await _ in closed {}
    }

    /// The typed API for `K` in `namespace` (default: the configuration's) — or, for
    /// cluster-scoped kinds, cluster wide.
    public func api<K: KubernetesObject>(_ kind: K.Type = K.self, namespace: String? = nil) -> Api<K> {
        Api(client: self, namespace: K.isNamespaced ? (namespace ?? configuration.namespace) : nil)
    }

    /// The typed API for namespaced `K` across all namespaces (list and watch).
    public func apiAllNamespaces<K: KubernetesObject>(_ kind: K.Type = K.self) -> Api<K> {
        Api(client: self, namespace: nil)
    }

    /// Sends `request` and returns the whole successful body.
    public func send(_ request: KubernetesRequest) async throws -> Data {
        let response = try await open(request, timeout: configuration.requestTimeout)
        do {
            return try await response.body.collect()
        } catch {
            throw KubernetesError(verb: request.verb, resource: request.resource, code: response.status, underlying: "\(error)")
        }
    }

    /// Sends `request` and decodes the answer as `T`.
    public func send<T: Decodable>(_ request: KubernetesRequest, as type: T.Type) async throws -> T {
        let data = try await send(request)
        do {
            return try JSONValueDecoder().decode(T.self, from: data)
        } catch {
            throw KubernetesError(verb: request.verb, resource: request.resource, code: 200, underlying: "cannot decode \(T.self): \(error)")
        }
    }

    /// Sends `request`, retrying as the policy says, and returns the successful
    /// response once its head has arrived; its body streams.
    public func open(_ request: KubernetesRequest, timeout: Duration) async throws -> TransportResponse {
        var attempt = 0
        var reauthenticated = false
        while true {
            attempt += 1
            let canRetry = attempt < retryPolicy.maxAttempts
            let outgoing: TransportRequest
            do {
                outgoing = try transportRequest(request, timeout: timeout)
            } catch {
                throw KubernetesError(verb: request.verb, resource: request.resource, underlying: "\(error)")
            }
            let response: TransportResponse
            do {
                response = try await transport.execute(outgoing)
            } catch {
                try Task.checkCancellation()
                if canRetry && request.isIdempotent {
                    let delay = retryPolicy.backoff.delay(attempt: attempt - 1)
                    logger.debug("retrying after transport error", metadata: ["request": "\(request.verb) \(request.resource)", "error": "\(error)", "delay": "\(delay)"])
                    try await Task.sleep(for: delay)
                    continue
                }
                throw KubernetesError(verb: request.verb, resource: request.resource, underlying: "\(error)")
            }
            if (200..<300).contains(response.status) { return response }

            let body = (try? await response.body.collect(upTo: 1 << 20)) ?? Data()
            let status = Self.status(from: body, code: response.status)
            let retryAfter = Self.retryAfter(response.header("Retry-After")) ?? status.details?.retryAfterSeconds.map { Duration.seconds($0) }
            let retryable = response.status == 429 || (response.status >= 500 && request.isIdempotent)
            if retryable && canRetry {
                let delay = retryAfter ?? retryPolicy.backoff.delay(attempt: attempt - 1)
                if delay <= retryPolicy.maxRetryAfter {
                    logger.debug("retrying", metadata: ["request": "\(request.verb) \(request.resource)", "code": "\(response.status)", "delay": "\(delay)"])
                    try await Task.sleep(for: delay)
                    continue
                }
            }
            if response.status == 401 && !reauthenticated && tokens.invalidate() {
                reauthenticated = true
                attempt -= 1
                continue
            }
            throw KubernetesError(verb: request.verb, resource: request.resource, code: response.status, status: status)
        }
    }

    /// The transport request for `request`: URL, credentials, content type.
    public func transportRequest(_ request: KubernetesRequest, timeout: Duration) throws -> TransportRequest {
        var base = configuration.server.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        var headers: [(name: String, value: String)] = [
            ("Accept", "application/json"), ("User-Agent", configuration.userAgent),
        ]
        if let contentType = request.contentType { headers.append(("Content-Type", contentType)) }
        if let authorization = try tokens.authorization() { headers.append(("Authorization", authorization)) }
        return TransportRequest(
            method: request.method, url: base + request.pathAndQuery, headers: headers, body: request.body, timeout: timeout)
    }

    /// The `Status` in an error body, or one made from the code.
    static func status(from body: Data, code: Int) -> Status {
        if var status = try? JSONDecoder().decode(Status.self, from: body), status.kind == "Status" || status.reason != nil {
            if status.code == nil { status.code = code }
            return status
        }
        let text = String(decoding: body.prefix(512), as: UTF8.self)
        return Status(message: text.isEmpty ? nil : text, reason: defaultReason(code), code: code)
    }

    static func defaultReason(_ code: Int) -> String {
        switch code {
        case 400: "BadRequest"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "NotFound"
        case 409: "Conflict"
        case 410: "Expired"
        case 422: "Invalid"
        case 429: "TooManyRequests"
        case 500..<600: "InternalError"
        default: "Unknown"
        }
    }

    /// Parses `Retry-After` given in seconds (the form API servers send).
    static func retryAfter(_ value: String?) -> Duration? {
        guard let value, let seconds = Int(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return nil }
        return .seconds(seconds)
    }
}
