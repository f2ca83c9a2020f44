public import ComponentKit
import Expressions
import Synchronization

/// Builds each outgoing message from the incoming one with a template of
/// expressions (see docs/expressions.md), e.g.
/// `{"greeting": "hello {{ $.payload.name }}", "n": "{{ $.payload.n + 1 }}"}`.
public final class Transform: Component {
    /// The transform's settings.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// The output payload: a JSON value whose strings may hold `{{ expression }}`; `$` is the incoming message.
        public var template: JSONValue = "{{ $.payload }}"
    }

    public static let info = ComponentInfo(
        name: "transform", description: "Builds each message from the incoming one with expressions.",
        tags: ["transform", "expressions"])
    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .input("in", label: "In", message: JSONValue.self),
        .output("out", label: "Out", message: JSONValue.self),
        .error,
    ]

    /// The compiled template of the current settings (compiled once per change).
    private let compiled = Mutex<(source: JSONValue, template: Template)?>(nil)

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        let template = try template(for: context)
        guard port == "in" else { return }
        let payload = try template.render(root: message.expressionRoot)
        try await output.send("out", Message(payload: payload, priority: message.priority))
    }

    private func template(for context: NodeContext) throws -> Template {
        let settings: Settings = try context.settings()
        if let cached = compiled.withLock({ $0 }), cached.source == settings.template { return cached.template }
        let template = try Template(compiling: settings.template, at: "_settings.template")
        compiled.withLock { $0 = (settings.template, template) }
        return template
    }
}
