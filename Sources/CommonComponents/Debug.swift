public import ComponentKit
import DequeModule
import Logging

/// Keeps the last few messages it receives in memory, where `tinyflow logs`, the console of
/// `tinyflow up` and `tinyflow run` read them (the `RecentMessages` call); with `log: true` it
/// also writes each one to its host's log.
public actor Debug: Component, RecentMessagesProviding {
    /// The debug node's settings.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// How many recent messages to keep.
        @SchemaField(minimum: 0, maximum: 1000)
        public var keep: Int = 10
        /// Whether each message is also written to the host's log (at info level). Off by
        /// default: a busy flow would fill the log with message payloads.
        public var log: Bool = false
    }

    public static let info = ComponentInfo(
        name: "debug", description: "Keeps the most recent messages for inspection; logs each one with `log: true`.",
        tags: ["debug", "sink"])
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
