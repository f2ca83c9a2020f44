public import JSONSchemaKit

/// Standard object metadata (`metav1.ObjectMeta`): what every Kubernetes
/// object carries besides its spec and status.
public struct ObjectMeta: Codable, Sendable, Hashable {
    /// Unique within a namespace; required when creating unless `generateName` is set.
    public var name: String?
    /// A prefix the server completes into a unique name.
    public var generateName: String?
    /// The namespace of a namespaced object.
    public var namespace: String?
    /// Set by the server; unique across time.
    public var uid: String?
    /// Opaque version for optimistic concurrency and watches; never parse it.
    public var resourceVersion: String?
    /// Incremented by the server on every change of the desired state (spec).
    public var generation: Int64?
    /// Set by the server when the object is created.
    public var creationTimestamp: Timestamp?
    /// Set by the server when deletion was requested and finalizers still hold the object.
    public var deletionTimestamp: Timestamp?
    /// Seconds allowed for graceful termination.
    public var deletionGracePeriodSeconds: Int64?
    /// Identifying key/value pairs, used by selectors.
    public var labels: [String: String]?
    /// Non-identifying key/value pairs for tools.
    public var annotations: [String: String]?
    /// Keys that must be removed before the object is deleted.
    public var finalizers: [String]?
    /// Objects this one belongs to.
    public var ownerReferences: [OwnerReference]?
    /// Which field manager owns which fields (server-side apply).
    public var managedFields: [JSONValue]?

    /// Metadata naming an object.
    public init(
        name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil,
        annotations: [String: String]? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
    }
}

/// Points at the object that owns this one (`metav1.OwnerReference`).
public struct OwnerReference: Codable, Sendable, Hashable {
    /// The owner's `apiVersion`.
    public var apiVersion: String
    /// The owner's kind.
    public var kind: String
    /// The owner's name.
    public var name: String
    /// The owner's uid.
    public var uid: String
    /// Whether the owner is the managing controller.
    public var controller: Bool?
    /// Whether the owner cannot be deleted before this object (foreground deletion).
    public var blockOwnerDeletion: Bool?

    /// Creates a reference.
    public init(
        apiVersion: String, kind: String, name: String, uid: String, controller: Bool? = nil,
        blockOwnerDeletion: Bool? = nil
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
        self.blockOwnerDeletion = blockOwnerDeletion
    }
}

/// List metadata (`metav1.ListMeta`).
public struct ListMeta: Codable, Sendable, Hashable {
    /// The version of the collection the list was read at; start a watch from it.
    public var resourceVersion: String?
    /// The token for the next page, if the list was limited and more remain.
    public var `continue`: String?
    /// An estimate of the objects not yet returned.
    public var remainingItemCount: Int64?

    /// Creates list metadata.
    public init(resourceVersion: String? = nil, continue: String? = nil) {
        self.resourceVersion = resourceVersion
        self.continue = `continue`
    }
}

/// A Kubernetes object with a kind and metadata: what generic clients,
/// caches and controllers work with.
public protocol KubernetesObject: Codable, Sendable {
    /// The API group and version, e.g. `tinyflow.dev/v1alpha1`.
    static var apiVersion: String { get }
    /// The kind, e.g. `TinyNode`.
    static var kind: String { get }
    /// The lower-case plural used in URLs, e.g. `tinynodes`.
    static var plural: String { get }
    /// Whether objects live in namespaces.
    static var isNamespaced: Bool { get }
    /// The object's metadata.
    var metadata: ObjectMeta { get set }
}

extension KubernetesObject {
    /// The API group (empty for the core group).
    public static var group: String {
        let parts = apiVersion.split(separator: "/")
        return parts.count == 2 ? String(parts[0]) : ""
    }

    /// The version within the group.
    public static var version: String {
        String(apiVersion.split(separator: "/").last ?? "")
    }
}

/// A list of objects of one kind, as the API server returns it.
public struct KubernetesList<Item: KubernetesObject>: Codable, Sendable {
    /// `<group>/<version>`.
    public var apiVersion: String
    /// `<Kind>List`.
    public var kind: String
    /// Version and continuation of the list.
    public var metadata: ListMeta
    /// The objects.
    public var items: [Item]

    /// Creates a list.
    public init(metadata: ListMeta = ListMeta(), items: [Item]) {
        self.apiVersion = Item.apiVersion
        self.kind = Item.kind + "List"
        self.metadata = metadata
        self.items = items
    }
}
