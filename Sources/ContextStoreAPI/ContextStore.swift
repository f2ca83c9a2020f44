public import JSONSchemaKit

/// Where nodes keep state that outlives a message: the seam every backend (memory,
/// SQLite, PostgreSQL) implements, with the same semantics and the same errors.
///
/// Semantics every backend follows (the conformance suite checks them):
/// - Keys are non-empty UTF-8 strings of at most ``ContextLimits/maxKeyBytes``; values are
///   JSON of at most ``ContextLimits/maxValueBytes`` encoded; a scope holds at most
///   ``ContextLimits/maxKeysPerScope`` live keys — writing one more new key throws
///   ``ContextStoreError/tooManyKeys(scope:limit:)``, overwriting an existing key does not.
/// - Scopes are disjoint: the same key in two scopes is two keys.
/// - A key with a time to live reads as absent once it expired, for every operation
///   (`get`, `keys`, `compareAndSet`, `increment`); backends remove expired rows lazily.
/// - Every write gives the key a new version from one store-wide increasing sequence.
/// - Operations on one key are atomic across every client of the store, including other
///   processes sharing it (SQLite file, PostgreSQL database).
/// - Values are JSON, stored as their encoding: a whole number written as a double (`2.0`)
///   reads back as the integer `2` from persistent backends, and counts as one for `increment`
///   everywhere.
/// - Expiry is measured by the backend's clock: the process's for memory and SQLite, the
///   database server's for PostgreSQL.
/// - After ``close()`` operations fail with ``ContextStoreError/unavailable(store:reason:)``
///   (or, in memory, go on working): close a store only when its users are done.
/// - A write that fails with `unavailable` because of a timeout may have happened: the
///   database can commit it after the client gave up.
public protocol ContextStore: Sendable {
    /// The limits this store enforces.
    var limits: ContextLimits { get }

    /// The live entry of `key`, or `nil` when it is absent or expired.
    func get(_ key: String, in scope: ContextScope) async throws -> ContextEntry?

    /// Stores `value` under `key`, replacing what was there; with `ttl` the key expires that
    /// long from now, without it the key never expires. Returns the new version.
    @discardableResult
    func set(_ key: String, to value: JSONValue, in scope: ContextScope, ttl: Duration?) async throws -> Int64

    /// Removes `key`; returns whether a live key was removed.
    @discardableResult
    func delete(_ key: String, in scope: ContextScope) async throws -> Bool

    /// The live keys of `scope` whose UTF-8 bytes start with those of `prefix`, sorted by their UTF-8 bytes.
    func keys(in scope: ContextScope, prefix: String) async throws -> [String]

    /// Writes `value` (or deletes the key when `value` is `nil`) only if the key's live
    /// version is `expected` (`nil`: only if the key is absent or expired). With `ttl` the
    /// written key expires that long from now.
    func compareAndSet(
        _ key: String, in scope: ContextScope, expecting expected: Int64?, to value: JSONValue?, ttl: Duration?
    ) async throws -> CompareAndSetOutcome

    /// Adds `amount` to the integer under `key` atomically and returns the sum; an absent
    /// key counts as 0 and is created, with `ttl` as its time to live if given (an existing
    /// key keeps its expiry: a fixed-window counter). A value that is not an integer
    /// throws ``ContextStoreError/notAnInteger(key:found:)``.
    func increment(_ key: String, by amount: Int, in scope: ContextScope, ttl: Duration?) async throws -> Int

    /// Replaces the value of `key` with `transform(old)` atomically (`nil` in: absent; `nil`
    /// out: delete) and returns what was written. `transform` may run several times (on
    /// conflicts), so it must not have effects of its own. Backends that can lock the key do
    /// it once, under the lock; the default is ``compareAndSetLoop(_:in:ttl:maxAttempts:_:)``.
    @discardableResult
    func update(
        _ key: String, in scope: ContextScope, ttl: Duration?, _ transform: (JSONValue?) throws -> JSONValue?
    ) async throws -> JSONValue?

    /// Removes every key of `scope` (its node or flow was deleted); returns how many.
    @discardableResult
    func deleteAll(in scope: ContextScope) async throws -> Int

    /// Throws ``ContextStoreError/unavailable(store:reason:)`` when the backend cannot serve
    /// now (a database that cannot be reached): a module host reports itself not ready with
    /// that reason instead of failing messages blindly. Cheap enough for a readiness probe.
    func checkAvailability() async throws

    /// Releases connections and files; the store is unusable afterwards.
    func close() async
}

extension ContextStore {
    /// The default ``update(_:in:ttl:_:)``: a read and a compare-and-set, retried with the value
    /// another writer stored meanwhile. After a conflict it waits a random moment that grows
    /// with the attempts (at most 5 ms), so writers that lose together do not retry in lockstep
    /// behind the one that keeps winning.
    @discardableResult
    public func update(
        _ key: String, in scope: ContextScope, ttl: Duration?, _ transform: (JSONValue?) throws -> JSONValue?
    ) async throws -> JSONValue? {
        try await compareAndSetLoop(key, in: scope, ttl: ttl, maxAttempts: 100, transform)
    }

    /// Read, transform, compare-and-set; on a conflict again from what is stored now, up to
    /// `maxAttempts` times, then ``ContextStoreError/conflict(key:attempts:)``.
    public func compareAndSetLoop(
        _ key: String, in scope: ContextScope, ttl: Duration?, maxAttempts: Int,
        _ transform: (JSONValue?) throws -> JSONValue?
    ) async throws -> JSONValue? {
        var current = try await get(key, in: scope)
        for attempt in 0..<maxAttempts {
            let next = try transform(current?.value)
            switch try await compareAndSet(key, in: scope, expecting: current?.version, to: next, ttl: ttl) {
            case .written: return next
            case .conflict(let now): current = now
            }
            let ceiling = min(5_000, 50 * (attempt + 1))
            try await Task.sleep(for: .microseconds(Int.random(in: 0...ceiling)))
        }
        throw ContextStoreError.conflict(key: key, attempts: maxAttempts)
    }

    /// Replaces the value of `key` with `transform(old)` atomically, without a time to live.
    @discardableResult
    public func update(_ key: String, in scope: ContextScope, _ transform: (JSONValue?) throws -> JSONValue?) async throws -> JSONValue? {
        try await update(key, in: scope, ttl: nil, transform)
    }

    /// The live keys of `scope`.
    public func keys(in scope: ContextScope) async throws -> [String] {
        try await keys(in: scope, prefix: "")
    }

    /// Stores `value` under `key` with no time to live.
    @discardableResult
    public func set(_ key: String, to value: JSONValue, in scope: ContextScope) async throws -> Int64 {
        try await set(key, to: value, in: scope, ttl: nil)
    }

    /// Adds `amount` (default 1) to the integer under `key`.
    public func increment(_ key: String, by amount: Int = 1, in scope: ContextScope) async throws -> Int {
        try await increment(key, by: amount, in: scope, ttl: nil)
    }
}
