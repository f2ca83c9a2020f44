public import ContextStoreAPI
public import Foundation
public import JSONSchemaKit
import Synchronization

/// A context store in this process's memory: the default of `tinyflow run` and of tests.
/// Nothing survives the process and nothing is shared with other processes.
public final class MemoryContextStore: ContextStore {
    /// The limits this store enforces.
    public let limits: ContextLimits
    private let state = Mutex(State())
    private let now: @Sendable () -> Date

    /// Creates an empty store; `now` is the clock time to live is measured with.
    public init(limits: ContextLimits = ContextLimits(), now: @escaping @Sendable () -> Date = { Date() }) {
        self.limits = limits
        self.now = now
    }

    public func get(_ key: String, in scope: ContextScope) async throws -> ContextEntry? {
        let entry = state.withLock { $0.scopes[scope]?[key] }
        guard let entry, let expiresAt = entry.expiresAt else { return entry }
        return expiresAt > now() ? entry : nil
    }

    public func set(_ key: String, to value: JSONValue, in scope: ContextScope, ttl: Duration?) async throws -> Int64 {
        try limits.check(key: key)
        _ = try limits.encode(value, key: key)
        let now = now()
        return try state.withLock { state throws(ContextStoreError) in
            try state.write(key, value, in: scope, expiresAt: ttl.map { now.adding($0) }, now: now, limits: limits)
        }
    }

    public func delete(_ key: String, in scope: ContextScope) async throws -> Bool {
        let now = now()
        return state.withLock { state in
            guard let entry = state.scopes[scope]?.removeValue(forKey: key) else { return false }
            if state.scopes[scope]?.isEmpty == true { state.scopes[scope] = nil }
            return entry.isLive(at: now)
        }
    }

    public func keys(in scope: ContextScope, prefix: String) async throws -> [String] {
        let now = now()
        let keys = state.withLock { state in
            (state.scopes[scope] ?? [:]).compactMap { key, entry in
                entry.isLive(at: now) && key.utf8.starts(with: prefix.utf8) ? key : nil
            }
        }
        return keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public func compareAndSet(
        _ key: String, in scope: ContextScope, expecting expected: Int64?, to value: JSONValue?, ttl: Duration?
    ) async throws -> CompareAndSetOutcome {
        try limits.check(key: key)
        if let value { _ = try limits.encode(value, key: key) }
        let now = now()
        return try state.withLock { state throws(ContextStoreError) in
            let current = state.scopes[scope]?[key].flatMap { $0.isLive(at: now) ? $0 : nil }
            guard current?.version == expected else { return .conflict(current: current) }
            guard let value else {
                state.scopes[scope]?[key] = nil
                return .written(version: nil)
            }
            let version = try state.write(
                key, value, in: scope, expiresAt: ttl.map { now.adding($0) }, now: now, limits: limits)
            return .written(version: version)
        }
    }

    /// Runs `transform` once, under the store's lock: no conflicts, no retries.
    public func update(
        _ key: String, in scope: ContextScope, ttl: Duration?, _ transform: (JSONValue?) throws -> JSONValue?
    ) async throws -> JSONValue? {
        try limits.check(key: key)
        let now = now()
        let limits = limits
        return try state.withLock { state in
            let current = state.scopes[scope]?[key].flatMap { $0.isLive(at: now) ? $0 : nil }
            guard let next = try transform(current?.value) else {
                state.scopes[scope]?[key] = nil
                return nil
            }
            _ = try limits.encode(next, key: key)
            _ = try state.write(key, next, in: scope, expiresAt: ttl.map { now.adding($0) }, now: now, limits: limits)
            return next
        }
    }

    public func increment(_ key: String, by amount: Int, in scope: ContextScope, ttl: Duration?) async throws -> Int {
        try limits.check(key: key)
        let now = now()
        return try state.withLock { state throws(ContextStoreError) in
            let current = state.scopes[scope]?[key].flatMap { $0.isLive(at: now) ? $0 : nil }
            var sum = amount
            if let current {
                // A whole number stored as a double reads back from SQLite and PostgreSQL as an
                // integer (its JSON is `5`); it counts as one here too.
                let old: Int
                switch current.value {
                case .integer(let value): old = value
                case .number(let value) where value == value.rounded() && abs(value) < 9.2e18: old = Int(value)
                default: throw .notAnInteger(key: key, found: current.value.typeName)
                }
                let (result, overflow) = old.addingReportingOverflow(amount)
                if overflow { throw .overflow(key: key) }
                sum = result
            }
            let expiresAt = current == nil ? ttl.map { now.adding($0) } : current?.expiresAt
            _ = try state.write(key, .integer(sum), in: scope, expiresAt: expiresAt, now: now, limits: limits)
            return sum
        }
    }

    public func deleteAll(in scope: ContextScope) async throws -> Int {
        let now = now()
        return state.withLock { state in
            let removed = state.scopes.removeValue(forKey: scope) ?? [:]
            return removed.values.count { $0.isLive(at: now) }
        }
    }

    public func checkAvailability() async throws {}

    public func close() async {}

    private struct State {
        var scopes: [ContextScope: [String: ContextEntry]] = [:]
        var lastVersion: Int64 = 0

        /// Stores one value, checking the scope's key limit when the key is new (expired keys
        /// of the scope are dropped first, so they never count against it).
        mutating func write(
            _ key: String, _ value: JSONValue, in scope: ContextScope, expiresAt: Date?, now: Date, limits: ContextLimits
        ) throws(ContextStoreError) -> Int64 {
            var entries = scopes.removeValue(forKey: scope) ?? [:]
            defer { scopes[scope] = entries }
            if entries[key].map({ !$0.isLive(at: now) }) ?? true {
                if entries.count >= limits.maxKeysPerScope {
                    entries = entries.filter { $0.value.isLive(at: now) }
                }
                let existing = entries[key] == nil ? 0 : 1
                if entries.count - existing >= limits.maxKeysPerScope {
                    throw .tooManyKeys(scope: scope, limit: limits.maxKeysPerScope)
                }
            }
            lastVersion += 1
            entries[key] = ContextEntry(value: value, version: lastVersion, expiresAt: expiresAt)
            return lastVersion
        }
    }
}

extension ContextEntry {
    /// Whether the entry has not expired at `now`.
    fileprivate func isLive(at now: Date) -> Bool {
        expiresAt.map { $0 > now } ?? true
    }
}
