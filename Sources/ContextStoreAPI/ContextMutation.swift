public import JSONSchemaKit

/// One context write a handler of a durable message made, kept until the message is settled
/// and then applied in the same transaction as its acknowledgement (`MessageStore.settle`):
/// the handler's effects on context happen exactly once, or not at all.
public enum ContextMutation: Sendable, Hashable {
    /// Writes `value` under `key` (`nil`: deletes it) with `ttl` as its time to live, if the
    /// key's live version is still what the handler read (`expecting`).
    case write(key: String, scope: ContextScope, value: JSONValue?, ttl: Duration?, expecting: ExpectedVersion)
    /// Adds `amount` to the integer under `key` (absent: 0), whatever other writers did
    /// meanwhile: increments commute, so they need no version. With `ttl`, a key it creates
    /// expires that long after the commit.
    case increment(key: String, scope: ContextScope, by: Int, ttl: Duration?)

    /// The key written.
    public var key: String {
        switch self {
        case .write(let key, _, _, _, _), .increment(let key, _, _, _): key
        }
    }

    /// The scope written.
    public var scope: ContextScope {
        switch self {
        case .write(_, let scope, _, _, _), .increment(_, let scope, _, _): scope
        }
    }
}

/// The version a conditional context write expects a key to have when it is applied.
public enum ExpectedVersion: Sendable, Hashable {
    /// Whatever it is: the write does not depend on a read.
    case any
    /// Absent or expired.
    case absent
    /// Exactly this version.
    case version(Int64)

    /// Whether a key at `current` (`nil`: absent or expired) meets the expectation.
    public func isMet(by current: Int64?) -> Bool {
        switch self {
        case .any: true
        case .absent: current == nil
        case .version(let version): current == version
        }
    }
}
