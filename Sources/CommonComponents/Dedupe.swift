public import ComponentKit
import Synchronization

/// Passes a message on `out` only if its key was not seen within the window; a repeat goes
/// to `duplicate` instead (so nothing disappears unseen). Replica-safe: the first sighting
/// is an atomic compare-and-set in the context store, so two replicas of the module never
/// both pass the same key.
public final class Dedupe: Component {
    /// The dedupe node's settings.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// What identifies a message: a template over it (`$`), e.g. `{{ $.payload.orderId }}`.
        @SchemaField(minLength: 1)
        public var key: String = "{{ $.payload.id }}"
        /// Milliseconds a key is remembered after its first sighting.
        @SchemaField(minimum: 1)
        public var window: Int = 60_000
        /// Whose context remembers keys: the node's own (`node`), its flow's (`flow`, shared by
        /// the flow's dedupe nodes) or the namespace's (`global`).
        public var scope: ContextScopeSetting = .node
    }

    public static let info = ComponentInfo(
        name: "dedupe", description: "Passes a message only if its key was not seen within a window.",
        tags: ["context", "filter", "idempotency"])
    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .input("in", label: "In", message: JSONValue.self),
        .output("out", label: "First", message: JSONValue.self),
        .output("duplicate", label: "Duplicate", message: JSONValue.self),
        .error,
    ]

    private let compiled = Mutex<(settings: Settings, key: ContextKeyTemplate)?>(nil)

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        let (settings, keyTemplate) = try compiled(for: context)
        guard port == "in" else { return }
        let store = try context.store(settings.scope.kind)
        let key = try keyTemplate.key(for: message)
        let outcome = try await store.store.compareAndSet(
            key, in: store.scope, expecting: nil, to: .bool(true), ttl: .milliseconds(settings.window))
        let first: Bool
        switch outcome {
        case .written: first = true
        case .conflict: first = false
        }
        try await output.send(
            first ? "out" : "duplicate",
            Message(payload: message.payload, deadline: message.deadline, priority: message.priority, traceparent: message.traceparent))
    }

    private func compiled(for context: NodeContext) throws -> (Settings, ContextKeyTemplate) {
        let settings: Settings = try context.settings()
        if let cached = compiled.withLock({ $0 }), cached.settings == settings { return (settings, cached.key) }
        let key = try ContextKeyTemplate(settings.key, at: "_settings.key")
        compiled.withLock { $0 = (settings, key) }
        return (settings, key)
    }
}
