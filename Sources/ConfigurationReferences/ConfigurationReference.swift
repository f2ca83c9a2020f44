public import JSONSchemaKit

/// A reference inside a string of a port configuration, replaced by a value
/// before the component sees the configuration:
///
/// - `${secret:NAME/KEY}`: key `KEY` of the Secret `NAME` in the node's namespace,
/// - `${configmap:NAME/KEY}`: key `KEY` of the ConfigMap `NAME` in the node's namespace,
/// - `${param:NAME}`: the parameter `NAME` of the node's TinyFlow (`spec.parameters`).
///
/// `$${` stands for a literal `${`. `{{ }}` is not a reference: it stays for the
/// components that evaluate expressions per message.
public enum ConfigurationReference: Hashable, Sendable, CustomStringConvertible {
    /// Key `key` of the Secret `name` in the node's namespace.
    case secret(ObjectKeyReference)
    /// Key `key` of the ConfigMap `name` in the node's namespace.
    case configMap(ObjectKeyReference)
    /// The node's flow's parameter of this name.
    case parameter(String)

    /// The reference as it is written, e.g. `${secret:db/password}`.
    public var description: String {
        switch self {
        case .secret(let reference): "${secret:\(reference.name)/\(reference.key)}"
        case .configMap(let reference): "${configmap:\(reference.name)/\(reference.key)}"
        case .parameter(let name): "${param:\(name)}"
        }
    }
}

/// A key of a named Secret or ConfigMap (in the namespace of the node that refers to it).
public struct ObjectKeyReference: Codable, Hashable, Sendable, CustomStringConvertible {
    /// The object's name.
    public var name: String
    /// The key in its `data`.
    public var key: String

    /// A reference to `key` of `name`.
    public init(name: String, key: String) {
        self.name = name
        self.key = key
    }

    /// `NAME/KEY`.
    public var description: String { "\(name)/\(key)" }
}

/// The Secret or ConfigMap a reference reads.
public struct ReferencedObject: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Which kind of object.
    public enum Kind: String, Hashable, Sendable, Comparable {
        /// A core `v1` Secret: its values are redacted wherever messages, statuses or logs are shown.
        case secret = "Secret"
        /// A core `v1` ConfigMap.
        case configMap = "ConfigMap"

        public static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// Secret or ConfigMap.
    public var kind: Kind
    /// Its namespace (the node's).
    public var namespace: String
    /// Its name.
    public var name: String

    /// An object.
    public init(kind: Kind, namespace: String, name: String) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    public static func < (lhs: ReferencedObject, rhs: ReferencedObject) -> Bool {
        (lhs.kind, lhs.namespace, lhs.name) < (rhs.kind, rhs.namespace, rhs.name)
    }

    /// `Secret default/db`.
    public var description: String { "\(kind.rawValue) \(namespace)/\(name)" }
}

/// Where a flow parameter's value comes from, as the operator hands it to the
/// module host with the node definition: a literal value, or a key of a Secret or
/// ConfigMap that the host reads (so the operator never reads either).
///
/// Encoded as Kubernetes encodes the same choice: `{"value": …}`,
/// `{"secretKeyRef": {"name", "key"}}` or `{"configMapKeyRef": {"name", "key"}}`.
public enum ParameterValue: Codable, Hashable, Sendable {
    /// A literal value (any JSON value).
    case value(JSONValue)
    /// Key `key` of Secret `name` in the node's namespace.
    case secretKeyRef(ObjectKeyReference)
    /// Key `key` of ConfigMap `name` in the node's namespace.
    case configMapKeyRef(ObjectKeyReference)

    private enum CodingKeys: String, CodingKey { case value, secretKeyRef, configMapKeyRef }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let reference = try container.decodeIfPresent(ObjectKeyReference.self, forKey: .secretKeyRef) {
            self = .secretKeyRef(reference)
        } else if let reference = try container.decodeIfPresent(ObjectKeyReference.self, forKey: .configMapKeyRef) {
            self = .configMapKeyRef(reference)
        } else {
            self = .value(try container.decodeIfPresent(JSONValue.self, forKey: .value) ?? .null)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .value(let value): try container.encode(value, forKey: .value)
        case .secretKeyRef(let reference): try container.encode(reference, forKey: .secretKeyRef)
        case .configMapKeyRef(let reference): try container.encode(reference, forKey: .configMapKeyRef)
        }
    }

    /// The reference the parameter stands for when its value is not literal.
    public var reference: ConfigurationReference? {
        switch self {
        case .value: nil
        case .secretKeyRef(let reference): .secret(reference)
        case .configMapKeyRef(let reference): .configMap(reference)
        }
    }
}

