public import ComponentKit

/// Passes at most `rate` messages per second (with bursts of up to `burst`),
/// by making the message wait for a token: excess load slows producers
/// through backpressure instead of being dropped.
public actor RateLimit: Component {
    /// The rate-limit node's settings.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// Messages per second, sustained.
        @SchemaField(minimum: 0.001)
        public var rate: Double = 10
        /// Messages that may pass at once after a quiet period.
        @SchemaField(minimum: 1)
        public var burst: Int = 1
    }

    public static let info = ComponentInfo(
        name: "rate-limit", description: "Passes at most rate messages per second, slowing producers beyond.",
        tags: ["time", "flow-control"])
    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .input("in", label: "In", message: JSONValue.self),
        .output("out", label: "Out", message: JSONValue.self),
    ]

    private var tokens: Double?
    private var refilledAt = ContinuousClock.now

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        guard port == "in" else { return }
        let settings: Settings = try context.settings()
        try await takeToken(settings)
        try await output.send("out", Message(payload: message.payload, priority: message.priority))
    }

    private func takeToken(_ settings: Settings) async throws {
        let burst = Double(settings.burst)
        let now = ContinuousClock.now
        let seconds = (now - refilledAt) / .seconds(1)
        var available = min(burst, (tokens ?? burst) + seconds * settings.rate)
        refilledAt = now
        if available < 1 {
            let wait = (1 - available) / settings.rate
            try await Task.sleep(for: .milliseconds(Int64((wait * 1000).rounded(.up))))
            available = 1
            refilledAt = ContinuousClock.now
        }
        tokens = available - 1
    }
}
