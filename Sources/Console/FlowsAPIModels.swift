public import CRDModels
public import KubernetesModels

// The JSON documents of the flows API (docs/console.md, Resources/openapi.json).

/// A flow in the list of flows.
public struct FlowSummary: Codable, Sendable, Hashable {
    /// The TinyFlow's name (``FlowsAPI/unassignedFlow`` for nodes without one).
    public var name: String
    /// `spec.description`.
    public var description: String?
    /// How many nodes it has.
    public var nodeCount: Int
    /// How many of them are Ready.
    public var readyNodes: Int
    /// `Healthy`, `Degraded` or `Unknown`.
    public var health: String
    /// Whether the flow is paused.
    public var paused: Bool
    /// The deployed revision, if any was recorded.
    public var currentRevision: Int?
}

/// `GET /api/flows`.
public struct FlowList: Codable, Sendable, Hashable {
    /// The namespace the console works in.
    public var namespace: String
    /// Every TinyFlow, sorted by name, then the nodes without a flow if there are any.
    public var flows: [FlowSummary]
}

/// A node as the console shows it: the TinyNode's own spec and status.
public struct NodeView: Codable, Sendable, Hashable {
    /// The node's name.
    public var name: String
    /// Its spec.
    public var spec: TinyNodeSpec
    /// Its status, once the operator wrote one.
    public var status: TinyNodeStatus?

    /// The view of `node`.
    public init(_ node: TinyNode) {
        name = node.metadata.name ?? ""
        spec = node.spec
        status = node.status
    }
}

/// `GET /api/flows/{name}`.
public struct FlowDetail: Codable, Sendable, Hashable {
    /// The flow's name.
    public var name: String
    /// Its namespace.
    public var namespace: String
    /// The flow's summary fields.
    public var description: String?
    public var health: String
    public var nodeCount: Int
    public var readyNodes: Int
    public var paused: Bool
    public var currentRevision: Int?
    /// Its nodes, sorted by name.
    public var nodes: [NodeView]
}

/// A revision in `GET /api/flows/{name}/revisions`.
public struct RevisionEntry: Codable, Sendable, Hashable {
    public var number: Int
    public var author: String?
    public var time: Timestamp
    public var summary: String
    public var nodeCount: Int
}

/// `GET /api/flows/{name}/revisions`: newest first.
public struct RevisionList: Codable, Sendable, Hashable {
    /// The deployed revision.
    public var current: Int?
    public var revisions: [RevisionEntry]
}

/// `GET /api/flows/{name}/revisions/{n}`.
public struct RevisionDetail: Codable, Sendable, Hashable {
    public var number: Int
    public var author: String?
    public var time: Timestamp
    public var summary: String
    /// The revision's nodes.
    public var nodes: [FlowNodeSnapshot]
    /// What turns the current nodes into this revision's.
    public var diff: NodeSetDiff
}

/// `POST /api/flows/{name}`: the flow's whole node set.
public struct DeployRequest: Codable, Sendable, Hashable {
    /// Why: the revision's summary.
    public var summary: String
    /// Every node the flow is to have.
    public var nodes: [FlowNodeSnapshot]
    /// Validate (and let the API server validate) without changing anything.
    public var dryRun: Bool?

    /// A request.
    public init(summary: String, nodes: [FlowNodeSnapshot], dryRun: Bool? = nil) {
        self.summary = summary
        self.nodes = nodes
        self.dryRun = dryRun
    }
}

/// What a deploy or rollback did.
public struct DeployResult: Codable, Sendable, Hashable {
    /// Nodes created or changed.
    public var applied: [String]
    /// Nodes deleted.
    public var deleted: [String]
    /// Nodes left as they were.
    public var unchanged: [String]

    /// A result.
    public init(applied: [String], deleted: [String], unchanged: [String]) {
        self.applied = applied
        self.deleted = deleted
        self.unchanged = unchanged
    }
}

/// `POST /api/flows/{name}/rollback`.
public struct RollbackRequest: Codable, Sendable, Hashable {
    /// The revision to go back to.
    public var revision: Int
}

/// `POST /api/flows/{name}/signals`.
public struct SignalRequest: Codable, Sendable, Hashable {
    /// The node and input port the payload goes to.
    public var node: String
    public var port: String
    /// The message payload (an empty object when absent).
    public var payload: JSONValue?

    /// A request.
    public init(node: String, port: String, payload: JSONValue? = nil) {
        self.node = node
        self.port = port
        self.payload = payload
    }
}

/// The TinySignal a signal request created.
public struct SignalResult: Codable, Sendable, Hashable {
    public var name: String
}

/// `GET /api/flows/{name}/nodes/{node}/messages`: as the operator's debug endpoint sends them.
public struct MessagesResult: Codable, Sendable, Hashable {
    public var messages: [JSONValue]
}

/// A module in the catalogue.
public struct ModuleEntry: Codable, Sendable, Hashable {
    public var name: String
    /// Whether a host of it answers.
    public var ready: Bool
    /// Its components as its hosts describe them.
    public var components: [ComponentDescription]
}

/// `GET /api/modules`.
public struct ModuleList: Codable, Sendable, Hashable {
    public var modules: [ModuleEntry]
}
