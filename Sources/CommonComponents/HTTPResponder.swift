public import ComponentKit

/// Ends an `http-server` chain: answers the request with the message it
/// receives (`{status, headers, body}`), filling in its settings' defaults.
public struct HTTPResponseComponent: Component {
    /// Defaults for the response.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// The status used when the message gives none.
        @SchemaField(minimum: 100, maximum: 599)
        public var status: Int = 200
        /// Header fields added to every response (the message's win).
        public var headers: [String: String] = [:]
    }

    public static let info = ComponentInfo(
        name: "http-response", description: "Answers the HTTP request that started the chain.", tags: ["http"])
    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .input("in", label: "Response", message: HTTPResponseMessage.self),
        .error,
    ]

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        guard port == "in" else { return }
        let settings: Settings = try context.settings()
        var response = try message.payload.decode(as: HTTPResponseMessage.self)
        if message.payload["status"] == nil { response.status = settings.status }
        response.headers = settings.headers.merging(response.headers) { _, given in given }
        try await output.reply(JSONValue(encoding: response))
    }
}
