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
    /// Why the node was rejected, when there is a reason the operator shows as such
    /// (``NodeRejection/secretNotFound``).
    public var reason: String?

    /// Creates a result.
    public init(name: String, phase: NodePhase, error: String? = nil, generation: Int64? = nil, reason: String? = nil) {
        self.reason = reason
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

/// Reasons a host gives for rejecting a node (``NodeSyncResult/reason``, ``NodeStatusReport/reason``).
public enum NodeRejection {
    /// A `${secret:…}`, `${configmap:…}` or a parameter's `valueFrom` names a Secret,
    /// ConfigMap or key that does not exist (or that the host may not read).
    public static let secretNotFound = "SecretNotFound"
    /// A reference the host cannot resolve otherwise (an unknown parameter).
    public static let invalidReference = "InvalidReference"
    /// The node has durable edges (out or in) but the host keeps no persistent store
    /// (its `--context-store` is `memory`).
    public static let durableStoreUnavailable = "DurableStoreUnavailable"
}
