import CRDModels
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The HTTP face of ``FlowsAPI``: routes, JSON bodies, errors as JSON.
struct FlowsRoutes: Sendable {
    let api: FlowsAPI
    let maximumBodyBytes: Int
    let logger: Logger

    func register(on routes: RouterGroup<BasicRequestContext>) {
        routes.post("session") { _, _ in Response(status: .noContent) }  // answered by TokenMiddleware
        routes.get("openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_json)))
        }
        routes.get("flows") { _, _ in try await respond { try await api.flows() } }
        routes.get("flows/:flow") { _, context in try await respond { try await api.flow(try name(context)) } }
        routes.post("flows/:flow") { request, context in
            try await respond {
                let body = try await decode(DeployRequest.self, from: request)
                return try await api.deploy(body, to: try name(context))
            }
        }
        routes.get("flows/:flow/revisions") { _, context in try await respond { try await api.revisions(of: try name(context)) } }
        routes.get("flows/:flow/revisions/:number") { _, context in
            try await respond {
                guard let number = context.parameters.get("number").flatMap(Int.init) else {
                    throw ConsoleError.badRequest("a revision is a number")
                }
                return try await api.revision(number, of: try name(context))
            }
        }
        routes.post("flows/:flow/rollback") { request, context in
            try await respond {
                let body = try await decode(RollbackRequest.self, from: request)
                return try await api.rollback(try name(context), to: body.revision)
            }
        }
        routes.post("flows/:flow/signals") { request, context in
            try await respond {
                let body = try await decode(SignalRequest.self, from: request)
                return try await api.signal(body, in: try name(context))
            }
        }
        routes.get("flows/:flow/nodes/:node/messages") { _, context in
            try await respond {
                guard let node = context.parameters.get("node") else { throw ConsoleError.badRequest("name a node") }
                return try await api.messages(of: node)
            }
        }
        routes.get("modules") { _, _ in try await respond { try await api.modules() } }
        routes.get("events") { request, _ -> Response in
            guard let flow = request.uri.queryParameters["flow"].map(String.init), !flow.isEmpty else {
                return Self.error(.badRequest("name the flow: /api/events?flow=NAME"))
            }
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: FlowEventStream(api: api, flow: flow, logger: logger).body())
        }
    }

    private func name(_ context: BasicRequestContext) throws -> String {
        guard let flow = context.parameters.get("flow"), !flow.isEmpty else { throw ConsoleError.badRequest("name a flow") }
        return flow
    }

    private func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maximumBodyBytes)
        } catch {
            throw ConsoleError(status: 413, reason: "RequestEntityTooLarge", message: "the request body is larger than \(maximumBodyBytes) bytes")
        }
        return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
    }

    /// The operation's answer as JSON, or its failure as a JSON error.
    private func respond(_ operation: () async throws -> some Encodable) async throws -> Response {
        do {
            let value = try await operation()
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(value))))
        } catch {
            let failure = ConsoleError.from(error)
            if failure.status >= 500 { logger.warning("console request failed", metadata: ["error": "\(failure.message)"]) }
            return Self.error(failure)
        }
    }

    /// `error` as its JSON answer.
    static func error(_ error: ConsoleError) -> Response {
        let data = (try? JSONEncoder().encode(error.body)) ?? Data(#"{"error":"internal error","reason":"InternalError"}"#.utf8)
        return Response(
            status: HTTPResponse.Status(code: error.status), headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
