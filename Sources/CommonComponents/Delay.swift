public import ComponentKit

/// Forwards each message after a fixed delay, in order. Messages are delayed
/// one after another, so the node passes at most `1000 / delay` messages a
/// second and slows its producers beyond that (backpressure, not loss).
public struct Delay: Component {
    /// The delay node's settings.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// Milliseconds each message waits.
        @SchemaField(minimum: 0, maximum: 86_400_000)
        public var delay: Int = 1000
    }

    public static let info = ComponentInfo(
        name: "delay", description: "Forwards each message after a fixed delay.", tags: ["time"])
    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .input("in", label: "In", message: JSONValue.self),
        .output("out", label: "Out", message: JSONValue.self),
    ]

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        guard port == "in" else { return }
        let settings: Settings = try context.settings()
        try await Task.sleep(for: .milliseconds(settings.delay))
        try await output.send("out", Message(payload: message.payload, priority: message.priority))
    }
}
