/// Name, description and tags of a component.
public struct ComponentInfo: Sendable, Hashable {
    /// The name nodes use in `spec.component`, e.g. `ticker`.
    public var name: String
    /// What the component does, one sentence.
    public var description: String
    /// Keywords for catalogues.
    public var tags: [String]

    /// Creates component info.
    public init(name: String, description: String, tags: [String] = []) {
        self.name = name
        self.description = description
        self.tags = tags
    }
}

/// What a component author implements: a kind of node.
///
/// The runtime creates a fresh instance (`init()`) for every node, delivers
/// the node's `_settings` configuration to `handle` before any other message
/// and again whenever it changes, and calls `handle` for each message
/// arriving on an input port. Components with work of their own (sources
/// such as tickers and servers, timers such as batch windows) also conform
/// to ``RunningComponent``.
///
/// Handlers of different input ports (and `run`) may overlap, so state
/// shared between them must be isolated: make a stateful component an
/// `actor`.
///
/// A handler that throws does not lose the message: the runtime sends an
/// ``ErrorMessage`` to the node's `error` port if it is wired, else counts and
/// logs it.
public protocol Component: Sendable {
    /// Name, description and tags.
    static var info: ComponentInfo { get }
    /// Every port the component has.
    static var ports: [PortDefinition] { get }

    /// A fresh instance for one node.
    init()

    /// Handles one message that arrived on the input port `port`.
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws
}

/// A component with work of its own besides handling messages: a source
/// (ticker, server) or a component with timers (batch windows).
///
/// The runtime runs `run` in its own task while the node runs, cancels it
/// when the node stops, and restarts it when the node's settings change. A
/// source (a component with no data input ports) runs only on the replica
/// that leads its module, so scaling a module does not multiply its ticks.
public protocol RunningComponent: Component {
    /// Does the component's own work until cancelled.
    func run(context: NodeContext, output: any Output) async throws
}

extension Component {
    /// Whether the component produces messages on its own.
    public static var isSource: Bool { ports.allSatisfy { $0.direction == .output || $0.role == .settings } }

    /// The component as a module's catalogue publishes it.
    public static var componentDescription: ComponentDescription {
        ComponentDescription(
            info: ComponentSummary(name: info.name, description: info.description, tags: info.tags),
            ports: ports.map(\.portDescription))
    }
}

/// A module: a named set of components that one module host serves.
public struct ModuleDefinition: Sendable {
    /// The module's name, e.g. `common`.
    public var name: String
    /// The module's version.
    public var version: String
    /// The components, by name.
    public var components: [String: any Component.Type]

    /// Creates a module; component names must be unique.
    public init(name: String, version: String, components: [any Component.Type]) {
        self.name = name
        self.version = version
        self.components = Dictionary(components.map { ($0.info.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The catalogue the module host reports, sorted by component name.
    public var catalogue: [ComponentDescription] {
        components.keys.sorted().compactMap { components[$0]?.componentDescription }
    }
}

/// A component that keeps recent messages for inspection (the debug
/// component); the module host serves them through `RecentMessages`.
public protocol RecentMessagesProviding: Sendable {
    /// The kept messages, oldest first.
    func recentMessages() async -> [Message]
}
