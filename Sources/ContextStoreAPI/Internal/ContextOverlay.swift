import Foundation
public import JSONSchemaKit

/// The state of a ``ContextTransaction`` without locks or I/O: what the handler wrote so far
/// (read back by the handler itself), the version each key had in the store when the handler
/// first read it, and the ``ContextMutation``s to apply when the message is settled.
///
/// Versions the handler sees for keys it wrote are provisional, counted down from
/// `Int64.max`, so they never equal a store's version: a compare-and-set within the handler
/// compares against them, and the mutation it records expects the store's version of the
/// key's first read (or nothing, for a key first written without a read).
struct ContextOverlay: Sendable {
    /// A key of one scope.
    struct Key: Sendable, Hashable {
        var scope: ContextScope
        var key: String
    }

    /// What the handler wrote to a key: its value (`nil`: deleted), expiry and provisional version.
    struct Written: Sendable {
        var value: JSONValue?
        var expiresAt: Date?
        var version: Int64

        var entry: ContextEntry? { value.map { ContextEntry(value: $0, version: version, expiresAt: expiresAt) } }
    }

    private(set) var written: [Key: Written] = [:]
    /// The store's version of each key the handler read before writing it (`nil`: absent).
    private var firstRead: [Key: Int64?] = [:]
    /// Keys whose first write already carried the expectation of their first read.
    private var checked: Set<Key> = []
    private(set) var mutations: [ContextMutation] = []
    private var nextVersion = Int64.max

    /// The handler's own write of `key`, if it made one (its value `nil` if it deleted the key).
    func ownWrite(_ key: Key) -> Written? { written[key] }

    /// Notes what the store held when the handler read `key` (only the first read counts).
    mutating func noteRead(_ key: Key, version: Int64?) {
        guard written[key] == nil, firstRead[key] == nil else { return }
        firstRead[key] = .some(version)
    }

    /// Records a write of `value` (`nil`: delete) made after reading `key` (if it was read);
    /// returns the provisional version. The first write of a key that was read expects the
    /// version read; later writes, and writes without a read, expect nothing.
    mutating func write(_ key: Key, value: JSONValue?, ttl: Duration?, now: Date) -> Int64 {
        let expectation: ExpectedVersion
        if !checked.contains(key), let read = firstRead[key] {
            expectation = read.map(ExpectedVersion.version) ?? .absent
        } else {
            expectation = .any
        }
        checked.insert(key)
        mutations.append(.write(key: key.key, scope: key.scope, value: value, ttl: ttl, expecting: expectation))
        return remember(key, value: value, expiresAt: ttl.map { now.adding($0) })
    }

    /// Records an increment by `amount` whose result is `sum`; keeps `expiresAt` (the key's
    /// existing expiry, or the new one of a key it creates). Increments expect no version.
    mutating func increment(_ key: Key, by amount: Int, sum: Int, ttl: Duration?, expiresAt: Date?) {
        mutations.append(.increment(key: key.key, scope: key.scope, by: amount, ttl: ttl))
        _ = remember(key, value: .integer(sum), expiresAt: expiresAt)
    }

    private mutating func remember(_ key: Key, value: JSONValue?, expiresAt: Date?) -> Int64 {
        let version = nextVersion
        nextVersion -= 1
        written[key] = Written(value: value, expiresAt: expiresAt, version: version)
        return version
    }
}
