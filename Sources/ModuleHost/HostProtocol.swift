public import ComponentKit

// The seams between a module host's node runtime and the transport that
// connects it to the operator and to other modules' hosts. The runtime
// implements `ModuleHostControl` and `MessageSink`; a transport (gRPC in
// production, in-memory fakes in tests) calls them for what arrives, and
// implements `Transport` for what leaves.

/// A node a module host should run: what `SyncNodes` carries per node.
public struct NodeDefinition: Codable, Sendable, Hashable {
    /// The TinyNode's name; unique within the module host.
    public var name: String
    /// The component, by name, in the host's module.
    public var component: String
    /// The TinyNode's `metadata.generation`; a change means reconfigure.
    public var generation: Int64
    /// Port configurations, validated against the component's schemas by the host too.
    public var ports: [PortConfiguration]
    /// Outgoing edges, targets as `<node>:<port>`.
    public var edges: [Edge]

    /// Creates a definition.
    public init(name: String, component: String, generation: Int64 = 1, ports: [PortConfiguration] = [], edges: [Edge] = []) {
        self.name = name
        self.component = component
        self.generation = generation
        self.ports = ports
        self.edges = edges
    }
}

/// The complete set of nodes one module host should run: `SyncNodes`' request.
/// Syncing is idempotent: the same state twice changes nothing.
public struct DesiredNodes: Codable, Sendable, Hashable {
    /// Increases with every sync the operator sends; an older generation than
    /// the last one applied is ignored.
    public var generation: Int64
    /// Every node the host should run; nodes not listed are drained and stopped.
    public var nodes: [NodeDefinition]
    /// For edge targets outside this module: node name → the module that runs it.
    public var remoteNodes: [String: String]
    /// Replica addresses (`host:port`) of every module edges lead to.
    public var moduleAddresses: [String: [String]]

    /// Creates a desired state.
    public init(
        generation: Int64, nodes: [NodeDefinition], remoteNodes: [String: String] = [:],
        moduleAddresses: [String: [String]] = [:]
    ) {
        self.generation = generation
        self.nodes = nodes
        self.remoteNodes = remoteNodes
        self.moduleAddresses = moduleAddresses
    }
}

/// Where a node is in its life on a host.
public enum NodePhase: String, Codable, Sendable, Hashable {
    /// Being started (settings delivered, tasks spawned).
    case starting = "Starting"
    /// Running and accepting messages.
    case running = "Running"
    /// Its handler or `run` kept failing; waiting before a restart.
    case backingOff = "BackingOff"
    /// Rejected: invalid configuration or unknown component; see the error.
    case failed = "Failed"
    /// Draining its queued messages before it stops.
    case draining = "Draining"
    /// Stopped.
    case stopped = "Stopped"
}

/// The outcome of syncing one node.
public struct NodeSyncResult: Codable, Sendable, Hashable {
    /// The node's name.
    public var name: String
    /// The phase after the sync.
    public var phase: NodePhase
    /// Why the node was rejected, with TinyNode field paths.
    public var error: String?
    /// The generation of the node's definition the host runs, if it runs it.
    public var generation: Int64?

    /// Creates a result.
    public init(name: String, phase: NodePhase, error: String? = nil, generation: Int64? = nil) {
        self.name = name
        self.phase = phase
        self.error = error
        self.generation = generation
    }
}

/// `SyncNodes`' answer: one result per desired node.
public struct SyncResult: Codable, Sendable, Hashable {
    /// The generation that was applied (or the newer one already applied).
    public var generation: Int64
    /// Per-node outcomes.
    public var nodes: [NodeSyncResult]

    /// Creates a result.
    public init(generation: Int64, nodes: [NodeSyncResult]) {
        self.generation = generation
        self.nodes = nodes
    }
}

/// A node's state and counters, as `WatchNodeStatus` streams them.
public struct NodeStatusReport: Codable, Sendable, Hashable {
    /// The node's name.
    public var name: String
    /// The node's generation the host runs.
    public var generation: Int64
    /// Where the node is in its life.
    public var phase: NodePhase
    /// How often the node was restarted after failures.
    public var restarts: Int
    /// Messages received, delivered, errored, expired and sent.
    public var counters: NodeCounters
    /// The last error, if any.
    public var lastError: String?

    /// Creates a report.
    public init(name: String, generation: Int64, phase: NodePhase, restarts: Int = 0, counters: NodeCounters = NodeCounters(), lastError: String? = nil) {
        self.name = name
        self.generation = generation
        self.phase = phase
        self.restarts = restarts
        self.counters = counters
        self.lastError = lastError
    }
}

/// What a module host reports about itself: `Catalogue`'s answer.
public struct ModuleCatalogue: Codable, Sendable, Hashable {
    /// The module's name.
    public var module: String
    /// The module's version.
    public var version: String
    /// Every component with its ports and schemas.
    public var components: [ComponentDescription]

    /// Creates a catalogue.
    public init(module: String, version: String, components: [ComponentDescription]) {
        self.module = module
        self.version = version
        self.components = components
    }
}

/// The control API a module host serves to the operator.
public protocol ModuleHostControl: Sendable {
    /// The module's components, ports and schemas.
    func catalogue() async -> ModuleCatalogue
    /// Makes the running node set equal to `desired`; idempotent.
    func sync(_ desired: DesiredNodes) async -> SyncResult
    /// Calls `body` with the status of every node now and then whenever
    /// something changed, at most once per `interval`, until `body` throws or
    /// the calling task is cancelled.
    func watchStatus(interval: Duration, _ body: @Sendable ([NodeStatusReport]) async throws -> Void) async throws
    /// What a node kept of its recent messages (debug nodes), or `nil` for an unknown node.
    func recentMessages(node: String) async -> [Message]?
}

/// Where messages arriving from other modules' hosts are delivered.
public protocol MessageSink: Sendable {
    /// Delivers `message` to the local node and port in `message.to`; returns
    /// when the node accepted it (which may suspend: backpressure).
    func deliver(_ message: Message) async throws
    /// Delivers a request and returns the reply of the chain it starts,
    /// bounded by the message deadline.
    func request(_ message: Message) async throws -> JSONValue
}

/// How a module host reaches nodes run by other modules' hosts.
public protocol Transport: Sendable {
    /// Sends `message` (addressed by `message.to`) to a replica of `module`;
    /// returns when that host accepted it. Throws ``TransportError``.
    func send(_ message: Message, toModule module: String) async throws
    /// Sends `messages` (each addressed by its `to`) to `module` as one batch:
    /// they go to one replica, in order, and the call returns when every one
    /// was accepted or failed. Throws a ``BatchSendError`` naming every message
    /// that was not accepted (with a ``TransportError`` or `CancellationError`);
    /// all others were accepted. The default sends them one at a time.
    func send(contentsOf messages: [Message], toModule module: String) async throws(BatchSendError)
    /// Sends a request to a replica of `module` and returns the reply.
    func request(_ message: Message, toModule module: String) async throws -> JSONValue
    /// Replaces the known replica addresses (`host:port`) per module.
    func updateAddresses(_ addresses: [String: [String]]) async
}

extension Transport {
    /// Sends the messages one at a time with ``send(_:toModule:)``, going on
    /// after a failure; throws a ``BatchSendError`` naming those that failed.
    public func send(contentsOf messages: [Message], toModule module: String) async throws(BatchSendError) {
        var failures: [BatchSendError.Failure] = []
        for (index, message) in messages.enumerated() {
            do {
                try await send(message, toModule: module)
            } catch {
                failures.append(BatchSendError.Failure(index: index, messageID: message.id, error: error))
            }
        }
        if !failures.isEmpty { throw BatchSendError(count: messages.count, failures: failures) }
    }
}

/// Why a message could not cross to another module.
public enum TransportError: DeadlineReporting, Sendable, Hashable, CustomStringConvertible {
    /// No replica address is known for the module.
    case noReplicas(module: String)
    /// No replica answered before the message deadline.
    case deadlineExceeded(module: String, messageID: String)
    /// The module's replicas cannot be reached; the reason says why.
    case unavailable(module: String, reason: String)
    /// The remote host received the message but could not deliver it.
    case rejected(module: String, reason: String)

    public var isDeadlineExceeded: Bool {
        if case .deadlineExceeded = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .noReplicas(let module): "no replica address known for module \"\(module)\""
        case .deadlineExceeded(let module, let id): "message \(id) to module \"\(module)\" missed its deadline"
        case .unavailable(let module, let reason): "module \"\(module)\" is unavailable: \(reason)"
        case .rejected(let module, let reason): "module \"\(module)\" rejected the message: \(reason)"
        }
    }
}
