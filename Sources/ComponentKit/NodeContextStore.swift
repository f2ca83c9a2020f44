public import ContextStoreAPI
public import JSONSchemaKit

/// One scope of a node's context with typed access: what ``NodeContext/store(_:)`` returns.
///
/// ```swift
/// let counts = try context.store(.flow)
/// let seen = try await counts.increment("orders")
/// try await counts.set("last-order", order)             // any Encodable
/// let last = try await counts.get("last-order", as: Order.self)
/// try await counts.update("totals", as: Totals.self) { totals in
///     var totals = totals ?? Totals()
///     totals.amount += order.amount
///     return totals
/// }
/// ```
public struct NodeContextStore: Sendable {
    /// The backend.
    public let store: any ContextStore
    /// The scope every operation works in.
    public let scope: ContextScope

    /// Creates typed access to `scope` of `store`.
    public init(store: any ContextStore, scope: ContextScope) {
        self.store = store
        self.scope = scope
    }

    /// The value of `key` as JSON, or `nil` when absent or expired.
    public func value(_ key: String) async throws -> JSONValue? {
        try await store.get(key, in: scope)?.value
    }

    /// The value of `key` decoded as `T`, or `nil` when absent or expired.
    public func get<T: Decodable>(_ key: String, as type: T.Type = T.self) async throws -> T? {
        try await value(key)?.decode(as: T.self)
    }

    /// Stores `value` under `key`; with `ttl` the key expires that long from now.
    public func set(_ key: String, _ value: some Encodable, ttl: Duration? = nil) async throws {
        try await store.set(key, to: try JSONValue(encoding: value), in: scope, ttl: ttl)
    }

    /// Replaces the value of `key` with `transform(old)` atomically, also against other
    /// replicas (`nil` in: absent; `nil` out: delete). `transform` may run more than once.
    @discardableResult
    public func update<T: Codable>(
        _ key: String, as type: T.Type = T.self, ttl: Duration? = nil, _ transform: (T?) throws -> T?
    ) async throws -> T? {
        let written = try await store.update(key, in: scope, ttl: ttl) { old in
            try transform(try old?.decode(as: T.self)).map { try JSONValue(encoding: $0) }
        }
        return try written?.decode(as: T.self)
    }

    /// Adds `amount` to the integer under `key` atomically and returns the sum (absent: 0).
    @discardableResult
    public func increment(_ key: String, by amount: Int = 1, ttl: Duration? = nil) async throws -> Int {
        try await store.increment(key, by: amount, in: scope, ttl: ttl)
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        try await store.delete(key, in: scope)
    }

    /// The live keys starting with `prefix`, sorted.
    public func keys(prefix: String = "") async throws -> [String] {
        try await store.keys(in: scope, prefix: prefix)
    }
}
