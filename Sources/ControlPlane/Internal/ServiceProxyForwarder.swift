import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1

/// A backend's answer as the service proxy passes it on.
struct ProxiedResponse: Sendable {
    var status: Int
    var headers: HTTPFields
    var body: ByteBuffer
}

/// Sends a service-proxy request to its endpoint over plain HTTP and reads the whole answer,
/// within bounds: the answer's body up to ``ControlPlaneLimits/maxProxyResponseBytes``
/// (`502` past it), the exchange until its deadline (`504`). The caller's credentials
/// (`Authorization`, cookies, impersonation) and hop-by-hop headers are not forwarded, and
/// the backend's cookies are not passed back. Redirects are passed back, not followed.
struct ServiceProxyForwarder: Sendable {
    let client: HTTPClient
    let maxResponseBytes: Int

    /// Request headers never forwarded: credentials for the control plane, and hop-by-hop headers.
    static let droppedRequestHeaders: Set<String> = [
        "authorization", "proxy-authorization", "cookie", "host", "content-length", "connection", "keep-alive",
        "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection", "expect",
    ]
    /// Response headers never passed back: the backend's cookies, and hop-by-hop headers.
    static let droppedResponseHeaders: Set<String> = [
        "set-cookie", "content-length", "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-connection", "proxy-authenticate",
    ]

    /// An HTTP client as the proxy needs it: no redirects followed, bodies passed on as sent.
    static func makeClient(connectTimeout: Duration) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        // A refused connection is a `503` at once, as with kube-apiserver, not retried until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        let components = connectTimeout.components
        configuration.timeout = .init(
            connect: .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The headers of `fields` that may be forwarded (also dropping those `Connection` names).
    static func forwardable(_ fields: HTTPFields, dropping dropped: Set<String>) -> [(name: String, value: String)] {
        let named = Set(fields[values: .connection].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        return fields.compactMap { field in
            let name = field.name.canonicalName
            if dropped.contains(name) || named.contains(name) || name.hasPrefix("impersonate-") { return nil }
            return (name, field.value)
        }
    }

    /// Sends `method` `target` (with `query`, `headers` and `body`) and returns the answer,
    /// or the `Status` error for the caller: `503` when the endpoint cannot be reached, `502`
    /// for an answer over the limit, `504` past `deadline` (the end of the request's `timeout`).
    func forward(_ target: ServiceProxyTarget, method: String, query: String?, headers: HTTPFields, body: ByteBuffer,
                 deadline: ContinuousClock.Instant, timeout limit: Duration) async throws(APIError) -> ProxiedResponse {
        var request = HTTPClientRequest(url: target.url(query: query))
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in Self.forwardable(headers, dropping: Self.droppedRequestHeaders) {
            request.headers.add(name: name, value: value)
        }
        if body.readableBytes > 0 || !["GET", "HEAD", "DELETE"].contains(method) {
            request.body = .bytes(body)
        }
        let remaining = ContinuousClock.now.duration(to: deadline)
        guard remaining > .zero else { throw APIError.timeout(limit) }
        let components = remaining.components
        let timeout = TimeAmount.nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
        let service = "\(target.namespace)/\(target.service)"
        do {
            let response = try await client.execute(request, timeout: timeout)
            let collected: ByteBuffer
            do {
                collected = try await response.body.collect(upTo: maxResponseBytes)
            } catch is NIOTooManyBytesError {
                throw APIError(
                    code: 502, reason: "BadGateway",
                    message: "the response of service \"\(service)\" is larger than \(maxResponseBytes) bytes (\(ObjectSize.describe(maxResponseBytes))), the most the service proxy passes on")
            }
            var fields = HTTPFields()
            for (name, value) in Self.forwardable(HTTPFields(response.headers), dropping: Self.droppedResponseHeaders) {
                if let fieldName = HTTPField.Name(name) { fields.append(HTTPField(name: fieldName, value: value)) }
            }
            return ProxiedResponse(status: Int(response.status.code), headers: fields, body: method == "HEAD" ? ByteBuffer() : collected)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw APIError.timeout(limit)
        } catch {
            if ContinuousClock.now >= deadline { throw APIError.timeout(limit) }
            throw APIError.serviceUnavailable("error trying to reach service \"\(service)\" at \(target.ip):\(target.port): \(error)")
        }
    }
}

extension HTTPFields {
    /// The fields of NIO's `HTTPHeaders` (those whose names are valid).
    init(_ headers: HTTPHeaders) {
        self.init()
        for (name, value) in headers {
            if let fieldName = HTTPField.Name(name) { append(HTTPField(name: fieldName, value: value)) }
        }
    }
}
