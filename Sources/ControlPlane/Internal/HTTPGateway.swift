import AsyncPrimitives
import BearerTokens
import Foundation
import HTTPTypes
import Hummingbird
import JSONSchemaKit
import Logging
import NIOCore

/// The request context of the control plane's HTTP server: Hummingbird's, plus the channel
/// the request arrived on.
struct GatewayRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The connection (HTTP/1) or stream (HTTP/2) the request arrived on.
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// The HTTP side of the control plane: authentication, the limits of
/// ``ControlPlaneLimits`` (in-flight budgets, body and object sizes, timeouts), fault
/// injection, body collection, and rendering of the core's answers (JSON documents and
/// newline-delimited watch streams).
struct HTTPGateway: Sendable {
    let server: APIServer
    let faults: ControlPlaneFaults
    let token: String
    let limits: ControlPlaneLimits
    let admission: RequestAdmission
    /// Forwards service-proxy requests to their endpoints.
    let proxy: ServiceProxyForwarder
    let logger: Logger

    var responder: CallbackResponder<GatewayRequestContext> {
        CallbackResponder { request, context in try await respond(request, channel: context.channel) }
    }

    /// Answers `request`, which arrived on `channel` (a watch ends when it closes).
    func respond(_ request: Request, channel: (any Channel)? = nil) async throws -> Response {
        let path = request.uri.path
        if ["/healthz", "/livez", "/readyz"].contains(path) {
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok")))
        }
        guard BearerToken.constantTimeEqual(request.headers[.authorization] ?? "", "Bearer \(token)") else {
            return json(401, ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                              "message": "Unauthorized", "reason": "Unauthorized", "code": 401])
        }
        if let failure = faults.takeFailure(path: path) {
            let reason = failure.status == 429 ? "TooManyRequests" : failure.status == 503 ? "ServiceUnavailable" : "InternalError"
            return errorResponse(APIError(code: failure.status, reason: reason, message: "injected fault: \(failure.status)",
                                          details: failure.retryAfter.map { ["retryAfterSeconds": .integer($0)] },
                                          retryAfterSeconds: failure.retryAfter))
        }
        let query = Self.parseQuery(request.uri.query ?? "")
        // A service-proxy request's query is the backend's: `watch` there is not a watch here.
        let isProxied = RouteParser.serviceProxy(path: path) != nil
        let isWatch = !isProxied && request.method == .get && (query["watch"] == "true" || query["watch"] == "1")
        if isWatch, faults.takeGoneWatch() {
            let status = APIError.gone("too old resource version: \(query["resourceVersion"] ?? "0") (forced by fault injection)").status
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: (["type": "ERROR", "object": status] as JSONValue).jsonString + "\n")))
        }
        // Counted before the body is read, so requests over the budget cost nothing.
        let requestClass = Self.requestClass(method: request.method, isWatch: isWatch, userAgent: request.headers[.userAgent] ?? "unknown")
        guard let permit = admission.admit(requestClass) else {
            return errorResponse(Self.refusal(requestClass, limits: limits))
        }
        defer { withExtendedLifetime(permit) {} }
        let body: ByteBuffer
        do {
            body = try await collectBody(of: request)
        } catch let error as APIError {
            return errorResponse(error)
        }
        let apiRequest = APIRequest(
            method: request.method.rawValue, path: path, query: query,
            contentType: request.headers[.contentType] ?? "application/json",
            accept: request.headers[.accept] ?? "application/json",
            userAgent: request.headers[.userAgent] ?? "unknown",
            body: Data(body.readableBytesView))
        if !isProxied, apiRequest.body.count > limits.maxObjectBytes, let error = apiRequest.oversizedObject(limit: limits.maxObjectBytes) {
            return errorResponse(error)
        }
        // An injected latency is a slow server: it holds the request's slot and counts
        // towards its timeout.
        let latency = faults.latency
        let handle: @Sendable () async throws -> APIResponse = { [server] in
            if latency > .zero { try await Task.sleep(for: latency) }
            return await server.handle(apiRequest)
        }
        var answer: APIResponse
        var proxied: ProxiedResponse?
        if isWatch {
            answer = try await handle()
        } else {
            // A service-proxy request is resolved by the core, then forwarded here, both within
            // the request's timeout.
            let timeout = limits.requestTimeout
            let deadline = ContinuousClock.now.advanced(by: timeout)
            let forward: @Sendable (ServiceProxyTarget) async -> Result<ProxiedResponse, APIError> = { [proxy] target in
                do throws(APIError) {
                    return .success(try await proxy.forward(target, method: request.method.rawValue, query: request.uri.query,
                                                            headers: request.headers, body: body, deadline: deadline, timeout: timeout))
                } catch {
                    return .failure(error)
                }
            }
            do {
                (answer, proxied) = try await withTimeout(timeout) { () async throws -> (APIResponse, ProxiedResponse?) in
                    let answer = try await handle()
                    guard case .proxy(let target) = answer else { return (answer, nil) }
                    switch await forward(target) {
                    case .success(let response): return (answer, response)
                    case .failure(let error): return (.json(status: error.code, error.status), nil)
                    }
                }
            } catch is TimeoutError {
                return errorResponse(APIError.timeout(timeout))
            }
        }
        if logger.logLevel <= .debug {
            let status: String = switch answer {
            case .json(let code, _), .raw(let code, _, _): String(code)
            case .watch: "watch"
            case .proxy: proxied.map { String($0.status) } ?? "proxy"
            }
            logger.debug("request", metadata: ["method": "\(apiRequest.method)", "path": "\(path)", "status": "\(status)"])
        }
        switch answer {
        case .proxy:
            guard let proxied else { return errorResponse(APIError.internalError("the service proxy did not answer")) }
            return Response(status: HTTPResponse.Status(code: proxied.status), headers: proxied.headers,
                            body: .init(byteBuffer: proxied.body))
        case .json(let status, let document):
            return json(status, document)
        case .raw(let status, let contentType, let data):
            return Response(status: HTTPResponse.Status(code: status), headers: [.contentType: contentType],
                            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        case .watch(let rendering, let stream, let id):
            // A client that goes away ends its watch (and frees its slot) at once, not at the
            // next event written to the closed connection.
            var stopWatchingClient: @Sendable () -> Void = {}
            if let id, let channel {
                stopWatchingClient = ClientGoneHandler.watch(channel) { [server] in Task { await server.endWatch(id) } }
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody { [stopWatchingClient] writer in
                // The watch counts against its client's budget until its stream ends.
                defer {
                    stopWatchingClient()
                    withExtendedLifetime(permit) {}
                }
                do {
                    for await item in stream {
                        var line = Self.render(item, rendering).jsonString
                        line.append("\n")
                        try await writer.write(ByteBuffer(string: line))
                    }
                }
                try await writer.finish(nil)
            })
        }
    }

    /// The body, unless it is larger than ``ControlPlaneLimits/maxRequestBodyBytes``: a
    /// `Content-Length` over the limit is refused before anything is read, a body without one
    /// when it passes the limit.
    private func collectBody(of request: Request) async throws -> ByteBuffer {
        let limit = limits.maxRequestBodyBytes
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            // Read and dropped (never kept) when it is not far over, so that the client gets
            // the 413 instead of a reset of the request it is still sending.
            if declared <= 2 * limit {
                for try await _ in request.body {}
            }
            throw APIError.requestTooLarge(limit: limit)
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            // A body without a Content-Length that passed the limit while it was read.
            throw APIError.requestTooLarge(limit: limit)
        }
    }

    /// Which in-flight budget a request draws on.
    static func requestClass(method: HTTPRequest.Method, isWatch: Bool, userAgent: String) -> RequestClass {
        if isWatch { return .watch(client: userAgent) }
        return method == .get || method == .head ? .read : .mutating
    }

    /// The `429` for a request whose budget is spent.
    static func refusal(_ requestClass: RequestClass, limits: ControlPlaneLimits) -> APIError {
        let message = switch requestClass {
        case .read: "too many requests: \(limits.maxReadRequestsInFlight) reads are being served, please try again later"
        case .mutating: "too many requests: \(limits.maxMutatingRequestsInFlight) writes are being served, please try again later"
        case .watch(let client): "too many watches: \(client) holds \(limits.maxWatchesPerClient) open, or \(limits.maxWatches) are open in all; close some first"
        }
        return APIError.tooManyRequests(message, retryAfter: limits.retryAfterSeconds)
    }

    /// `error` as a `Status` response, with `Retry-After` when it says when to try again.
    func errorResponse(_ error: APIError) -> Response {
        var response = json(error.code, error.status)
        if let retryAfter = error.retryAfterSeconds { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }

    func json(_ status: Int, _ document: JSONValue) -> Response {
        Response(status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: document.jsonString)))
    }

    static func render(_ item: WatchItem, _ rendering: WatchRendering) -> JSONValue {
        switch item {
        case .event(let type, var object):
            object["apiVersion"] = .string(rendering.type.apiVersion(rendering.version))
            if rendering.table {
                object = TableRenderer.table(type: rendering.type, version: rendering.version, objects: [object],
                                             resourceVersion: object["metadata"]?["resourceVersion"]?.stringValue,
                                             continueToken: nil, includeObject: rendering.includeObject)
            }
            return ["type": .string(type), "object": object]
        case .bookmark(let resourceVersion, let initialEventsEnd):
            var metadata: [String: JSONValue] = ["resourceVersion": .string(String(resourceVersion))]
            if initialEventsEnd { metadata["annotations"] = ["k8s.io/initial-events-end": "true"] }
            return ["type": "BOOKMARK", "object": [
                "kind": .string(rendering.type.kind), "apiVersion": .string(rendering.type.apiVersion(rendering.version)),
                "metadata": .object(metadata),
            ]]
        case .error(let status):
            return ["type": "ERROR", "object": status]
        }
    }

    static func parseQuery(_ query: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s)
            }
            guard let key = parts.first else { continue }
            result[decode(key)] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return result
    }
}
