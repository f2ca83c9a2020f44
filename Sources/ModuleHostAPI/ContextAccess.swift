public import ContextStoreAPI
public import JSONSchemaKit

/// One operation on node, flow or global context through a module host's control API:
/// how `tinyflow context` reads and writes context, and how the operator deletes a deleted
/// node's or flow's context, without holding the store's credentials themselves.
public struct ContextRequest: Codable, Sendable, Hashable {
    /// What to do.
    public enum Operation: String, Codable, Sendable, Hashable {
        /// Read one key.
        case get
        /// Write one key.
        case set
        /// Remove one key.
        case delete
        /// List keys (with ``ContextRequest/key`` as a prefix, if given).
        case list
        /// Remove every key of the scope.
        case clear
    }

    /// What to do.
    public var operation: Operation
    /// Which kind of scope.
    public var kind: ContextScope.Kind
    /// The scope's namespace.
    public var namespace: String
    /// The node or flow (empty for global).
    public var name: String
    /// The key (`get`, `set`, `delete`) or key prefix (`list`).
    public var key: String?
    /// The value to write (`set`).
    public var value: JSONValue?

    /// A request on `scope`.
    public init(_ operation: Operation, scope: ContextScope, key: String? = nil, value: JSONValue? = nil) {
        self.operation = operation
        self.kind = scope.kind
        self.namespace = scope.namespace
        self.name = scope.name
        self.key = key
        self.value = value
    }

    /// The scope the request works on.
    public var scope: ContextScope { ContextScope(kind: kind, namespace: namespace, name: name) }
}

/// What a ``ContextRequest`` found or did.
public struct ContextResponse: Codable, Sendable, Hashable {
    /// The key's value (`get`), `nil` when absent.
    public var value: JSONValue?
    /// The keys (`list`), sorted.
    public var keys: [String]?
    /// How many keys were removed (`delete`, `clear`).
    public var removed: Int?

    /// A response.
    public init(value: JSONValue? = nil, keys: [String]? = nil, removed: Int? = nil) {
        self.value = value
        self.keys = keys
        self.removed = removed
    }
}

extension ContextStore {
    /// Carries out `request` on this store: what a module host does for its control API.
    public func perform(_ request: ContextRequest) async throws -> ContextResponse {
        let scope = request.scope
        func key() throws -> String {
            guard let key = request.key else {
                throw ContextStoreError.invalidKey(key: "", reason: "\(request.operation.rawValue) needs a key")
            }
            return key
        }
        switch request.operation {
        case .get:
            return ContextResponse(value: try await get(try key(), in: scope)?.value)
        case .set:
            let value = request.value ?? .null
            try await set(try key(), to: value, in: scope, ttl: nil)
            return ContextResponse(value: value)
        case .delete:
            return ContextResponse(removed: try await delete(try key(), in: scope) ? 1 : 0)
        case .list:
            return ContextResponse(keys: try await keys(in: scope, prefix: request.key ?? ""))
        case .clear:
            return ContextResponse(removed: try await deleteAll(in: scope))
        }
    }
}

/// A module host that cannot answer a call at all, whatever transport reached it.
public enum ModuleHostCallError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The host does not know the method (it was built before the method existed).
    case unimplemented(method: String)

    /// One line naming the method.
    public var description: String {
        switch self {
        case .unimplemented(let method): "the module host does not implement \(method) (it predates it)"
        }
    }
}
