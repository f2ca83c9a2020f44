public import JSONSchemaKit
public import KubernetesModels

/// One node of a flow: an instance of a component from a module, with its
/// port configuration and edges to other nodes' ports.
public struct TinyNode: CustomResource, Hashable {
    public static let apiVersion = "\(tinyflowGroup)/\(tinyflowVersion)"
    public static let kind = "TinyNode"
    public static let plural = "tinynodes"
    public static let singular = "tinynode"
    public static let shortNames = ["tn"]
    public static let resourceDescription =
        "A node of a Tinyflow flow: a component of a module, its port configuration and its edges."
    public static var printerColumns: [CustomResourceDefinition.PrinterColumn] {
        [
            .init(name: "Module", type: "string", jsonPath: ".spec.module", description: "The module that runs the node"),
            .init(name: "Component", type: "string", jsonPath: ".spec.component", description: "The component in the module"),
            conditionColumn("Ready"),
        ]
    }

    /// `tinyflow.dev/v1alpha1`.
    public var apiVersion: String = Self.apiVersion
    /// `TinyNode`.
    public var kind: String = Self.kind
    /// Standard object metadata.
    public var metadata: ObjectMeta
    /// The desired node.
    public var spec: TinyNodeSpec
    /// The node as the operator last observed it.
    public var status: TinyNodeStatus?

    /// Creates a node.
    public init(metadata: ObjectMeta, spec: TinyNodeSpec, status: TinyNodeStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

/// The desired state of a TinyNode.
@Schema
public struct TinyNodeSpec: Codable, Sendable, Hashable {
    /// The name of the module (TinyModule) whose hosts run this node.
    @SchemaField(minLength: 1)
    public var module: String
    /// The component, by name, within the module.
    @SchemaField(minLength: 1)
    public var component: String
    /// Configuration of the node's ports, checked against each port's schema (at most 256).
    @SchemaField(maxItems: 256, listMapKeys: ["port"])
    public var ports: [PortConfiguration] = []
    /// Connections from this node's output ports to other nodes' input ports (at most
    /// 1,000: the API server refuses more before it does work proportional to them).
    @SchemaField(maxItems: 1000, listMapKeys: ["id"])
    public var edges: [Edge] = []
    /// The TinyFlow this node belongs to, if any.
    public var flow: String?

    /// Creates a spec.
    public init(
        module: String, component: String, ports: [PortConfiguration] = [], edges: [Edge] = [],
        flow: String? = nil
    ) {
        self.module = module
        self.component = component
        self.ports = ports
        self.edges = edges
        self.flow = flow
    }

    /// The configuration given for a port, if any.
    public func configuration(of port: String) -> JSONValue? {
        ports.first { $0.port == port }?.configuration
    }
}

/// The configuration of one port of a node.
@Schema
public struct PortConfiguration: Codable, Sendable, Hashable {
    /// The port name; a component's settings port is always `_settings`.
    @SchemaField(minLength: 1)
    public var port: String
    /// A JSON value valid against the port's schema.
    public var configuration: JSONValue

    /// Creates a port configuration.
    public init(port: String, configuration: JSONValue) {
        self.port = port
        self.configuration = configuration
    }
}

/// A connection from one of this node's output ports to another node's input port.
@Schema
public struct Edge: Codable, Sendable, Hashable {
    /// Identifies the edge within the node.
    @SchemaField(minLength: 1)
    public var id: String
    /// The output port of this node the edge starts from.
    @SchemaField(minLength: 1)
    public var port: String
    /// The target, as `<node>:<port>`.
    @SchemaField(pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[A-Za-z0-9_][-A-Za-z0-9_]*$")
    public var to: String
    /// Builds the target port's message from the source message with
    /// expressions such as `{"url": "{{ $.payload.host }}/api"}`; absent, the
    /// message passes unchanged.
    public var mapping: JSONValue?
    /// How failed deliveries are retried; absent, they are not. On a durable edge a message
    /// that fails `maxAttempts` times (or whose `timeout` passed) is dead-lettered.
    public var retryPolicy: RetryPolicy?
    /// How the edge carries messages: `memory` (in the hosts' memory: fastest, lost if a
    /// host dies) or `durable` (stored until the target handled it, surviving hosts'
    /// deaths). Absent: the flow's `spec.delivery`, else `memory`.
    public var delivery: EdgeDelivery?
    /// On a durable edge, how many messages the target port's queue may hold before senders
    /// wait (backpressure), at most until their deadline. Absent: 100,000.
    @SchemaField(minimum: 1, maximum: 100_000_000)
    public var maxBacklog: Int?

    /// The backlog limit of a durable edge that sets none.
    public static let defaultMaxBacklog = 100_000

    /// How the edge carries messages in a flow whose `spec.delivery` is `flowDefault`: its own
    /// `delivery`, else the flow's, else `memory`.
    public func delivery(flowDefault: EdgeDelivery?) -> EdgeDelivery { delivery ?? flowDefault ?? .memory }

    /// Creates an edge.
    public init(
        id: String, port: String, to: String, mapping: JSONValue? = nil, retryPolicy: RetryPolicy? = nil,
        delivery: EdgeDelivery? = nil, maxBacklog: Int? = nil
    ) {
        self.id = id
        self.port = port
        self.to = to
        self.mapping = mapping
        self.retryPolicy = retryPolicy
        self.delivery = delivery
        self.maxBacklog = maxBacklog
    }

    /// The target node and port, or `nil` if `to` is not `<node>:<port>`.
    public var target: (node: String, port: String)? {
        let parts = to.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }
}

/// How an edge carries messages.
@Schema
public enum EdgeDelivery: String, Codable, Sendable, Hashable {
    /// Through bounded channels in memory and streams between hosts: fastest; a message in
    /// flight is lost when its host dies.
    case memory
    /// Stored in the module hosts' database (SQLite locally, PostgreSQL on clusters) until
    /// the target handled it: pulled by the target's hosts at their pace, by priority then
    /// deadline, redelivered when a host dies, dead-lettered when it cannot be delivered.
    case durable
}

/// How a failed delivery or handler is retried, with exponential backoff.
@Schema
public struct RetryPolicy: Codable, Sendable, Hashable {
    /// Attempts in all, the first one included.
    @SchemaField(minimum: 1)
    public var maxAttempts: Int = 3
    /// Wait before the first retry, as a duration such as `200ms` or `1s`.
    @SchemaField(pattern: durationPattern)
    public var initialDelay: String = "100ms"
    /// Each wait is the previous one times this factor.
    @SchemaField(minimum: 1)
    public var backoffCoefficient: Double = 2
    /// The longest wait between attempts.
    @SchemaField(pattern: durationPattern)
    public var maxDelay: String = "10s"
    /// The time all attempts together may take.
    @SchemaField(pattern: durationPattern)
    public var timeout: String?
    /// Error types that are never retried.
    public var nonRetryableErrors: [String] = []

    /// Creates a policy.
    public init(
        maxAttempts: Int = 3, initialDelay: String = "100ms", backoffCoefficient: Double = 2,
        maxDelay: String = "10s", timeout: String? = nil, nonRetryableErrors: [String] = []
    ) {
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
        self.backoffCoefficient = backoffCoefficient
        self.maxDelay = maxDelay
        self.timeout = timeout
        self.nonRetryableErrors = nonRetryableErrors
    }
}

/// The observed state of a TinyNode, written only by the operator.
@Schema
public struct TinyNodeStatus: Codable, Sendable, Hashable {
    /// The `metadata.generation` this status describes.
    public var observedGeneration: Int64?
    /// The module the node resolved to.
    public var module: ModuleReference?
    /// The component the node runs.
    public var component: ComponentSummary?
    /// The node's ports with their schemas and default configuration.
    @SchemaField(listMapKeys: ["name"])
    public var ports: [PortDescription] = []
    /// `Ready`, `Scheduled`, `ConfigValid` and `EdgesResolved`.
    @SchemaField(listMapKeys: ["type"])
    public var conditions: [Condition] = []
    /// The last error the node reported, if any.
    public var error: String?
    /// Message counters: cumulative over every run of the node (host restarts, `tinyflow up`
    /// restarts, operator restarts), the counts of its current run included.
    public var metrics: NodeMetrics?
    /// The node's current run on its module host and the counts of it that `metrics`
    /// includes: how the operator keeps `metrics` cumulative when a host starts counting
    /// from zero again.
    public var counted: CountedRun?

    /// Creates a status.
    public init(
        observedGeneration: Int64? = nil, module: ModuleReference? = nil, component: ComponentSummary? = nil,
        ports: [PortDescription] = [], conditions: [Condition] = [], error: String? = nil, metrics: NodeMetrics? = nil
    ) {
        self.observedGeneration = observedGeneration
        self.module = module
        self.component = component
        self.ports = ports
        self.conditions = conditions
        self.error = error
        self.metrics = metrics
    }
}

/// The module a node resolved to.
@Schema
public struct ModuleReference: Codable, Sendable, Hashable {
    /// The TinyModule's name.
    public var name: String
    /// The module's version.
    public var version: String?
    /// Where the module's hosts are reached (`host:port`).
    public var address: String?

    /// Creates a reference.
    public init(name: String, version: String? = nil, address: String? = nil) {
        self.name = name
        self.version = version
        self.address = address
    }
}

/// Message counters of one node.
@Schema
public struct NodeMetrics: Codable, Sendable, Hashable {
    /// Messages received on input ports.
    @SchemaField(minimum: 0)
    public var messagesIn: Int64 = 0
    /// Messages sent on output ports.
    @SchemaField(minimum: 0)
    public var messagesOut: Int64 = 0
    /// Messages whose handling failed.
    @SchemaField(minimum: 0)
    public var errors: Int64 = 0
    /// Messages whose handler completed.
    @SchemaField(minimum: 0)
    public var delivered: Int64?
    /// Messages a module host had accepted and not finished when its run of the node ended
    /// without saying so (the host died or restarted): what its last report had in and not
    /// out. With them, `messagesIn = delivered + errors + expired + dropped + lost` once the
    /// node is idle, across restarts.
    @SchemaField(minimum: 0)
    public var lost: Int64?
    /// Messages dropped because their deadline had passed.
    @SchemaField(minimum: 0)
    public var expired: Int64 = 0
    /// Messages the node's host had accepted and never handled because the node was
    /// stopped (moved, replaced, its host shut down) and its stop timeout passed.
    @SchemaField(minimum: 0)
    public var dropped: Int64?
    /// When the node last received a message.
    public var lastMessageTime: Timestamp?
    /// Messages waiting in the node's input channels when the host last reported.
    @SchemaField(minimum: 0)
    public var queued: Int64?
    /// How many its input channels hold at most: `queued` at this means a full channel
    /// whose senders wait (backpressure).
    @SchemaField(minimum: 0)
    public var queueCapacity: Int64?
    /// Messages stored for the node's durable input ports (waiting or being handled).
    @SchemaField(minimum: 0)
    public var backlog: Int64?
    /// Durable messages delivered again after a failed attempt or a lost lease.
    @SchemaField(minimum: 0)
    public var redelivered: Int64?
    /// Durable messages for the node that were dead-lettered.
    @SchemaField(minimum: 0)
    public var deadLettered: Int64?

    /// Creates counters.
    public init(
        messagesIn: Int64 = 0, messagesOut: Int64 = 0, errors: Int64 = 0, expired: Int64 = 0, lastMessageTime: Timestamp? = nil,
        queued: Int64? = nil, queueCapacity: Int64? = nil, backlog: Int64? = nil, redelivered: Int64? = nil,
        deadLettered: Int64? = nil, dropped: Int64? = nil, delivered: Int64? = nil, lost: Int64? = nil
    ) {
        self.dropped = dropped
        self.delivered = delivered
        self.lost = lost
        self.backlog = backlog
        self.redelivered = redelivered
        self.deadLettered = deadLettered
        self.messagesIn = messagesIn
        self.messagesOut = messagesOut
        self.errors = errors
        self.expired = expired
        self.lastMessageTime = lastMessageTime
        self.queued = queued
        self.queueCapacity = queueCapacity
    }
}

/// One run of a node on its module host, as the node's status counted it: the run's id
/// (``NodeStatusReport/run``) and the counts of it included in `status.metrics`.
@Schema
public struct CountedRun: Codable, Sendable, Hashable {
    /// The run's id: a module host gives a node a new one whenever it starts counting it from zero.
    public var run: String
    /// The run's own counts as last folded into `status.metrics`.
    public var metrics: NodeMetrics

    /// Creates a counted run.
    public init(run: String, metrics: NodeMetrics) {
        self.run = run
        self.metrics = metrics
    }
}

/// The condition types of a TinyNode.
public enum TinyNodeCondition {
    /// The node runs and accepts messages.
    public static let ready = "Ready"
    /// The node's task was placed on its module's hosts.
    public static let scheduled = "Scheduled"
    /// Every port configuration is valid against its schema.
    public static let configValid = "ConfigValid"
    /// Every edge points at an existing node's existing input port.
    public static let edgesResolved = "EdgesResolved"
    /// The node's flow is paused: sources stopped, durable deliveries held.
    public static let paused = "Paused"
}

extension TinyNode {
    /// The TinyFlow the node belongs to: `spec.flow`, else its `tinyflow.dev/flow` label;
    /// `nil` when neither names one. Whose flow context the node shares.
    public var flowName: String? {
        if let flow = spec.flow, !flow.isEmpty { return flow }
        if let label = metadata.labels?[TinyFlow.flowLabel], !label.isEmpty { return label }
        return nil
    }
}
