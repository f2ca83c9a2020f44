public import Foundation
public import JSONSchemaKit
import Synchronization

/// A handler's view of context while it handles a durable message: reads go to the store,
/// writes are kept (and read back by the handler) until the message is settled, when they
/// are applied as ``mutations`` in the same transaction as its acknowledgement — so they
/// happen exactly once, or not at all if the handler fails or its host dies first.
///
/// The runtime sets ``current`` around the handler; `NodeContext.store(_:)` then hands the
/// component this transaction instead of the store, so components need no change.
///
/// What it guarantees: every write of the handler is applied once, together with the
/// acknowledgement; a write made after reading the key (`compareAndSet`, `update`, the
/// first `set` or `delete` of a key read before) is applied only if the key still has the
/// version read, else the settlement fails with ``ContextStoreError/conflict(key:attempts:)``
/// and the message is handled again; increments commute and are applied whatever other
/// writers did meanwhile. What it does not: keys only read are not checked again at the end
/// (no serializable isolation for reads), and `deleteAll` goes to the store at once.
public final class ContextTransaction: ContextStore {
    /// The transaction of the durable message being handled, if any.
    @TaskLocal public static var current: ContextTransaction?

    /// The store the reads go to and the mutations will be applied to.
    public let base: any ContextStore
    private let overlay = Mutex(ContextOverlay())

    /// A transaction over `base` with no writes yet.
    public init(base: any ContextStore) {
        self.base = base
    }

    /// The writes to apply, in the order they were made.
    public var mutations: [ContextMutation] { overlay.withLock { $0.mutations } }

    /// The transaction as it is now, to go back to with ``rollback(to:)``: several messages
    /// handled in one transaction each start at a checkpoint, and a failed one's writes are
    /// taken back without the others'.
    public struct Checkpoint: Sendable {
        fileprivate let overlay: ContextOverlay
    }

    /// Marks the transaction as it is now.
    public func checkpoint() -> Checkpoint { Checkpoint(overlay: overlay.withLock { $0 }) }

    /// Takes back every write made since `checkpoint`.
    public func rollback(to checkpoint: Checkpoint) { overlay.withLock { $0 = checkpoint.overlay } }

    public var limits: ContextLimits { base.limits }

    public func get(_ key: String, in scope: ContextScope) async throws -> ContextEntry? {
        let overlayKey = ContextOverlay.Key(scope: scope, key: key)
        if let own = overlay.withLock({ $0.ownWrite(overlayKey) }) { return own.entry }
        let entry = try await base.get(key, in: scope)
        overlay.withLock { $0.noteRead(overlayKey, version: entry?.version) }
        return entry
    }

    @discardableResult
    public func set(_ key: String, to value: JSONValue, in scope: ContextScope, ttl: Duration?) async throws -> Int64 {
        try limits.check(key: key)
        _ = try limits.encode(value, key: key)
        let overlayKey = ContextOverlay.Key(scope: scope, key: key)
        return overlay.withLock { $0.write(overlayKey, value: value, ttl: ttl, now: Date()) }
    }

    @discardableResult
    public func delete(_ key: String, in scope: ContextScope) async throws -> Bool {
        let wasLive = try await get(key, in: scope) != nil
        let overlayKey = ContextOverlay.Key(scope: scope, key: key)
        _ = overlay.withLock { $0.write(overlayKey, value: nil, ttl: nil, now: Date()) }
        return wasLive
    }

    public func keys(in scope: ContextScope, prefix: String) async throws -> [String] {
        var keys = Set(try await base.keys(in: scope, prefix: prefix))
        let now = Date()
        overlay.withLock { overlay in
            for (key, written) in overlay.written where key.scope == scope && key.key.utf8.starts(with: prefix.utf8) {
                if written.value != nil, written.expiresAt.map({ $0 > now }) ?? true {
                    keys.insert(key.key)
                } else {
                    keys.remove(key.key)
                }
            }
        }
        return keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public func compareAndSet(
        _ key: String, in scope: ContextScope, expecting expected: Int64?, to value: JSONValue?, ttl: Duration?
    ) async throws -> CompareAndSetOutcome {
        try limits.check(key: key)
        if let value { _ = try limits.encode(value, key: key) }
        let current = try await get(key, in: scope)
        guard current?.version == expected else { return .conflict(current: current) }
        let overlayKey = ContextOverlay.Key(scope: scope, key: key)
        let version = overlay.withLock { $0.write(overlayKey, value: value, ttl: ttl, now: Date()) }
        return .written(version: value == nil ? nil : version)
    }

    public func increment(_ key: String, by amount: Int, in scope: ContextScope, ttl: Duration?) async throws -> Int {
        try limits.check(key: key)
        let current = try await get(key, in: scope)
        var sum = amount
        if let current {
            let old: Int
            switch current.value {
            case .integer(let value): old = value
            case .number(let value) where value == value.rounded() && abs(value) < 9.2e18: old = Int(value)
            default: throw ContextStoreError.notAnInteger(key: key, found: current.value.typeName)
            }
            let (result, overflow) = old.addingReportingOverflow(amount)
            if overflow { throw ContextStoreError.overflow(key: key) }
            sum = result
        }
        let expiresAt = current == nil ? ttl.map { Date().adding($0) } : current?.expiresAt
        let overlayKey = ContextOverlay.Key(scope: scope, key: key)
        overlay.withLock { $0.increment(overlayKey, by: amount, sum: sum, ttl: ttl, expiresAt: expiresAt) }
        return sum
    }

    /// Goes to the store at once: removing a whole scope is not part of a message's effects.
    @discardableResult
    public func deleteAll(in scope: ContextScope) async throws -> Int {
        try await base.deleteAll(in: scope)
    }

    public func checkAvailability() async throws {
        try await base.checkAvailability()
    }

    /// Does nothing: the transaction does not own its store.
    public func close() async {}
}
