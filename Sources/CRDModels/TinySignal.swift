public import JSONSchemaKit
public import KubernetesModels

/// A one-shot trigger sent to a node's port, the way a user "presses a
/// button" on a node; the operator delivers it once and records the outcome.
public struct TinySignal: CustomResource, Hashable {
    public static let apiVersion = "\(tinyflowGroup)/\(tinyflowVersion)"
    public static let kind = "TinySignal"
    public static let plural = "tinysignals"
    public static let singular = "tinysignal"
    public static let shortNames = ["ts"]
    public static let resourceDescription = "A one-shot message sent to a port of a TinyNode."
    public static var printerColumns: [CustomResourceDefinition.PrinterColumn] {
        [
            .init(name: "Node", type: "string", jsonPath: ".spec.node", description: "The target node"),
            .init(name: "Port", type: "string", jsonPath: ".spec.port", description: "The target port"),
            .init(name: "Phase", type: "string", jsonPath: ".status.phase", description: "Pending, Delivered or Failed"),
        ]
    }

    /// `tinyflow.dev/v1alpha1`.
    public var apiVersion: String = Self.apiVersion
    /// `TinySignal`.
    public var kind: String = Self.kind
    /// Standard object metadata.
    public var metadata: ObjectMeta
    /// What to send where.
    public var spec: TinySignalSpec
    /// Whether it was delivered.
    public var status: TinySignalStatus?

    /// Creates a signal.
    public init(metadata: ObjectMeta, spec: TinySignalSpec, status: TinySignalStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

/// What a TinySignal sends where.
@Schema
public struct TinySignalSpec: Codable, Sendable, Hashable {
    /// The target TinyNode's name.
    @SchemaField(minLength: 1)
    public var node: String
    /// The target input port.
    @SchemaField(minLength: 1)
    public var port: String
    /// The message payload.
    public var payload: JSONValue = .object([:])

    /// Creates a spec.
    public init(node: String, port: String, payload: JSONValue = .object([:])) {
        self.node = node
        self.port = port
        self.payload = payload
    }
}

/// Where a signal is in its one-shot life.
@Schema
public enum SignalPhase: String, Codable, Sendable, Hashable {
    /// Not delivered yet.
    case pending = "Pending"
    /// Accepted by the target node.
    case delivered = "Delivered"
    /// Could not be delivered; see the message.
    case failed = "Failed"
}

/// The outcome of a TinySignal.
@Schema
public struct TinySignalStatus: Codable, Sendable, Hashable {
    /// The `metadata.generation` this status describes.
    public var observedGeneration: Int64?
    /// Pending, Delivered or Failed.
    public var phase: SignalPhase = .pending
    /// A CamelCase reason for the phase.
    public var reason: String?
    /// Why delivery failed, or what accepted it.
    public var message: String?
    /// When the signal was delivered or failed.
    public var completionTime: Timestamp?

    /// Creates a status.
    public init(
        observedGeneration: Int64? = nil, phase: SignalPhase = .pending, reason: String? = nil, message: String? = nil,
        completionTime: Timestamp? = nil
    ) {
        self.observedGeneration = observedGeneration
        self.phase = phase
        self.reason = reason
        self.message = message
        self.completionTime = completionTime
    }
}
