public import ComponentKit
import Foundation

/// Sends a message every `interval` milliseconds: the source of many flows.
public actor Ticker: RunningComponent {
    /// The ticker's settings.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// Milliseconds between two ticks.
        @SchemaField(minimum: 1)
        public var interval: Int = 1000
        /// What every tick carries.
        public var payload: JSONValue = .object([:])
    }

    /// What a tick carries: the configured payload and a counter.
    @Schema
    public struct Tick: Codable, Sendable, Hashable {
        /// 1 for the first tick, then increasing by one.
        public var count: Int
        /// The configured payload.
        public var payload: JSONValue
    }

    public static let info = ComponentInfo(
        name: "ticker", description: "Sends a message every interval milliseconds.", tags: ["source", "time"])
    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .output("out", label: "Tick", message: Tick.self),
    ]

    private var count = 0

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        // Settings are read from the context on every tick; nothing else arrives.
    }

    public func run(context: NodeContext, output: any Output) async throws {
        let clock = ContinuousClock()
        var next = clock.now
        while !Task.isCancelled {
            let settings: Settings = try context.settings()
            next = next.advanced(by: .milliseconds(max(1, settings.interval)))
            try await Task.sleep(until: next, clock: clock)
            count += 1
            try await output.send("out", encoding: Tick(count: count, payload: settings.payload))
        }
    }
}
