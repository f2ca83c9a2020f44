public import JSONSchemaKit
public import KubernetesModels

/// The API group of every Tinyflow resource.
public let tinyflowGroup = "tinyflow.dev"
/// The version of the Tinyflow API these types describe.
public let tinyflowVersion = "v1alpha1"

/// A Tinyflow resource type: a Kubernetes object with a spec and a status
/// whose CustomResourceDefinition is generated from the Swift types.
public protocol CustomResource: KubernetesObject {
    /// The desired state, written by users.
    associatedtype Spec: Codable, Sendable, Hashable, JSONSchemaRepresentable
    /// The observed state, written by the operator through `/status`.
    associatedtype Status: Codable, Sendable, Hashable, JSONSchemaRepresentable

    /// Lower-case singular name, e.g. `tinynode`.
    static var singular: String { get }
    /// Abbreviations for kubectl, e.g. `tn`.
    static var shortNames: [String] { get }
    /// What the resource is, for the CRD schema.
    static var resourceDescription: String { get }
    /// Columns `kubectl get` shows besides NAME.
    static var printerColumns: [CustomResourceDefinition.PrinterColumn] { get }
    /// The spec of an object written without one; `nil` (the default) when every
    /// object must have a spec, which the CRD then requires.
    static var defaultSpec: Spec? { get }

    /// The object's metadata.
    var metadata: ObjectMeta { get set }
    /// The desired state.
    var spec: Spec { get set }
    /// The observed state; absent until the operator first writes it.
    var status: Status? { get set }
}

extension CustomResource {
    /// Tinyflow resources are namespaced.
    public static var isNamespaced: Bool { true }

    /// A spec is required.
    public static var defaultSpec: Spec? { nil }

    /// The CustomResourceDefinition for this type.
    public static var customResourceDefinition: CustomResourceDefinition {
        var metadataSchema = JSONSchema(type: .object)
        metadataSchema.description = "Standard object metadata."
        var root = JSONSchema(type: .object, description: resourceDescription)
        root.properties = [
            "apiVersion": JSONSchema(
                type: .string, description: "The versioned schema of this object: \(apiVersion)."),
            "kind": JSONSchema(type: .string, description: "The kind of this object: \(kind)."),
            "metadata": metadataSchema,
            "spec": Spec.jsonSchema,
            "status": Status.jsonSchema,
        ]
        root.required = defaultSpec == nil ? ["spec"] : []
        return CustomResourceDefinition(
            spec: .init(
                group: tinyflowGroup,
                names: .init(
                    plural: plural, singular: singular, kind: kind, listKind: kind + "List",
                    shortNames: shortNames, categories: ["tinyflow"]),
                scope: isNamespaced ? "Namespaced" : "Cluster",
                versions: [
                    .init(
                        name: tinyflowVersion, served: true, storage: true,
                        schema: .init(openAPIV3Schema: root.structuralSchema),
                        subresources: .init(status: true),
                        additionalPrinterColumns: printerColumns + [
                            .init(name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp")
                        ])
                ]))
    }

    /// A printer column showing the status of one condition type.
    public static func conditionColumn(_ type: String) -> CustomResourceDefinition.PrinterColumn {
        .init(
            name: type, type: "string", jsonPath: ".status.conditions[?(@.type==\"\(type)\")].status",
            description: "Status of the \(type) condition")
    }
}

/// Every Tinyflow resource type, in the order their CRDs are written.
public let allCustomResourceDefinitions: [CustomResourceDefinition] = [
    TinyNode.customResourceDefinition,
    TinyModule.customResourceDefinition,
    TinyFlow.customResourceDefinition,
    TinySignal.customResourceDefinition,
]
