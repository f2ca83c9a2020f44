public import JSONSchemaKit
public import KubernetesModels

/// A flow: a group of TinyNodes (labelled `tinyflow.dev/flow: <name>`) with
/// a numbered history of its deployments that can be rolled back.
public struct TinyFlow: CustomResource, Hashable {
    public static let apiVersion = "\(tinyflowGroup)/\(tinyflowVersion)"
    public static let kind = "TinyFlow"
    public static let plural = "tinyflows"
    public static let singular = "tinyflow"
    public static let shortNames = ["tf"]
    public static let resourceDescription =
        "A Tinyflow flow: a group of TinyNodes with a revision history of its deployments."
    /// The label that puts a TinyNode into a flow.
    public static let flowLabel = "tinyflow.dev/flow"
    /// The annotation whose value becomes a revision's summary.
    public static let changeSummaryAnnotation = "tinyflow.dev/change-summary"
    /// The annotation naming who made a change, for clients that write with a field
    /// manager of their own (the console): a revision's author when the node's latest
    /// write set it, else the latest write's field manager.
    public static let changeAuthorAnnotation = "tinyflow.dev/change-author"
    public static var printerColumns: [CustomResourceDefinition.PrinterColumn] {
        [
            .init(name: "Nodes", type: "integer", jsonPath: ".status.nodeCount", description: "Nodes in the flow"),
            .init(name: "Ready", type: "integer", jsonPath: ".status.readyNodes", description: "Nodes that are Ready"),
            .init(name: "Revision", type: "integer", jsonPath: ".status.currentRevision", description: "The deployed revision"),
        ]
    }

    /// `tinyflow.dev/v1alpha1`.
    public var apiVersion: String = Self.apiVersion
    /// `TinyFlow`.
    public var kind: String = Self.kind
    /// Standard object metadata.
    public var metadata: ObjectMeta
    /// The desired flow.
    public var spec: TinyFlowSpec
    /// The flow as the operator last observed it.
    public var status: TinyFlowStatus?

    /// A flow needs no spec: `kind: TinyFlow` with a name is a flow.
    public static var defaultSpec: TinyFlowSpec? { TinyFlowSpec() }

    /// Creates a flow.
    public init(metadata: ObjectMeta, spec: TinyFlowSpec = TinyFlowSpec(), status: TinyFlowStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    /// Decodes a flow; an absent `spec` is the default spec.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? Self.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? Self.kind
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        spec = try container.decodeIfPresent(TinyFlowSpec.self, forKey: .spec) ?? TinyFlowSpec()
        status = try container.decodeIfPresent(TinyFlowStatus.self, forKey: .status)
    }
}

/// The desired state of a TinyFlow.
@Schema
public struct TinyFlowSpec: Codable, Sendable, Hashable {
    /// What the flow does.
    public var description: String?
    /// How many revisions the history keeps.
    @SchemaField(minimum: 1)
    public var revisionHistoryLimit: Int = 10
    /// How many hops (edges crossed, one after another) a message of the flow
    /// may make; beyond, the module host does not deliver it but sends it to
    /// the sending node's error port and counts it as an error, so that a cycle
    /// of nodes cannot circulate messages for ever.
    @SchemaField(minimum: 1, maximum: 1_000_000)
    public var maxHops: Int = 256
    /// Values the flow's nodes use in their port configurations as `${param:NAME}`, so
    /// that one flow runs in several environments with different values (an overlay
    /// changes only these). Each has a literal `value` or a `valueFrom` a Secret or
    /// ConfigMap key of the flow's namespace, which the module hosts read.
    @SchemaField(listMapKeys: ["name"])
    public var parameters: [FlowParameter] = []
    /// How the flow's edges carry messages when an edge does not say (`memory` or
    /// `durable`); absent: `memory`.
    public var delivery: EdgeDelivery?
    /// Whether the flow is paused: its source nodes stop, its durable edges hold their
    /// messages (stored, not delivered) and its memory edges drain. `false` resumes it
    /// without loss.
    public var paused: Bool = false

    /// Creates a spec.
    public init(
        description: String? = nil, revisionHistoryLimit: Int = 10, maxHops: Int = 256, parameters: [FlowParameter] = [],
        delivery: EdgeDelivery? = nil, paused: Bool = false
    ) {
        self.description = description
        self.revisionHistoryLimit = revisionHistoryLimit
        self.maxHops = maxHops
        self.parameters = parameters
        self.delivery = delivery
        self.paused = paused
    }
}

/// One parameter of a flow: `value` or `valueFrom`.
@Schema
public struct FlowParameter: Codable, Sendable, Hashable {
    /// The name nodes use in `${param:NAME}`: letters, digits, `-`, `_` and `.`.
    @SchemaField(minLength: 1, maxLength: 253, pattern: "^[-._a-zA-Z0-9]+$")
    public var name: String
    /// A literal value (any JSON value). A configuration string that is exactly
    /// `${param:NAME}` becomes this value, with its type; within other text it is put in
    /// as text.
    public var value: JSONValue?
    /// Where the value comes from instead: a key of a Secret or a ConfigMap.
    public var valueFrom: ParameterSource?

    /// Creates a parameter.
    public init(name: String, value: JSONValue? = nil, valueFrom: ParameterSource? = nil) {
        self.name = name
        self.value = value
        self.valueFrom = valueFrom
    }
}

/// A Secret's or a ConfigMap's key that holds a parameter's value (one of the two).
@Schema
public struct ParameterSource: Codable, Sendable, Hashable {
    /// A key of a Secret in the flow's namespace; its value is redacted wherever shown.
    public var secretKeyRef: KeySelector?
    /// A key of a ConfigMap in the flow's namespace.
    public var configMapKeyRef: KeySelector?

    /// Creates a source.
    public init(secretKeyRef: KeySelector? = nil, configMapKeyRef: KeySelector? = nil) {
        self.secretKeyRef = secretKeyRef
        self.configMapKeyRef = configMapKeyRef
    }
}

/// A key of a named Secret or ConfigMap.
@Schema
public struct KeySelector: Codable, Sendable, Hashable {
    /// The object's name.
    @SchemaField(minLength: 1, maxLength: 253)
    public var name: String
    /// The key.
    @SchemaField(minLength: 1, maxLength: 253)
    public var key: String

    /// Creates a selector.
    public init(name: String, key: String) {
        self.name = name
        self.key = key
    }
}

/// How well a flow's nodes are doing.
@Schema
public enum FlowHealth: String, Codable, Sendable, Hashable {
    /// Every node is Ready.
    case healthy = "Healthy"
    /// Some nodes are not Ready.
    case degraded = "Degraded"
    /// The flow has no nodes, or none was observed yet.
    case unknown = "Unknown"
}

extension FlowHealth {
    /// What a flow's nodes say of it: how many count (those not being deleted), how many of
    /// those are Ready, and the health that makes — `Unknown` without nodes, else `Healthy`
    /// when all are Ready, else `Degraded`. The operator's status and the console both.
    public static func of(_ nodes: [TinyNode]) -> (nodeCount: Int, readyNodes: Int, health: FlowHealth) {
        let live = nodes.filter { $0.metadata.deletionTimestamp == nil }
        let ready = live.filter { $0.status?.conditions.isTrue(TinyNodeCondition.ready) ?? false }.count
        return (live.count, ready, live.isEmpty ? .unknown : (ready == live.count ? .healthy : .degraded))
    }
}

/// The observed state of a TinyFlow.
@Schema
public struct TinyFlowStatus: Codable, Sendable, Hashable {
    /// The `metadata.generation` this status describes.
    public var observedGeneration: Int64?
    /// Nodes in the flow.
    @SchemaField(minimum: 0)
    public var nodeCount: Int = 0
    /// Nodes that are Ready.
    @SchemaField(minimum: 0)
    public var readyNodes: Int = 0
    /// Healthy, Degraded or Unknown.
    public var health: FlowHealth = .unknown
    /// The number of the revision that is deployed.
    public var currentRevision: Int?
    /// The deployments of the flow's node set, oldest first.
    @SchemaField(listMapKeys: ["number"])
    public var revisions: [FlowRevision] = []
    /// `Ready`.
    @SchemaField(listMapKeys: ["type"])
    public var conditions: [Condition] = []

    /// Creates a status.
    public init(
        observedGeneration: Int64? = nil, nodeCount: Int = 0, readyNodes: Int = 0, health: FlowHealth = .unknown,
        currentRevision: Int? = nil, revisions: [FlowRevision] = [], conditions: [Condition] = []
    ) {
        self.observedGeneration = observedGeneration
        self.nodeCount = nodeCount
        self.readyNodes = readyNodes
        self.health = health
        self.currentRevision = currentRevision
        self.revisions = revisions
        self.conditions = conditions
    }
}

/// One deployment of a flow's node set.
@Schema
public struct FlowRevision: Codable, Sendable, Hashable {
    /// Increases by one with every change of the node set.
    @SchemaField(minimum: 1)
    public var number: Int
    /// Who made the change (the field manager or user that wrote it).
    public var author: String?
    /// When the revision was recorded.
    public var time: Timestamp
    /// What changed, from the `tinyflow.dev/change-summary` annotation or generated.
    public var summary: String = ""
    /// The node set of this revision.
    @SchemaField(listMapKeys: ["name"])
    public var nodes: [FlowNodeSnapshot] = []

    /// Creates a revision.
    public init(number: Int, author: String? = nil, time: Timestamp, summary: String = "", nodes: [FlowNodeSnapshot] = []) {
        self.number = number
        self.author = author
        self.time = time
        self.summary = summary
        self.nodes = nodes
    }
}

/// A node as it was in a flow revision.
@Schema
public struct FlowNodeSnapshot: Codable, Sendable, Hashable {
    /// The TinyNode's name.
    public var name: String
    /// The TinyNode's spec at that revision.
    public var spec: TinyNodeSpec

    /// Creates a snapshot.
    public init(name: String, spec: TinyNodeSpec) {
        self.name = name
        self.spec = spec
    }
}
