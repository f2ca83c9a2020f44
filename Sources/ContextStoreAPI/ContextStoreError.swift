/// Why a context operation failed. Messages name the key or scope and the rule, never a value.
public enum ContextStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The key is empty or too long.
    case invalidKey(key: String, reason: String)
    /// The value cannot be stored as JSON (a NaN or infinite number).
    case invalidValue(key: String, reason: String)
    /// The value's JSON encoding is larger than the limit.
    case valueTooLarge(key: String, bytes: Int, limit: Int)
    /// Writing a new key would exceed the scope's key limit.
    case tooManyKeys(scope: ContextScope, limit: Int)
    /// `increment` found a value that is not an integer.
    case notAnInteger(key: String, found: String)
    /// `increment` would overflow a 64-bit integer.
    case overflow(key: String)
    /// An `update` kept losing the race with other writers.
    case conflict(key: String, attempts: Int)
    /// A stored value could not be read back as JSON (the store was written by something else).
    case corrupt(key: String, reason: String)
    /// The backend cannot be reached or refused the operation; `reason` says why (never credentials).
    case unavailable(store: String, reason: String)
    /// The node asked for its flow's context but belongs to no TinyFlow.
    case noFlow(node: String)
    /// A caller asked a module host for another namespace's context than the one it serves.
    case namespaceNotServed(namespace: String, served: String)

    /// One line naming what failed and why.
    public var description: String {
        switch self {
        case .invalidKey(let key, let reason): "invalid context key \"\(key)\": \(reason)"
        case .invalidValue(let key, let reason): "invalid context value for key \"\(key)\": \(reason)"
        case .valueTooLarge(let key, let bytes, let limit):
            "context value of key \"\(key)\" is \(bytes) bytes, at most \(limit) allowed"
        case .tooManyKeys(let scope, let limit): "\(scope) context already holds its limit of \(limit) keys"
        case .notAnInteger(let key, let found):
            "cannot increment context key \"\(key)\": it holds \("aeiou".contains(found.prefix(1)) ? "an" : "a") \(found), not an integer"
        case .overflow(let key): "incrementing context key \"\(key)\" overflows a 64-bit integer"
        case .conflict(let key, let attempts): "context key \"\(key)\" changed under \(attempts) update attempts in a row"
        case .corrupt(let key, let reason): "context key \"\(key)\" holds an unreadable value: \(reason)"
        case .unavailable(let store, let reason): "context store \(store) is unavailable: \(reason)"
        case .noFlow(let node): "node \(node) belongs to no TinyFlow, so it has no flow context"
        case .namespaceNotServed(let namespace, let served):
            "this module host serves the context of namespace \(served), not of \(namespace)"
        }
    }
}
