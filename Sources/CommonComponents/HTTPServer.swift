public import ComponentKit
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Serves HTTP: every request becomes a message on `request`, and the reply of
/// the chain it starts (usually ending in `http-response`) becomes the HTTP
/// response. A chain that does not answer within `timeout` gives 504.
///
/// Open to whoever can reach it, so every resource a client can take is bounded: the
/// body (413 beyond `maxBodySize`), the time to send a request's header
/// (`headerTimeout`) and between requests (`idleTimeout`), the connections held
/// (`maxConnections`, at most half the process's open-file limit; more are reset as they
/// are accepted) and the requests in the flow at once (`maxConcurrentRequests`; more get
/// 503 with `Retry-After`).
public struct HTTPServer: RunningComponent {
    /// The server's settings; changing them restarts the listener.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// The address to listen on.
        public var host: String = "127.0.0.1"
        /// The TCP port to listen on.
        @SchemaField(minimum: 1, maximum: 65535)
        public var port: Int = 8080
        /// Milliseconds a request may take through the flow.
        @SchemaField(minimum: 1)
        public var timeout: Int = 30_000
        /// The largest request body accepted, in bytes.
        @SchemaField(minimum: 0)
        public var maxBodySize: Int = 1_048_576
        /// Milliseconds a client has to send a request's header after connecting (or after
        /// the previous response); slower connections are closed.
        @SchemaField(minimum: 1)
        public var headerTimeout: Int = 10_000
        /// Milliseconds a client has to send a request's body after its header; slower
        /// connections are closed.
        @SchemaField(minimum: 1)
        public var bodyTimeout: Int = 30_000
        /// Milliseconds a connection may be idle between requests before it is closed.
        @SchemaField(minimum: 1)
        public var idleTimeout: Int = 60_000
        /// Connections held at once (at most half the process's open-file limit); more are
        /// reset as they are accepted.
        @SchemaField(minimum: 1)
        public var maxConnections: Int = 10_000
        /// Requests in the flow at once; more are answered 503 with `Retry-After`.
        @SchemaField(minimum: 1)
        public var maxConcurrentRequests: Int = 1_000
    }

    public static let info = ComponentInfo(
        name: "http-server", description: "Serves HTTP; each request is answered by the flow it starts.",
        tags: ["http", "source"])
    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .output("request", label: "Request", message: HTTPRequestMessage.self),
    ]

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {}

    public func run(context: NodeContext, output: any Output) async throws {
        let settings: Settings = try context.settings()
        let inFlight = BoundedCounter(limit: settings.maxConcurrentRequests)
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            await Self.respond(to: request, settings: settings, inFlight: inFlight, output: output, logger: context.logger)
        }
        let connections = BoundedCounter(limit: settings.maxConnections)
        let headerTimeout = TimeAmount.milliseconds(Int64(settings.headerTimeout))
        let bodyTimeout = TimeAmount.milliseconds(Int64(settings.bodyTimeout))
        let server = HTTPServerBuilder.http1(configuration: .init(
            additionalChannelHandlers: [
                ConnectionCapHandler(counts: [connections, BoundedCounter.processConnections]), RequestReadTimeoutHandler(headerTimeout: headerTimeout, bodyTimeout: bodyTimeout),
            ],
            idleTimeout: .milliseconds(Int64(settings.idleTimeout))))
        let app = Application(
            responder: responder,
            server: server,
            // A deeper backlog than the default 256, so a burst of clients is answered (or refused
            // by the cap) rather than left half-open by a full queue.
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "tinyflow", backlog: 1024),
            onServerRunning: { channel in
                context.logger.info("http-server listening on \(channel.localAddress?.description ?? "?")")
            },
            logger: context.logger)
        try await app.run()
    }

    /// Reads the body, then — counted against `maxConcurrentRequests` only from then on, so a
    /// slow body holds no slot — hands the request to the flow and answers with its reply.
    private static func respond(
        to request: Request, settings: Settings, inFlight: BoundedCounter, output: any Output, logger: Logger
    ) async -> Response {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: settings.maxBodySize)
        } catch {
            return plain(.contentTooLarge, "request body larger than \(settings.maxBodySize) bytes")
        }
        guard inFlight.enter() else {
            var response = plain(.serviceUnavailable, "more than \(settings.maxConcurrentRequests) requests are being served; try again later")
            response.headers[.retryAfter] = "1"
            return response
        }
        defer { inFlight.leave() }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
        let message = HTTPRequestMessage(
            method: request.method.rawValue, url: request.uri.string, path: request.uri.path, query: query,
            headers: headers, body: HTTPBody.decode(Array(buffer: body)))
        do {
            let deadline = Date().addingTimeInterval(Double(settings.timeout) / 1000)
            let reply = try await output.request(
                "request", Message(payload: JSONValue(encoding: message), deadline: deadline))
            let response = try reply.decode(as: HTTPResponseMessage.self)
            let (bytes, contentType) = HTTPBody.encode(response.body)
            var fields = HTTPFields()
            for (name, value) in response.headers {
                if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
            }
            if let contentType, fields[.contentType] == nil { fields[.contentType] = contentType }
            return Response(
                status: HTTPResponse.Status(code: response.status), headers: fields,
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        } catch let error as any DeadlineReporting where error.isDeadlineExceeded {
            return plain(.gatewayTimeout, "the flow did not answer within \(settings.timeout) ms")
        } catch {
            // The details go to the (redacted) log only: an error from deep in the flow may
            // carry what the outside caller must not see.
            logger.warning("http-server: the flow failed: \(error)")
            return plain(.badGateway, "the flow failed to answer")
        }
    }

    private static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}
