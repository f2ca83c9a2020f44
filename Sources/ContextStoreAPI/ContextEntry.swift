public import Foundation
public import JSONSchemaKit

/// A stored value with what the store knows about it.
public struct ContextEntry: Sendable, Hashable {
    /// The value.
    public var value: JSONValue
    /// Changes with every write of the key. Versions come from one store-wide increasing
    /// sequence, so a key deleted and written again never repeats a version a reader holds
    /// (no ABA in ``ContextStore/compareAndSet(_:in:expecting:to:ttl:)``).
    public var version: Int64
    /// When the key expires, if it has a time to live. An expired key reads as absent.
    public var expiresAt: Date?

    /// Creates an entry.
    public init(value: JSONValue, version: Int64, expiresAt: Date? = nil) {
        self.value = value
        self.version = version
        self.expiresAt = expiresAt
    }
}

/// What a compare-and-set did.
public enum CompareAndSetOutcome: Sendable, Hashable {
    /// The write happened: the key now has `version`, or is gone when the write was a delete.
    case written(version: Int64?)
    /// The key's version was not the expected one; `current` is what is stored now (absent: `nil`).
    case conflict(current: ContextEntry?)
}
