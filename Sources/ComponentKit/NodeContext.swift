public import Logging
import Synchronization

/// What a running node knows about itself: its name, its ports' effective
/// configuration and a logger. Shared by `handle` and `run`.
public final class NodeContext: Sendable {
    /// The node's (TinyNode's) name.
    public let node: String
    /// The node's namespace.
    public let namespace: String
    /// Logs with the node's name attached.
    ///
    /// Built on each access: a host runs up to 100,000 nodes, and a logger
    /// kept per node with its own metadata costs a few hundred bytes each.
    public var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "node"] = .string(node)
        return logger
    }
    private let baseLogger: Logger
    private let configurations: Mutex<[String: JSONValue]>

    /// Creates a context with the given effective port configurations.
    public init(node: String, namespace: String = "default", configurations: [String: JSONValue] = [:], logger: Logger) {
        self.node = node
        self.namespace = namespace
        self.baseLogger = logger
        self.configurations = Mutex(configurations)
    }

    /// The effective configuration of a port, defaults applied.
    public func configuration(of port: String) -> JSONValue? {
        configurations.withLock { $0[port] }
    }

    /// The `_settings` configuration decoded as the component's settings type.
    public func settings<S: Decodable>(as type: S.Type = S.self) throws -> S {
        try (configuration(of: PortDefinition.settingsName) ?? .object([:])).decode(as: S.self)
    }

    /// Replaces the configurations (the runtime does this on reconfigure).
    public func updateConfigurations(_ newValue: [String: JSONValue]) {
        configurations.withLock { $0 = newValue }
    }
}
