import Foundation
import HTTPTypes
import Hummingbird
import JSONSchemaKit
import Logging
import NIOCore

/// The HTTP side of the control plane: authentication, fault injection, body collection,
/// and rendering of the core's answers (JSON documents and newline-delimited watch streams).
struct HTTPGateway: Sendable {
    let server: APIServer
    let faults: ControlPlaneFaults
    let token: String
    let logger: Logger

    var responder: CallbackResponder<BasicRequestContext> {
        CallbackResponder { request, _ in try await respond(request) }
    }

    func respond(_ request: Request) async throws -> Response {
        let path = request.uri.path
        if ["/healthz", "/livez", "/readyz"].contains(path) {
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok")))
        }
        guard Self.constantTimeEqual(request.headers[.authorization] ?? "", "Bearer \(token)") else {
            return json(401, ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                              "message": "Unauthorized", "reason": "Unauthorized", "code": 401])
        }
        let latency = faults.latency
        if latency > .zero { try await Task.sleep(for: latency) }
        if let failure = faults.takeFailure(path: path) {
            let reason = failure.status == 429 ? "TooManyRequests" : failure.status == 503 ? "ServiceUnavailable" : "InternalError"
            var response = json(failure.status, APIError(code: failure.status, reason: reason, message: "injected fault: \(failure.status)",
                                                         details: failure.retryAfter.map { ["retryAfterSeconds": .integer($0)] }).status)
            if let retryAfter = failure.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
            return response
        }
        let query = Self.parseQuery(request.uri.query ?? "")
        if request.method == .get, query["watch"] == "true" || query["watch"] == "1", faults.takeGoneWatch() {
            let status = APIError.gone("too old resource version: \(query["resourceVersion"] ?? "0") (forced by fault injection)").status
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: (["type": "ERROR", "object": status] as JSONValue).jsonString + "\n")))
        }
        let body = try await request.body.collect(upTo: 32 * 1024 * 1024)
        let apiRequest = APIRequest(
            method: request.method.rawValue, path: path, query: query,
            contentType: request.headers[.contentType] ?? "application/json",
            accept: request.headers[.accept] ?? "application/json",
            userAgent: request.headers[.userAgent] ?? "unknown",
            body: Data(body.readableBytesView))
        let answer = await server.handle(apiRequest)
        if logger.logLevel <= .debug {
            let status: String = switch answer {
            case .json(let code, _), .raw(let code, _, _): String(code)
            case .watch: "watch"
            }
            logger.debug("request", metadata: ["method": "\(apiRequest.method)", "path": "\(path)", "status": "\(status)"])
        }
        switch answer {
        case .json(let status, let document):
            return json(status, document)
        case .raw(let status, let contentType, let data):
            return Response(status: HTTPResponse.Status(code: status), headers: [.contentType: contentType],
                            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        case .watch(let rendering, let stream):
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody { writer in
                for await item in stream {
                    var line = Self.render(item, rendering).jsonString
                    line.append("\n")
                    try await writer.write(ByteBuffer(string: line))
                }
                try await writer.finish(nil)
            })
        }
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

    /// Compares without stopping at the first difference, so timing does not reveal the token.
    static func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8), b = Array(rhs.utf8)
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0 && a.count == b.count
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
