public import ComponentKit
import Expressions
import Synchronization

/// Routes each message to output ports by expressions: the first route whose
/// `when` holds (or every one, with `all`), else `otherwise`.
public final class Router: Component {
    /// The route output ports a router has.
    public static let routePorts = (1...8).map { "route-\($0)" }

    /// The output port of a route.
    @Schema
    public enum RoutePort: String, Codable, Sendable, Hashable {
        case route1 = "route-1", route2 = "route-2", route3 = "route-3", route4 = "route-4"
        case route5 = "route-5", route6 = "route-6", route7 = "route-7", route8 = "route-8"
    }

    /// One route.
    @Schema
    public struct Route: Codable, Sendable, Hashable {
        /// The output port matching messages go to.
        public var port: Router.RoutePort
        /// A condition on the message (`$`), e.g. `$.payload.temperature > 30`.
        @SchemaField(minLength: 1)
        public var when: String
    }

    /// The router's settings.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// The routes, checked in order.
        public var routes: [Router.Route] = []
        /// Whether a message goes to every matching route instead of the first.
        public var all: Bool = false
    }

    public static let info = ComponentInfo(
        name: "router", description: "Routes messages to output ports by expressions.", tags: ["routing", "expressions"])
    public static let ports: [PortDefinition] =
        [.settings(Settings.self), .input("in", label: "In", message: JSONValue.self)]
        + routePorts.map { PortDefinition.output($0, label: $0, message: JSONValue.self) }
        + [.output("otherwise", label: "Otherwise", message: JSONValue.self), .error]

    private let compiled = Mutex<(settings: Settings, conditions: [(port: String, condition: Expression)])?>(nil)

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        let (settings, conditions) = try routes(for: context)
        guard port == "in" else { return }
        let root = message.expressionRoot
        var matched = false
        for route in conditions where try route.condition.test(root: root) {
            matched = true
            try await output.send(route.port, Message(payload: message.payload, priority: message.priority))
            if !settings.all { break }
        }
        if !matched {
            try await output.send("otherwise", Message(payload: message.payload, priority: message.priority))
        }
    }

    private func routes(for context: NodeContext) throws -> (Settings, [(port: String, condition: Expression)]) {
        let settings: Settings = try context.settings()
        if let cached = compiled.withLock({ $0 }), cached.settings == settings { return (settings, cached.conditions) }
        var conditions: [(port: String, condition: Expression)] = []
        for (index, route) in settings.routes.enumerated() {
            do {
                conditions.append((route.port.rawValue, try Expression(route.when)))
            } catch {
                throw RouteError(message: "_settings.routes[\(index)].when: \(error)")
            }
        }
        compiled.withLock { $0 = (settings, conditions) }
        return (settings, conditions)
    }
}

/// A route whose condition does not compile.
public struct RouteError: Error, CustomStringConvertible {
    /// Which route and why.
    public var message: String
    public var description: String { message }
}
