public import JSONSchemaKit

/// An `apiextensions.k8s.io/v1` CustomResourceDefinition: how Tinyflow
/// publishes its API types to an API server.
public struct CustomResourceDefinition: KubernetesObject, Hashable {
    public static let apiVersion = "apiextensions.k8s.io/v1"
    public static let kind = "CustomResourceDefinition"
    public static let plural = "customresourcedefinitions"
    public static let isNamespaced = false

    /// Always `apiextensions.k8s.io/v1`.
    public var apiVersion: String = Self.apiVersion
    /// Always `CustomResourceDefinition`.
    public var kind: String = Self.kind
    /// `metadata.name` is `<plural>.<group>`.
    public var metadata: ObjectMeta
    /// What the resource is called and how it is served.
    public var spec: Spec

    /// Creates a CRD named `<plural>.<group>`.
    public init(spec: Spec) {
        self.metadata = ObjectMeta(name: "\(spec.names.plural).\(spec.group)")
        self.spec = spec
    }

    /// The CRD's specification.
    public struct Spec: Codable, Sendable, Hashable {
        /// The API group, e.g. `tinyflow.dev`.
        public var group: String
        /// Names of the resource.
        public var names: Names
        /// `Namespaced` or `Cluster`.
        public var scope: String
        /// The served versions.
        public var versions: [Version]

        /// Creates a spec.
        public init(group: String, names: Names, scope: String, versions: [Version]) {
            self.group = group
            self.names = names
            self.scope = scope
            self.versions = versions
        }
    }

    /// Names of the resource.
    public struct Names: Codable, Sendable, Hashable {
        /// URL name, e.g. `tinynodes`.
        public var plural: String
        /// Singular name, e.g. `tinynode`.
        public var singular: String
        /// The kind, e.g. `TinyNode`.
        public var kind: String
        /// The list kind, e.g. `TinyNodeList`.
        public var listKind: String
        /// Abbreviations for kubectl, e.g. `tn`.
        public var shortNames: [String]?
        /// Groups for `kubectl get <category>`.
        public var categories: [String]?

        /// Creates names.
        public init(
            plural: String, singular: String, kind: String, listKind: String, shortNames: [String]?,
            categories: [String]?
        ) {
            self.plural = plural
            self.singular = singular
            self.kind = kind
            self.listKind = listKind
            self.shortNames = shortNames
            self.categories = categories
        }
    }

    /// One served version.
    public struct Version: Codable, Sendable, Hashable {
        /// e.g. `v1alpha1`.
        public var name: String
        /// Whether the version is served.
        public var served: Bool
        /// Whether objects are stored in this version (exactly one version).
        public var storage: Bool
        /// The structural schema.
        public var schema: Validation
        /// Enabled subresources (`status`).
        public var subresources: Subresources?
        /// Columns for `kubectl get`.
        public var additionalPrinterColumns: [PrinterColumn]?

        /// Creates a version.
        public init(
            name: String, served: Bool, storage: Bool, schema: Validation, subresources: Subresources?,
            additionalPrinterColumns: [PrinterColumn]?
        ) {
            self.name = name
            self.served = served
            self.storage = storage
            self.schema = schema
            self.subresources = subresources
            self.additionalPrinterColumns = additionalPrinterColumns
        }
    }

    /// Wraps the OpenAPI v3 schema.
    public struct Validation: Codable, Sendable, Hashable {
        /// The structural schema of the whole object.
        public var openAPIV3Schema: JSONValue
        /// Wraps a schema.
        public init(openAPIV3Schema: JSONValue) { self.openAPIV3Schema = openAPIV3Schema }
    }

    /// The subresources a version serves.
    public struct Subresources: Codable, Sendable, Hashable {
        /// Present (as `{}`) when `/status` is served.
        public var status: JSONValue?
        /// Serves `/status`.
        public init(status: Bool) { self.status = status ? .object([:]) : nil }
    }

    /// A column for `kubectl get`.
    public struct PrinterColumn: Codable, Sendable, Hashable {
        /// Column header.
        public var name: String
        /// `string`, `integer`, `number`, `boolean` or `date`.
        public var type: String
        /// A JSONPath into the object.
        public var jsonPath: String
        /// Shown by `kubectl explain`-like tools.
        public var description: String?
        /// 0 shows in the default view; higher only with `-o wide`.
        public var priority: Int?

        /// Creates a column.
        public init(name: String, type: String, jsonPath: String, description: String? = nil, priority: Int? = nil) {
            self.name = name
            self.type = type
            self.jsonPath = jsonPath
            self.description = description
            self.priority = priority
        }
    }
}

extension JSONSchema {
    /// The schema as a Kubernetes *structural* OpenAPI v3 schema, as a CRD needs it:
    /// free-form values become `x-kubernetes-preserve-unknown-fields: true`,
    /// `additionalProperties: false` is left out (the API server prunes unknown
    /// fields), and `uniqueItems` becomes `x-kubernetes-list-type: set`.
    public var structuralSchema: JSONValue {
        var document: [String: JSONValue] = [:]
        if let type {
            document["type"] = .string(type.rawValue)
        } else if enumValues == nil {
            document["x-kubernetes-preserve-unknown-fields"] = true
        }
        if let description { document["description"] = .string(description) }
        if !properties.isEmpty {
            document["properties"] = .object(properties.mapValues(\.structuralSchema))
        }
        if !required.isEmpty { document["required"] = .array(required.map(JSONValue.string)) }
        if let additionalProperties { document["additionalProperties"] = additionalProperties.structuralSchema }
        if let items { document["items"] = items.structuralSchema }
        if let enumValues { document["enum"] = .array(enumValues) }
        if let defaultValue { document["default"] = defaultValue }
        let original = jsonValue
        for keyword in ["minimum", "maximum", "minLength", "maxLength", "pattern", "format", "minItems", "maxItems", "nullable"] {
            if let value = original[keyword] { document[keyword] = value }
        }
        if let listMapKeys {
            document["x-kubernetes-list-type"] = "map"
            document["x-kubernetes-list-map-keys"] = .array(listMapKeys.map(JSONValue.string))
        } else if uniqueItems {
            document["x-kubernetes-list-type"] = "set"
        }
        return .object(document)
    }
}
