public import Foundation
public import JSONSchemaKit
public import KubernetesModels

/// The API verb a request performs, for error messages, retry decisions and metrics.
public enum Verb: String, Sendable, Hashable {
    /// Read one object.
    case get
    /// Read a collection.
    case list
    /// Stream changes of a collection.
    case watch
    /// Create an object.
    case create
    /// Replace an object (PUT).
    case update
    /// Patch an object.
    case patch
    /// Delete an object.
    case delete
}

/// One API request, fully described but not sent: the request layer's output
/// and the client's input. Building one does no I/O.
public struct KubernetesRequest: Sendable, Hashable {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    public var method: String
    /// The path below the server URL, e.g. `/api/v1/namespaces/default/configmaps/a`.
    public var path: String
    /// Query parameters in order.
    public var query: [QueryItem] = []
    /// The body, if any.
    public var body: Data?
    /// The body's content type.
    public var contentType: String?
    /// What the request does.
    public var verb: Verb
    /// What it is done to, e.g. `configmaps "a" in namespace "default"`.
    public var resource: String
    /// Whether sending it twice has the same effect as once, so 5xx answers may be retried.
    public var isIdempotent: Bool

    /// A query parameter.
    public struct QueryItem: Sendable, Hashable {
        /// The name.
        public var name: String
        /// The value.
        public var value: String

        /// Creates a parameter.
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Creates a request.
    public init(
        method: String, path: String, query: [QueryItem] = [], body: Data? = nil, contentType: String? = nil,
        verb: Verb, resource: String, isIdempotent: Bool? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.contentType = contentType
        self.verb = verb
        self.resource = resource
        self.isIdempotent = isIdempotent ?? ["GET", "PUT", "DELETE"].contains(method)
    }

    /// The path with its percent-encoded query string.
    public var pathAndQuery: String {
        guard !query.isEmpty else { return path }
        return path + "?" + query.map { "\(Self.encode($0.name))=\(Self.encode($0.value))" }.joined(separator: "&")
    }

    /// The value of the query parameter `name`, if present.
    public func queryValue(_ name: String) -> String? { query.first { $0.name == name }?.value }

    private static let allowed: CharacterSet = {
        var set = CharacterSet.alphanumerics
        set.insert(charactersIn: "-._~")
        return set
    }()

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// Options of a list request.
public struct ListParameters: Sendable, Hashable {
    /// A label selector, e.g. `app=tinyflow,tier!=db`.
    public var labelSelector: String?
    /// A field selector, e.g. `metadata.name=a`.
    public var fieldSelector: String?
    /// At most this many objects per page.
    public var limit: Int?
    /// The continue token of the previous page.
    public var `continue`: String?
    /// Serve the list at (or not older than) this resourceVersion.
    public var resourceVersion: String?
    /// `Exact` or `NotOlderThan`, with `resourceVersion`.
    public var resourceVersionMatch: String?

    /// Creates list options.
    public init(labelSelector: String? = nil, fieldSelector: String? = nil, limit: Int? = nil, continue: String? = nil) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continue = `continue`
    }

    var queryItems: [KubernetesRequest.QueryItem] {
        var items: [KubernetesRequest.QueryItem] = []
        if let labelSelector { items.append(.init("labelSelector", labelSelector)) }
        if let fieldSelector { items.append(.init("fieldSelector", fieldSelector)) }
        if let limit { items.append(.init("limit", String(limit))) }
        if let value = self.continue { items.append(.init("continue", value)) }
        if let resourceVersion { items.append(.init("resourceVersion", resourceVersion)) }
        if let resourceVersionMatch { items.append(.init("resourceVersionMatch", resourceVersionMatch)) }
        return items
    }
}

/// Options of a watch request.
public struct WatchParameters: Sendable, Hashable {
    /// A label selector.
    public var labelSelector: String?
    /// A field selector.
    public var fieldSelector: String?
    /// How long the server keeps the watch open before ending it cleanly.
    public var timeoutSeconds: Int = 290
    /// Ask for `BOOKMARK` events (progress without changes).
    public var allowWatchBookmarks: Bool = true

    /// Creates watch options.
    public init(labelSelector: String? = nil, fieldSelector: String? = nil, timeoutSeconds: Int = 290) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.timeoutSeconds = timeoutSeconds
    }
}

/// Options of a create or update.
public struct PostParameters: Sendable, Hashable {
    /// The field manager recorded in `managedFields`.
    public var fieldManager: String?
    /// Validate and answer without persisting.
    public var dryRun: Bool = false

    /// Creates options.
    public init(fieldManager: String? = nil, dryRun: Bool = false) {
        self.fieldManager = fieldManager
        self.dryRun = dryRun
    }

    var queryItems: [KubernetesRequest.QueryItem] {
        var items: [KubernetesRequest.QueryItem] = []
        if dryRun { items.append(.init("dryRun", "All")) }
        if let fieldManager { items.append(.init("fieldManager", fieldManager)) }
        return items
    }
}

/// Options of a patch.
public struct PatchParameters: Sendable, Hashable {
    /// The field manager; required for server-side apply.
    public var fieldManager: String?
    /// Take over fields other managers own (server-side apply only).
    public var force: Bool = false
    /// Validate and answer without persisting.
    public var dryRun: Bool = false

    /// Creates options.
    public init(fieldManager: String? = nil, force: Bool = false, dryRun: Bool = false) {
        self.fieldManager = fieldManager
        self.force = force
        self.dryRun = dryRun
    }

    /// Server-side apply as `manager`, forcing ownership of the fields sent.
    public static func apply(_ manager: String, force: Bool = true) -> PatchParameters {
        PatchParameters(fieldManager: manager, force: force)
    }
}

/// A patch body and its type.
public enum Patch: Sendable, Hashable {
    /// Server-side apply (`application/apply-patch+yaml`; JSON is valid YAML):
    /// the fields this manager wants to own, with their values.
    case apply(JSONValue)
    /// A JSON merge patch (RFC 7386, `application/merge-patch+json`).
    case merge(JSONValue)
    /// A JSON patch (RFC 6902, `application/json-patch+json`); `test` operations make it conditional.
    case json([JSONPatchOperation])
    /// A strategic merge patch (built-in kinds only).
    case strategic(JSONValue)

    /// Server-side apply of a typed object (its `apiVersion`, `kind` and the fields set).
    public static func apply<T: Encodable>(object: T) throws -> Patch { .apply(try JSONValue(encoding: object)) }

    /// The `Content-Type` of the patch.
    public var contentType: String {
        switch self {
        case .apply: "application/apply-patch+yaml"
        case .merge: "application/merge-patch+json"
        case .json: "application/json-patch+json"
        case .strategic: "application/strategic-merge-patch+json"
        }
    }

    /// The body bytes.
    public func body() throws -> Data {
        switch self {
        case .apply(let value), .merge(let value), .strategic(let value): try value.jsonData()
        case .json(let operations): try JSONEncoder().encode(operations)
        }
    }
}

/// One RFC 6902 operation.
public struct JSONPatchOperation: Codable, Sendable, Hashable {
    /// `add`, `remove`, `replace`, `move`, `copy` or `test`.
    public var op: String
    /// A JSON pointer, e.g. `/metadata/finalizers/0`.
    public var path: String
    /// The value for `add`, `replace` and `test`.
    public var value: JSONValue?
    /// The source pointer of `move` and `copy`.
    public var from: String?

    /// Creates an operation.
    public init(op: String, path: String, value: JSONValue? = nil, from: String? = nil) {
        self.op = op
        self.path = path
        self.value = value
        self.from = from
    }

    /// Adds `value` at `path` (`/-` appends to an array).
    public static func add(_ path: String, _ value: JSONValue) -> Self { .init(op: "add", path: path, value: value) }
    /// Removes what is at `path`.
    public static func remove(_ path: String) -> Self { .init(op: "remove", path: path) }
    /// Replaces what is at `path`.
    public static func replace(_ path: String, _ value: JSONValue) -> Self { .init(op: "replace", path: path, value: value) }
    /// Fails the whole patch (422) unless `path` holds `value`.
    public static func test(_ path: String, _ value: JSONValue) -> Self { .init(op: "test", path: path, value: value) }

    /// Escapes a key for use as one JSON-pointer segment (`~` → `~0`, `/` → `~1`).
    public static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}

/// Options of a delete.
public struct DeleteOptions: Codable, Sendable, Hashable {
    /// Always `v1`.
    public var apiVersion: String = "v1"
    /// Always `DeleteOptions`.
    public var kind: String = "DeleteOptions"
    /// `Foreground`, `Background` or `Orphan`: what happens to dependents.
    public var propagationPolicy: PropagationPolicy?
    /// Delete only if the object still has this uid / resourceVersion.
    public var preconditions: Preconditions?
    /// Seconds before the object is deleted; 0 is immediately.
    public var gracePeriodSeconds: Int?
    /// `["All"]` to validate without deleting.
    public var dryRun: [String]?

    /// How dependents are deleted.
    public enum PropagationPolicy: String, Codable, Sendable, Hashable {
        /// Delete dependents first; the owner goes last.
        case foreground = "Foreground"
        /// Delete the owner now and dependents in the background.
        case background = "Background"
        /// Leave dependents.
        case orphan = "Orphan"
    }

    /// Conditions the object must meet to be deleted.
    public struct Preconditions: Codable, Sendable, Hashable {
        /// The uid the object must have.
        public var uid: String?
        /// The resourceVersion the object must have.
        public var resourceVersion: String?

        /// Creates preconditions.
        public init(uid: String? = nil, resourceVersion: String? = nil) {
            self.uid = uid
            self.resourceVersion = resourceVersion
        }
    }

    /// Creates options.
    public init(propagationPolicy: PropagationPolicy? = nil, preconditions: Preconditions? = nil, gracePeriodSeconds: Int? = nil) {
        self.propagationPolicy = propagationPolicy
        self.preconditions = preconditions
        self.gracePeriodSeconds = gracePeriodSeconds
    }
}

/// Builds the requests for resource kind `K` in one namespace (or cluster
/// wide): URLs, query strings, bodies and content types. No I/O.
public struct ResourceRequests<K: KubernetesObject>: Sendable, Hashable {
    /// The namespace; nil for cluster-scoped kinds or all namespaces (lists and watches).
    public var namespace: String?

    /// Requests in `namespace`.
    public init(namespace: String?) { self.namespace = namespace }

    /// `/api/v1` or `/apis/<group>/<version>`.
    public static var groupVersionPath: String {
        K.group.isEmpty ? "/api/\(K.version)" : "/apis/\(K.group)/\(K.version)"
    }

    /// The collection's path.
    public var collectionPath: String {
        if let namespace, K.isNamespaced {
            return "\(Self.groupVersionPath)/namespaces/\(KubernetesRequest.encode(namespace))/\(K.plural)"
        }
        return "\(Self.groupVersionPath)/\(K.plural)"
    }

    /// One object's path, or its subresource's.
    public func path(_ name: String, subresource: String? = nil) -> String {
        var path = "\(collectionPath)/\(KubernetesRequest.encode(name))"
        if let subresource { path += "/\(subresource)" }
        return path
    }

    /// How an object is named in errors: `configmaps "a" in namespace "b"`.
    public func describe(_ name: String?, subresource: String? = nil) -> String {
        var text = K.plural
        if let subresource { text += "/\(subresource)" }
        if let name { text += " \"\(name)\"" }
        if let namespace, K.isNamespaced { text += " in namespace \"\(namespace)\"" }
        return text
    }

    /// Read one object.
    public func get(_ name: String, subresource: String? = nil) -> KubernetesRequest {
        KubernetesRequest(
            method: "GET", path: path(name, subresource: subresource), verb: .get,
            resource: describe(name, subresource: subresource))
    }

    /// Read (a page of) the collection.
    public func list(_ parameters: ListParameters = ListParameters()) -> KubernetesRequest {
        KubernetesRequest(
            method: "GET", path: collectionPath, query: parameters.queryItems, verb: .list, resource: describe(nil))
    }

    /// Stream the collection's changes after `resourceVersion`.
    public func watch(_ parameters: WatchParameters = WatchParameters(), resourceVersion: String?) -> KubernetesRequest {
        var query: [KubernetesRequest.QueryItem] = [.init("watch", "true")]
        if let resourceVersion { query.append(.init("resourceVersion", resourceVersion)) }
        if parameters.allowWatchBookmarks { query.append(.init("allowWatchBookmarks", "true")) }
        query.append(.init("timeoutSeconds", String(parameters.timeoutSeconds)))
        if let labelSelector = parameters.labelSelector { query.append(.init("labelSelector", labelSelector)) }
        if let fieldSelector = parameters.fieldSelector { query.append(.init("fieldSelector", fieldSelector)) }
        return KubernetesRequest(method: "GET", path: collectionPath, query: query, verb: .watch, resource: describe(nil))
    }

    /// Create `object`.
    public func create(_ object: K, _ parameters: PostParameters = PostParameters()) throws -> KubernetesRequest {
        KubernetesRequest(
            method: "POST", path: collectionPath, query: parameters.queryItems, body: try Self.encode(object),
            contentType: "application/json", verb: .create, resource: describe(object.metadata.name))
    }

    /// Replace the object (or its status) with `object`; a stale
    /// `metadata.resourceVersion` makes the server answer `409 Conflict`.
    public func replace(
        _ name: String, _ object: K, subresource: String? = nil, _ parameters: PostParameters = PostParameters()
    ) throws -> KubernetesRequest {
        KubernetesRequest(
            method: "PUT", path: path(name, subresource: subresource), query: parameters.queryItems,
            body: try Self.encode(object), contentType: "application/json", verb: .update,
            resource: describe(name, subresource: subresource))
    }

    /// Delete the object.
    public func delete(_ name: String, _ options: DeleteOptions = DeleteOptions()) throws -> KubernetesRequest {
        KubernetesRequest(
            method: "DELETE", path: path(name), body: try JSONEncoder().encode(options), contentType: "application/json",
            verb: .delete, resource: describe(name))
    }

    /// Patch the object (or its status).
    public func patch(
        _ name: String, _ patch: Patch, subresource: String? = nil, _ parameters: PatchParameters = PatchParameters()
    ) throws -> KubernetesRequest {
        var query: [KubernetesRequest.QueryItem] = []
        if parameters.dryRun { query.append(.init("dryRun", "All")) }
        if let manager = parameters.fieldManager { query.append(.init("fieldManager", manager)) }
        if parameters.force, case .apply = patch { query.append(.init("force", "true")) }
        let idempotent: Bool
        switch patch {
        case .apply: idempotent = true  // applying the same configuration again changes nothing
        case .merge, .strategic, .json: idempotent = false
        }
        return KubernetesRequest(
            method: "PATCH", path: path(name, subresource: subresource), query: query, body: try patch.body(),
            contentType: patch.contentType, verb: .patch, resource: describe(name, subresource: subresource),
            isIdempotent: idempotent)
    }

    static func encode(_ object: K) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(object)
    }
}
