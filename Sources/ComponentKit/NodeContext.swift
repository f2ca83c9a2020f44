public import ContextStoreAPI
public import Logging
import Synchronization

/// What a running node knows about itself: its name, its ports' effective
/// configuration, a logger and its context stores. Shared by `handle` and `run`.
public final class NodeContext: Sendable {
    /// The node's (TinyNode's) name.
    public let node: String
    /// The node's namespace.
    public let namespace: String
    /// The TinyFlow the node belongs to, if any.
    public let flow: String?
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
    private let contextStore: (any ContextStore)?

    /// Creates a context with the given effective port configurations; `contextStore` is where
    /// ``store(_:)`` keeps state (the module host passes the one it was started with).
    public init(
        node: String, namespace: String = "default", flow: String? = nil, configurations: [String: JSONValue] = [:],
        contextStore: (any ContextStore)? = nil, logger: Logger
    ) {
        self.node = node
        self.namespace = namespace
        self.flow = flow
        self.baseLogger = logger
        self.configurations = Mutex(configurations)
        self.contextStore = contextStore
    }

    /// The node's own context (`.node`), its flow's (`.flow`) or its namespace's (`.global`):
    /// state that outlives messages, survives host restarts with a persistent store and is
    /// shared by every replica of the module.
    ///
    /// While the node handles a message from a durable edge, the store is that message's
    /// ``ContextTransaction``: its writes are applied when the message is settled, exactly once.
    ///
    /// Throws ``ContextStoreError/noFlow(node:)`` for `.flow` when the node belongs to no
    /// TinyFlow, and ``ContextStoreError/unavailable(store:reason:)`` when the node runs
    /// without a store.
    public func store(_ kind: ContextScope.Kind) throws(ContextStoreError) -> NodeContextStore {
        guard let contextStore else {
            throw .unavailable(store: "none", reason: "node \(node) runs without a context store")
        }
        return NodeContextStore(store: ContextTransaction.current ?? contextStore, scope: try contextScope(kind))
    }

    /// The scope `kind` means for this node.
    public func contextScope(_ kind: ContextScope.Kind) throws(ContextStoreError) -> ContextScope {
        switch kind {
        case .node: return .node(namespace: namespace, node: node)
        case .flow:
            guard let flow else { throw .noFlow(node: node) }
            return .flow(namespace: namespace, flow: flow)
        case .global: return .global(namespace: namespace)
        }
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
