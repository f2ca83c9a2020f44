import AsyncHTTPClient
public import ComponentKit
import Foundation
import NIOCore
import NIOHTTP1

/// Makes an HTTP request for every message and sends the response on
/// `response`; failures (connection, timeout) go to the error port.
public struct HTTPRequestComponent: Component {
    /// The client's settings.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// Milliseconds a request may take; the message deadline shortens it.
        @SchemaField(minimum: 1)
        public var timeout: Int = 10_000
        /// Header fields added to every request (the message's win).
        public var headers: [String: String] = [:]
        /// The largest response body read, in bytes.
        @SchemaField(minimum: 0)
        public var maxBodySize: Int = 10_485_760
    }

    public static let info = ComponentInfo(
        name: "http-request", description: "Makes an HTTP request per message and emits the response.",
        tags: ["http"])
    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .input("in", label: "Request", message: HTTPRequestMessage.self),
        .output("response", label: "Response", message: HTTPResponseMessage.self),
        .error,
    ]

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        guard port == "in" else { return }
        let settings: Settings = try context.settings()
        let given = try message.payload.decode(as: HTTPRequestMessage.self)
        var request = HTTPClientRequest(url: given.url)
        request.method = HTTPMethod(rawValue: given.method.uppercased())
        for (name, value) in settings.headers.merging(given.headers, uniquingKeysWith: { _, own in own }) {
            request.headers.replaceOrAdd(name: name, value: value)
        }
        let (bytes, contentType) = HTTPBody.encode(given.body)
        if !bytes.isEmpty {
            request.body = .bytes(ByteBuffer(bytes: bytes))
            if let contentType, !request.headers.contains(name: "content-type") {
                request.headers.add(name: "content-type", value: contentType)
            }
        }
        var timeout = Double(settings.timeout) / 1000
        if let deadline = message.deadline { timeout = min(timeout, deadline.timeIntervalSinceNow) }
        let response = try await HTTPClient.shared.execute(
            request, timeout: .milliseconds(Int64(max(0.001, timeout) * 1000)))
        let body = try await response.body.collect(upTo: settings.maxBodySize)
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        try await output.send(
            "response",
            encoding: HTTPResponseMessage(
                status: Int(response.status.code), headers: headers, body: HTTPBody.decode(Array(buffer: body))))
    }
}
