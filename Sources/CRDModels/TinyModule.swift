public import JSONSchemaKit
public import KubernetesModels

/// A module installed on the cluster (usually by Helm): a container image of
/// components, run by module-host replicas behind a Service.
public struct TinyModule: CustomResource, Hashable {
    public static let apiVersion = "\(tinyflowGroup)/\(tinyflowVersion)"
    public static let kind = "TinyModule"
    public static let plural = "tinymodules"
    public static let singular = "tinymodule"
    public static let shortNames = ["tm"]
    public static let resourceDescription =
        "A Tinyflow module: a container image of components, run by module-host replicas."
    public static var printerColumns: [CustomResourceDefinition.PrinterColumn] {
        [
            .init(name: "Version", type: "string", jsonPath: ".spec.version", description: "The module version"),
            .init(name: "Replicas", type: "integer", jsonPath: ".status.readyReplicas", description: "Ready module-host replicas"),
            .init(name: "Address", type: "string", jsonPath: ".status.address", description: "Where the module's hosts listen", priority: 1),
            conditionColumn("Ready"),
        ]
    }

    /// `tinyflow.dev/v1alpha1`.
    public var apiVersion: String = Self.apiVersion
    /// `TinyModule`.
    public var kind: String = Self.kind
    /// Standard object metadata.
    public var metadata: ObjectMeta
    /// The desired module.
    public var spec: TinyModuleSpec
    /// The module as the operator last observed it.
    public var status: TinyModuleStatus?

    /// Creates a module.
    public init(metadata: ObjectMeta, spec: TinyModuleSpec, status: TinyModuleStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

/// The desired state of a TinyModule.
@Schema
public struct TinyModuleSpec: Codable, Sendable, Hashable {
    /// The container image of the module host, e.g. `ghcr.io/acme/common-module:0.1.0`.
    public var image: String = ""
    /// The module version the image provides.
    public var version: String?
    /// How many module-host replicas run the module.
    @SchemaField(minimum: 0)
    public var replicas: Int = 1
    /// Where the module's hosts listen (`host:port`), when not discovered from a Service.
    public var address: String?

    /// Creates a spec.
    public init(image: String = "", version: String? = nil, replicas: Int = 1, address: String? = nil) {
        self.image = image
        self.version = version
        self.replicas = replicas
        self.address = address
    }
}

/// The observed state of a TinyModule.
@Schema
public struct TinyModuleStatus: Codable, Sendable, Hashable {
    /// The `metadata.generation` this status describes.
    public var observedGeneration: Int64?
    /// The components the module hosts report.
    public var components: [ComponentDescription] = []
    /// The Service address of the module's hosts (`name.namespace.svc:port`).
    public var address: String?
    /// Module-host replicas that answer.
    @SchemaField(minimum: 0)
    public var readyReplicas: Int = 0
    /// `Ready` and `Available`.
    @SchemaField(listMapKeys: ["type"])
    public var conditions: [Condition] = []

    /// Creates a status.
    public init(
        observedGeneration: Int64? = nil, components: [ComponentDescription] = [], address: String? = nil,
        readyReplicas: Int = 0, conditions: [Condition] = []
    ) {
        self.observedGeneration = observedGeneration
        self.components = components
        self.address = address
        self.readyReplicas = readyReplicas
        self.conditions = conditions
    }
}
