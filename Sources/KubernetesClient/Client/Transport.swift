import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// An HTTP request as the transport sends it.
public struct TransportRequest: Sendable {
    /// The method.
    public var method: String
    /// The absolute URL.
    public var url: String
    /// Header fields.
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: Data?
    /// When the whole exchange (including the body) must be over.
    public var timeout: Duration

    /// Creates a request.
    public init(method: String, url: String, headers: [(name: String, value: String)], body: Data?, timeout: Duration) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// An HTTP response whose body arrives incrementally.
public struct TransportResponse: Sendable {
    /// The status code.
    public var status: Int
    /// Header fields.
    public var headers: [(name: String, value: String)]
    /// The body, chunk by chunk.
    public var body: ResponseBody

    /// Creates a response.
    public init(status: Int, headers: [(name: String, value: String)], body: ResponseBody) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// A response body as an asynchronous sequence of byte chunks.
public struct ResponseBody: AsyncSequence, Sendable {
    /// A chunk of bytes.
    public typealias Element = [UInt8]
    private let makeNext: @Sendable () -> (() async throws -> [UInt8]?)

    /// Wraps any sendable sequence of chunks.
    public init<Base: AsyncSequence & Sendable>(_ base: Base, transform: @escaping @Sendable (Base.Element) -> [UInt8]) {
        makeNext = {
            var iterator = base.makeAsyncIterator()
            return { try await iterator.next().map(transform) }
        }
    }

    /// A body that is `data`, in one chunk.
    public init(data: Data) {
        self.init(AsyncThrowingStream<[UInt8], any Error> { continuation in
            if !data.isEmpty { continuation.yield([UInt8](data)) }
            continuation.finish()
        }, transform: { $0 })
    }

    /// Iterates the chunks.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let nextChunk: () async throws -> [UInt8]?
        /// The next chunk, or nil at the end.
        public mutating func next() async throws -> [UInt8]? { try await nextChunk() }
    }

    /// Starts iterating.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(nextChunk: makeNext()) }

    /// The whole body, up to `limit` bytes.
    public func collect(upTo limit: Int = 64 << 20) async throws -> Data {
        var data = Data()
        for try await chunk in self {
            data.append(contentsOf: chunk)
            if data.count > limit { throw TransportError(message: "response body larger than \(limit) bytes") }
        }
        return data
    }
}

/// A failure below HTTP: connection refused, TLS, timeout.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    /// What failed.
    public var message: String
    /// Creates an error.
    public init(message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// Sends HTTP requests: the seam between the client and the network, so tests
/// can put a fake (or a fault-injecting wrapper) in its place.
public protocol HTTPTransport: Sendable {
    /// Sends `request`; returns once the response head has arrived.
    func execute(_ request: TransportRequest) async throws -> TransportResponse
    /// Releases connections.
    func shutdown() async throws
}

/// The transport on async-http-client, with the TLS setup of a ``ClientConfiguration``.
public final class AsyncHTTPClientTransport: HTTPTransport {
    private let client: HTTPClient

    /// A transport for `configuration` (CA, client certificate, insecure-skip-tls-verify).
    public init(configuration: ClientConfiguration) throws(ConfigurationError) {
        var http = HTTPClient.Configuration()
        http.timeout = .init(
            connect: .nanoseconds(Int64(configuration.connectTimeout.components.seconds) * 1_000_000_000
                + configuration.connectTimeout.components.attoseconds / 1_000_000_000))
        http.decompression = .disabled
        http.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(1, configuration.maximumConnections)
        if configuration.server.scheme == "https" {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let pem = configuration.certificateAuthorityPEM {
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes([UInt8](pem)))
                } catch {
                    throw ConfigurationError(field: "certificate-authority-data", message: "not a PEM certificate: \(error)")
                }
            }
            if configuration.insecureSkipTLSVerify { tls.certificateVerification = .none }
            if case .clientCertificate(let certificatePEM, let keyPEM) = configuration.credentials {
                do {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMBytes([UInt8](certificatePEM)).map { .certificate($0) }
                } catch {
                    throw ConfigurationError(field: "client-certificate-data", message: "not a PEM certificate: \(error)")
                }
                do {
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: [UInt8](keyPEM), format: .pem))
                } catch {
                    throw ConfigurationError(field: "client-key-data", message: "not a PEM private key: \(error)")
                }
            }
            http.tlsConfiguration = tls
        }
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    /// Sends `request` with async-http-client.
    public func execute(_ request: TransportRequest) async throws -> TransportResponse {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        let components = request.timeout.components
        let nanos = components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
        let response: HTTPClientResponse
        do {
            response = try await client.execute(outgoing, timeout: .nanoseconds(nanos))
        } catch {
            throw TransportError(message: "\(request.method) \(request.url): \(error)")
        }
        return TransportResponse(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: ResponseBody(response.body) { Array(buffer: $0) })
    }

    /// Shuts the HTTP client down.
    public func shutdown() async throws { try await client.shutdown() }
}
