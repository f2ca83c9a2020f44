public import ComponentKit
import DequeModule
import Logging

/// Logs every message it receives and keeps the last few for inspection.
public actor Debug: Component, RecentMessagesProviding {
    /// The debug node's settings.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// How many recent messages to keep.
        @SchemaField(minimum: 0, maximum: 1000)
        public var keep: Int = 10
        /// Whether each message is logged.
        public var log: Bool = true
    }

    public static let info = ComponentInfo(
        name: "debug", description: "Logs messages and keeps the most recent ones.", tags: ["debug", "sink"])
    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .input("in", label: "In", message: JSONValue.self),
    ]

    private var recent: Deque<Message> = []

    public init() {}

    /// The messages kept, oldest first.
    public func recentMessages() -> [Message] { Array(recent) }

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        guard port == "in" else { return }
        let settings: Settings = try context.settings()
        if settings.log {
            context.logger.info("\(message.payload.jsonString)", metadata: ["port": "\(port)"])
        }
        recent.append(message)
        while recent.count > settings.keep { recent.removeFirst() }
    }
}
