public import ComponentKit
public import MessageStoreAPI
import Logging
public import ModuleHost

/// Runs a module runtime for the duration of `body`, then shuts it down gracefully; its
/// nodes keep context in `contextStore` (by default a fresh in-memory store).
public func withRuntime<T: Sendable>(
    _ module: ModuleDefinition, configuration: ModuleRuntime.Configuration = .init(),
    transport: (any Transport)? = nil, contextStore: (any ContextStore)? = nil, messageStore: (any MessageStore)? = nil,
    _ body: (ModuleRuntime) async throws -> T
) async throws -> T {
    let runtime =
        if let contextStore {
            ModuleRuntime(
                module: module, transport: transport, contextStore: contextStore, messageStore: messageStore,
                configuration: configuration, logger: Logger(label: "test"))
        } else {
            ModuleRuntime(
                module: module, transport: transport, messageStore: messageStore, configuration: configuration,
                logger: Logger(label: "test"))
        }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await runtime.run() }
        do {
            let result = try await body(runtime)
            await runtime.shutdown()
            try await group.waitForAll()
            return result
        } catch {
            await runtime.shutdown()
            try await group.waitForAll()
            throw error
        }
    }
}

/// A node definition with `_settings` configuration, in namespace `default`.
public func definition(
    _ name: String, _ component: String, settings: JSONValue? = nil, edges: [Edge] = [], generation: Int64 = 1,
    flow: String? = nil
) -> NodeDefinition {
    NodeDefinition(
        name: name, component: component, generation: generation,
        ports: settings.map { [PortConfiguration(port: "_settings", configuration: $0)] } ?? [], edges: edges,
        namespace: "default", flow: flow)
}

/// An edge from `port` to `<node>:<port>`.
public func edge(
    _ port: String, to target: String, id: String? = nil, retry: RetryPolicy? = nil, delivery: EdgeDelivery? = nil
) -> Edge {
    Edge(id: id ?? "\(port)->\(target)", port: port, to: target, retryPolicy: retry, delivery: delivery)
}

extension ModuleRuntime {
    /// A node's counters.
    public func counters(_ node: String) -> NodeCounters? { statusReports().first { $0.name == node }?.counters }
    /// A node's status.
    public func report(_ node: String) -> NodeStatusReport? { statusReports().first { $0.name == node } }
    /// What a debug node kept.
    public func debugMessages(_ node: String) async -> [Message] { await recentMessages(node: node) ?? [] }
}
