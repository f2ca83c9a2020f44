public import ComponentKit
public import ConfigurationReferences

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
    /// The TinyNode's namespace: the boundary of its context and its durable queues (`nil`: `default`).
    public var namespace: String?
    /// The TinyFlow the node belongs to (`spec.flow`): whose flow context it shares.
    public var flow: String?
    /// The most hops a message the node sends may have made (its TinyFlow's
    /// `spec.maxHops`); beyond, the host refuses to send it. `nil`: ``Message/defaultMaxHops``.
    public var maxHops: Int?
    /// The values of the flow parameters the port configurations refer to
    /// (`${param:NAME}`), by name: literal, or a key of a Secret or ConfigMap that the
    /// host reads. `nil`: none.
    public var parameters: [String: ParameterValue]?
    /// The node's input ports that durable edges lead to, sorted: the host takes their
    /// messages from its message store. `nil`: none. (Its own durable edges say
    /// `delivery: durable`: the operator resolves each edge's delivery, the flow's default
    /// included.)
    public var durableInputs: [String]?
    /// The retry policies of the durable edges that lead to the node, by `<node>/<edge id>`
    /// of their source (``MessageStoreAPI/DurableEdge``): what decides redelivery and dead
    /// letters for the messages they bring. An edge without a policy is not listed: its
    /// messages are tried once. `nil`: none.
    public var durableRetryPolicies: [String: RetryPolicy]?
    /// Whether the node's flow is paused (`spec.paused`): a source does not run, durable
    /// inputs are not taken. `nil`: not paused.
    public var paused: Bool?

    /// Creates a definition.
    public init(
        name: String, component: String, generation: Int64 = 1, ports: [PortConfiguration] = [], edges: [Edge] = [],
        namespace: String? = nil, flow: String? = nil, maxHops: Int? = nil, parameters: [String: ParameterValue]? = nil,
        durableInputs: [String]? = nil, durableRetryPolicies: [String: RetryPolicy]? = nil, paused: Bool? = nil
    ) {
        self.parameters = parameters
        self.durableInputs = durableInputs
        self.durableRetryPolicies = durableRetryPolicies
        self.paused = paused
        self.name = name
        self.component = component
        self.generation = generation
        self.ports = ports
        self.edges = edges
        self.namespace = namespace
        self.flow = flow
        self.maxHops = maxHops
    }
}

/// The complete set of nodes one module host should run: `SyncNodes`' request.
/// Syncing is idempotent: the same state twice changes nothing.
public struct DesiredNodes: Codable, Sendable, Hashable {
    /// Increases with every sync the operator sends; an older generation than
    /// the last one applied is ignored.
    public var generation: Int64
    /// The sending operator's leadership term (its leader-election Lease's
    /// `leaseTransitions` when it became leader; `nil` means 0): a sync of a newer term is
    /// applied whatever its generation, one of an older term never. So a deposed leader,
    /// or any caller with an outsized generation, cannot hold a host against the
    /// operator that leads now.
    public var term: Int64?
    /// Every node the host should run; nodes not listed are drained and stopped.
    public var nodes: [NodeDefinition]
    /// For edge targets outside this module: node name → the module that runs it.
    public var remoteNodes: [String: String]
    /// Replica addresses (`host:port`) of every module edges lead to.
    public var moduleAddresses: [String: [String]]

    /// Creates a desired state.
    public init(
        generation: Int64, term: Int64? = nil, nodes: [NodeDefinition], remoteNodes: [String: String] = [:],
        moduleAddresses: [String: [String]] = [:]
    ) {
        self.generation = generation
        self.term = term
        self.nodes = nodes
        self.remoteNodes = remoteNodes
        self.moduleAddresses = moduleAddresses
    }
}

extension NodeDefinition {
    /// Whether the node sends or receives on durable edges: its host needs a persistent store.
    public var usesDurableEdges: Bool {
        !(durableInputs ?? []).isEmpty || edges.contains { $0.delivery == .durable }
    }
}
