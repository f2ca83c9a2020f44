import Foundation

/// A `coordination.k8s.io/v1` Lease: the lock behind leader election.
public struct Lease: KubernetesObject, Hashable {
    /// `coordination.k8s.io/v1`.
    public static let apiVersion = "coordination.k8s.io/v1"
    /// `Lease`.
    public static let kind = "Lease"
    /// `leases`.
    public static let plural = "leases"
    /// Leases live in namespaces.
    public static let isNamespaced = true

    /// Always `coordination.k8s.io/v1`.
    public var apiVersion: String = Self.apiVersion
    /// Always `Lease`.
    public var kind: String = Self.kind
    /// Standard object metadata.
    public var metadata: ObjectMeta
    /// Who holds the lease and for how long.
    public var spec: Spec

    /// Creates a lease.
    public init(metadata: ObjectMeta, spec: Spec = Spec()) {
        self.metadata = metadata
        self.spec = spec
    }

    private enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec }

    /// Decodes a lease; list items from API servers may leave out `apiVersion` and `kind`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? Self.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? Self.kind
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        spec = try container.decodeIfPresent(Spec.self, forKey: .spec) ?? Spec()
    }

    /// The lease record.
    public struct Spec: Codable, Sendable, Hashable {
        /// The identity of the current holder.
        public var holderIdentity: String?
        /// How long, after `renewTime`, the holder's claim lasts.
        public var leaseDurationSeconds: Int?
        /// When the current holder acquired the lease.
        public var acquireTime: MicroTime?
        /// When the holder last renewed it.
        public var renewTime: MicroTime?
        /// How many times the lease changed hands.
        public var leaseTransitions: Int?

        /// Creates a record.
        public init(
            holderIdentity: String? = nil, leaseDurationSeconds: Int? = nil, acquireTime: MicroTime? = nil,
            renewTime: MicroTime? = nil, leaseTransitions: Int? = nil
        ) {
            self.holderIdentity = holderIdentity
            self.leaseDurationSeconds = leaseDurationSeconds
            self.acquireTime = acquireTime
            self.renewTime = renewTime
            self.leaseTransitions = leaseTransitions
        }
    }
}

/// A reference to an object (`v1.ObjectReference`), e.g. what an Event is about.
public struct ObjectReference: Codable, Sendable, Hashable {
    /// The object's `apiVersion`.
    public var apiVersion: String?
    /// The object's kind.
    public var kind: String?
    /// The object's namespace.
    public var namespace: String?
    /// The object's name.
    public var name: String?
    /// The object's uid.
    public var uid: String?
    /// The object's resourceVersion when the reference was made.
    public var resourceVersion: String?
    /// A field within the object, if the reference is about one.
    public var fieldPath: String?

    /// Creates a reference.
    public init(
        apiVersion: String? = nil, kind: String? = nil, namespace: String? = nil, name: String? = nil,
        uid: String? = nil, resourceVersion: String? = nil, fieldPath: String? = nil
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.resourceVersion = resourceVersion
        self.fieldPath = fieldPath
    }

    /// A reference to `object`.
    public init<K: KubernetesObject>(to object: K) {
        self.init(
            apiVersion: K.apiVersion, kind: K.kind, namespace: object.metadata.namespace, name: object.metadata.name,
            uid: object.metadata.uid, resourceVersion: object.metadata.resourceVersion)
    }
}

/// An `events.k8s.io/v1` Event: a report of something notable that happened to an object.
public struct Event: KubernetesObject, Hashable {
    /// `events.k8s.io/v1`.
    public static let apiVersion = "events.k8s.io/v1"
    /// `Event`.
    public static let kind = "Event"
    /// `events`.
    public static let plural = "events"
    /// Events live in namespaces.
    public static let isNamespaced = true

    /// Always `events.k8s.io/v1`.
    public var apiVersion: String = Self.apiVersion
    /// Always `Event`.
    public var kind: String = Self.kind
    /// Standard object metadata.
    public var metadata: ObjectMeta
    /// When the event first happened.
    public var eventTime: MicroTime
    /// Present when the event happened more than once.
    public var series: Series?
    /// The controller that reported it, e.g. `tinyflow.dev/operator`.
    public var reportingController: String?
    /// The instance of that controller (e.g. its pod name).
    public var reportingInstance: String?
    /// What was done or failed, e.g. `Reconcile`.
    public var action: String?
    /// Why, in CamelCase, e.g. `ConfigInvalid`.
    public var reason: String?
    /// The object the event is about.
    public var regarding: ObjectReference?
    /// A second object involved, if any.
    public var related: ObjectReference?
    /// A human-readable description.
    public var note: String?
    /// `Normal` or `Warning`.
    public var type: String?

    /// Creates an event.
    public init(
        metadata: ObjectMeta, eventTime: MicroTime, reportingController: String?, reportingInstance: String?,
        action: String?, reason: String?, regarding: ObjectReference?, note: String?, type: String?
    ) {
        self.metadata = metadata
        self.eventTime = eventTime
        self.reportingController = reportingController
        self.reportingInstance = reportingInstance
        self.action = action
        self.reason = reason
        self.regarding = regarding
        self.note = note
        self.type = type
    }

    private enum CodingKeys: String, CodingKey {
        case apiVersion, kind, metadata, eventTime, series, reportingController, reportingInstance, action, reason
        case regarding, related, note, type
    }

    /// Decodes an event; list items from API servers may leave out `apiVersion` and `kind`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? Self.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? Self.kind
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        eventTime = try container.decodeIfPresent(MicroTime.self, forKey: .eventTime) ?? MicroTime(Date(timeIntervalSince1970: 0))
        series = try container.decodeIfPresent(Series.self, forKey: .series)
        reportingController = try container.decodeIfPresent(String.self, forKey: .reportingController)
        reportingInstance = try container.decodeIfPresent(String.self, forKey: .reportingInstance)
        action = try container.decodeIfPresent(String.self, forKey: .action)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
        regarding = try container.decodeIfPresent(ObjectReference.self, forKey: .regarding)
        related = try container.decodeIfPresent(ObjectReference.self, forKey: .related)
        note = try container.decodeIfPresent(String.self, forKey: .note)
        type = try container.decodeIfPresent(String.self, forKey: .type)
    }

    /// How often an event recurred.
    public struct Series: Codable, Sendable, Hashable {
        /// Occurrences so far (at least 2).
        public var count: Int
        /// When it last happened.
        public var lastObservedTime: MicroTime

        /// Creates a series.
        public init(count: Int, lastObservedTime: MicroTime) {
            self.count = count
            self.lastObservedTime = lastObservedTime
        }
    }
}

/// A core `v1` ConfigMap: string data by key.
public struct ConfigMap: KubernetesObject, Hashable {
    /// `v1`.
    public static let apiVersion = "v1"
    /// `ConfigMap`.
    public static let kind = "ConfigMap"
    /// `configmaps`.
    public static let plural = "configmaps"
    /// ConfigMaps live in namespaces.
    public static let isNamespaced = true

    /// Always `v1`.
    public var apiVersion: String = Self.apiVersion
    /// Always `ConfigMap`.
    public var kind: String = Self.kind
    /// Standard object metadata.
    public var metadata: ObjectMeta
    /// The data.
    public var data: [String: String]?

    /// Creates a config map.
    public init(metadata: ObjectMeta, data: [String: String]? = nil) {
        self.metadata = metadata
        self.data = data
    }

    private enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, data }

    /// Decodes a config map; list items from API servers may leave out `apiVersion` and `kind`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? Self.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? Self.kind
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        data = try container.decodeIfPresent([String: String].self, forKey: .data)
    }
}

/// A core `v1` Secret: values by key, base64-encoded in `data` as the API serves them.
public struct Secret: KubernetesObject, Hashable {
    /// `v1`.
    public static let apiVersion = "v1"
    /// `Secret`.
    public static let kind = "Secret"
    /// `secrets`.
    public static let plural = "secrets"
    /// Secrets live in namespaces.
    public static let isNamespaced = true

    /// Always `v1`.
    public var apiVersion: String = Self.apiVersion
    /// Always `Secret`.
    public var kind: String = Self.kind
    /// Standard object metadata.
    public var metadata: ObjectMeta
    /// The values, base64-encoded.
    public var data: [String: String]?
    /// The type, e.g. `Opaque`.
    public var type: String?

    /// Creates a secret from base64-encoded `data`.
    public init(metadata: ObjectMeta, data: [String: String]? = nil, type: String? = nil) {
        self.metadata = metadata
        self.data = data
        self.type = type
    }

    private enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, data, type }

    /// Decodes a secret; list items from API servers may leave out `apiVersion` and `kind`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? Self.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? Self.kind
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        data = try container.decodeIfPresent([String: String].self, forKey: .data)
        type = try container.decodeIfPresent(String.self, forKey: .type)
    }

    /// The values decoded from base64 as UTF-8 text (a value that is not base64 is left out).
    public var decodedData: [String: String] {
        var result: [String: String] = [:]
        for (key, encoded) in data ?? [:] {
            guard let bytes = Data(base64Encoded: encoded) else { continue }
            result[key] = String(decoding: bytes, as: UTF8.self)
        }
        return result
    }
}

extension Secret: CustomStringConvertible, CustomDebugStringConvertible {
    /// Names the Secret and its keys, never its values (so logging one shows no value).
    public var description: String {
        "Secret \(metadata.namespace ?? "")/\(metadata.name ?? "") (keys: \((data ?? [:]).keys.sorted().joined(separator: ", ")))"
    }

    public var debugDescription: String { description }
}

/// A core `v1` Namespace (metadata only: its status is the server's).
public struct Namespace: KubernetesObject, Hashable {
    /// `v1`.
    public static let apiVersion = "v1"
    /// `Namespace`.
    public static let kind = "Namespace"
    /// `namespaces`.
    public static let plural = "namespaces"
    /// Namespaces are cluster-scoped.
    public static let isNamespaced = false

    /// Always `v1`.
    public var apiVersion: String = Self.apiVersion
    /// Always `Namespace`.
    public var kind: String = Self.kind
    /// Standard object metadata.
    public var metadata: ObjectMeta

    /// Creates a namespace.
    public init(metadata: ObjectMeta) {
        self.metadata = metadata
    }

    private enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata }

    /// Decodes a namespace; list items from API servers may leave out `apiVersion` and `kind`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? Self.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? Self.kind
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
    }
}

/// A core `v1` Service: its ports, which name where the API server's service proxy
/// (`services/NAME:PORT/proxy/…`) forwards to. Named so that it does not clash with
/// swift-service-lifecycle's `Service`.
public struct KubernetesService: KubernetesObject, Hashable {
    /// `v1`.
    public static let apiVersion = "v1"
    /// `Service`.
    public static let kind = "Service"
    /// `services`.
    public static let plural = "services"
    /// Services live in namespaces.
    public static let isNamespaced = true

    /// Always `v1`.
    public var apiVersion: String = Self.apiVersion
    /// Always `Service`.
    public var kind: String = Self.kind
    /// Standard object metadata.
    public var metadata: ObjectMeta
    /// The ports (and, on a cluster, the selector, type and addresses).
    public var spec: Spec

    /// Creates a service.
    public init(metadata: ObjectMeta, spec: Spec) {
        self.metadata = metadata
        self.spec = spec
    }

    /// The part of a Service's spec Tinyflow writes and reads.
    public struct Spec: Codable, Sendable, Hashable {
        /// The ports.
        public var ports: [Port]
        /// Labels of the Pods behind the service (cluster only; `nil` for manually kept Endpoints).
        public var selector: [String: String]?

        /// Creates a spec.
        public init(ports: [Port], selector: [String: String]? = nil) {
            self.ports = ports
            self.selector = selector
        }

        private enum CodingKeys: String, CodingKey { case ports, selector }

        /// Decodes a spec; a Service without ports has an empty list.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            ports = try container.decodeIfPresent([Port].self, forKey: .ports) ?? []
            selector = try container.decodeIfPresent([String: String].self, forKey: .selector)
        }
    }

    /// One port of a Service.
    public struct Port: Codable, Sendable, Hashable {
        /// The port's name (required when there are several), e.g. `debug`.
        public var name: String?
        /// The port the Service offers.
        public var port: Int
        /// The backends' port: a number, or the name of a container port.
        public var targetPort: TargetPort?
        /// `TCP` (the default), `UDP` or `SCTP`.
        public var `protocol`: String?

        /// Creates a port.
        public init(name: String? = nil, port: Int, targetPort: TargetPort? = nil, protocol: String? = nil) {
            self.name = name
            self.port = port
            self.targetPort = targetPort
            self.protocol = `protocol`
        }
    }

    /// A `targetPort`: a number, or a container port's name (`IntOrString`).
    public enum TargetPort: Codable, Sendable, Hashable {
        /// A port number.
        case number(Int)
        /// A container port's name.
        case name(String)

        /// Decodes a number or a string.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Int.self) {
                self = .number(number)
            } else {
                self = .name(try container.decode(String.self))
            }
        }

        /// Encodes the number or the string.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .number(let number): try container.encode(number)
            case .name(let name): try container.encode(name)
            }
        }
    }

    private enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec }

    /// Decodes a service; list items from API servers may leave out `apiVersion` and `kind`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? Self.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? Self.kind
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        spec = try container.decodeIfPresent(Spec.self, forKey: .spec) ?? Spec(ports: [])
    }
}

/// A core `v1` Endpoints object: the addresses and ports behind the Service of the same
/// name, where the API server's service proxy sends requests.
public struct Endpoints: KubernetesObject, Hashable {
    /// `v1`.
    public static let apiVersion = "v1"
    /// `Endpoints`.
    public static let kind = "Endpoints"
    /// `endpoints`.
    public static let plural = "endpoints"
    /// Endpoints live in namespaces.
    public static let isNamespaced = true

    /// Always `v1`.
    public var apiVersion: String = Self.apiVersion
    /// Always `Endpoints`.
    public var kind: String = Self.kind
    /// Standard object metadata.
    public var metadata: ObjectMeta
    /// Sets of addresses that share ports.
    public var subsets: [Subset]

    /// Creates an Endpoints object.
    public init(metadata: ObjectMeta, subsets: [Subset]) {
        self.metadata = metadata
        self.subsets = subsets
    }

    /// Addresses and the ports they all serve.
    public struct Subset: Codable, Sendable, Hashable {
        /// Ready addresses.
        public var addresses: [Address]?
        /// Addresses not ready (the service proxy does not use them).
        public var notReadyAddresses: [Address]?
        /// The ports.
        public var ports: [Port]?

        /// Creates a subset.
        public init(addresses: [Address]? = nil, notReadyAddresses: [Address]? = nil, ports: [Port]? = nil) {
            self.addresses = addresses
            self.notReadyAddresses = notReadyAddresses
            self.ports = ports
        }
    }

    /// One address.
    public struct Address: Codable, Sendable, Hashable {
        /// An IP address.
        public var ip: String

        /// Creates an address.
        public init(ip: String) { self.ip = ip }
    }

    /// One port, named as the Service's port it backs.
    public struct Port: Codable, Sendable, Hashable {
        /// The Service port's name it backs.
        public var name: String?
        /// The port number.
        public var port: Int
        /// `TCP` (the default), `UDP` or `SCTP`.
        public var `protocol`: String?

        /// Creates a port.
        public init(name: String? = nil, port: Int, protocol: String? = nil) {
            self.name = name
            self.port = port
            self.protocol = `protocol`
        }
    }

    private enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, subsets }

    /// Decodes an Endpoints object; list items may leave out `apiVersion` and `kind`, and an
    /// object without subsets has none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? Self.apiVersion
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? Self.kind
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        subsets = try container.decodeIfPresent([Subset].self, forKey: .subsets) ?? []
    }
}
