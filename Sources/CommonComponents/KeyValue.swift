public import ComponentKit
import Expressions
import Synchronization

/// Reads and writes node, flow or global context (see docs/context.md): one input port per
/// operation; every operation sends the resulting value (`null` for a missing key) on `out`.
///
/// - `get` sends the key's value;
/// - `set` stores the rendered `value` template (by default the message's payload) and sends it;
/// - `delete` removes the key and sends `null`;
/// - `increment` adds the rendered `amount` (default 1) atomically, across replicas too, and sends the sum.
///
/// A failing operation (an unreachable store, a key over the limits, incrementing a
/// string) goes to the `error` port with the reason.
public final class KeyValue: Component {
    /// The kv node's settings.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// Whose context: the node's own (`node`), its flow's (`flow`) or the namespace's (`global`).
        public var scope: ContextScopeSetting = .node
        /// The key: a template over the message (`$`), e.g. `{{ $.payload.user }}`.
        @SchemaField(minLength: 1)
        public var key: String = "{{ $.payload.key }}"
        /// What `set` stores: a JSON template over the message; by default its payload.
        public var value: JSONValue = "{{ $.payload }}"
        /// What `increment` adds: a number or a template rendering to one.
        public var amount: JSONValue = 1
        /// Milliseconds after which keys written by this node expire; 0: never.
        @SchemaField(minimum: 0)
        public var ttl: Int = 0
    }

    public static let info = ComponentInfo(
        name: "kv", description: "Gets, sets, deletes and increments keys of node, flow or global context.",
        tags: ["context", "state", "storage"])
    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .input("get", label: "Get", message: JSONValue.self),
        .input("set", label: "Set", message: JSONValue.self),
        .input("delete", label: "Delete", message: JSONValue.self),
        .input("increment", label: "Increment", message: JSONValue.self),
        .output("out", label: "Value", message: JSONValue.self),
        .error,
    ]

    private struct Compiled: Sendable {
        var settings: Settings
        var key: ContextKeyTemplate
        var value: Template
        var amount: Template
    }

    private let compiled = Mutex<Compiled?>(nil)

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        let compiled = try compiled(for: context)
        guard ["get", "set", "delete", "increment"].contains(port) else { return }
        let settings = compiled.settings
        let store = try context.store(settings.scope.kind)
        let key = try compiled.key.key(for: message)
        let ttl: Duration? = settings.ttl > 0 ? .milliseconds(settings.ttl) : nil
        let result: JSONValue
        switch port {
        case "get":
            result = try await store.value(key) ?? .null
        case "set":
            result = try compiled.value.render(root: message.expressionRoot)
            try await store.store.set(key, to: result, in: store.scope, ttl: ttl)
        case "delete":
            try await store.delete(key)
            result = .null
        default:
            switch try compiled.amount.render(root: message.expressionRoot) {
            case .integer(let amount):
                result = .integer(try await store.increment(key, by: amount, ttl: ttl))
            case .number(let amount):
                result = try await store.store.update(key, in: store.scope, ttl: ttl) { old in
                    switch old {
                    case nil: return .number(amount)
                    case .integer(let value)?: return .number(Double(value) + amount)
                    case .number(let value)?: return .number(value + amount)
                    case let other?: throw ContextStoreError.notAnInteger(key: key, found: other.typeName)
                    }
                } ?? .null
            case let other:
                throw KeyValueError(message: "_settings.amount: renders to a \(other.typeName), not a number")
            }
        }
        try await output.send(
            "out", Message(payload: result, deadline: message.deadline, priority: message.priority, traceparent: message.traceparent))
    }

    private func compiled(for context: NodeContext) throws -> Compiled {
        let settings: Settings = try context.settings()
        if let cached = compiled.withLock({ $0 }), cached.settings == settings { return cached }
        let fresh = Compiled(
            settings: settings, key: try ContextKeyTemplate(settings.key, at: "_settings.key"),
            value: try Template(compiling: settings.value, at: "_settings.value"),
            amount: try Template(compiling: settings.amount, at: "_settings.amount"))
        compiled.withLock { $0 = fresh }
        return fresh
    }
}

/// A kv operation that cannot run on this message.
public struct KeyValueError: Error, CustomStringConvertible {
    /// What is wrong, with the settings field.
    public var message: String
    /// The message.
    public var description: String { message }
}
