public import JSONSchemaKit

/// Whether a condition holds.
@Schema
public enum ConditionStatus: String, Codable, Sendable, Hashable {
    case `true` = "True"
    case `false` = "False"
    case unknown = "Unknown"
}

/// One aspect of an object's current state (`metav1.Condition`), such as
/// `Ready` or `ConfigValid`, following the Kubernetes API conventions.
@Schema
public struct Condition: Codable, Sendable, Hashable {
    /// The aspect this condition describes, in PascalCase (e.g. `Ready`).
    @SchemaField(maxLength: 316, pattern: "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$")
    public var type: String
    /// True, False or Unknown.
    public var status: ConditionStatus
    /// The `metadata.generation` this condition was computed from.
    @SchemaField(minimum: 0)
    public var observedGeneration: Int64?
    /// When `status` last changed.
    public var lastTransitionTime: Timestamp
    /// A machine-readable CamelCase reason for the last transition.
    @SchemaField(minLength: 1, maxLength: 1024, pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    public var reason: String
    /// A human-readable explanation.
    @SchemaField(maxLength: 32768)
    public var message: String = ""

    /// Creates a condition.
    public init(
        type: String, status: ConditionStatus, reason: String, message: String = "",
        observedGeneration: Int64? = nil, lastTransitionTime: Timestamp = .now()
    ) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.observedGeneration = observedGeneration
        self.lastTransitionTime = lastTransitionTime
    }
}

extension Array where Element == Condition {
    /// The condition of the given type, if present.
    public subscript(type type: String) -> Condition? {
        first { $0.type == type }
    }

    /// Whether the condition of the given type is present and `True`.
    public func isTrue(_ type: String) -> Bool {
        self[type: type]?.status == .true
    }

    /// Adds or updates a condition the way `meta.SetStatusCondition` does:
    /// `lastTransitionTime` moves only when `status` flips; reason, message
    /// and observedGeneration always take the new values.
    ///
    /// - Returns: whether anything changed (so callers can skip a status write).
    @discardableResult
    public mutating func set(_ condition: Condition) -> Bool {
        guard let index = firstIndex(where: { $0.type == condition.type }) else {
            append(condition)
            return true
        }
        var updated = self[index]
        if updated.status != condition.status {
            updated.status = condition.status
            updated.lastTransitionTime = condition.lastTransitionTime
        }
        updated.reason = condition.reason
        updated.message = condition.message
        updated.observedGeneration = condition.observedGeneration
        guard updated != self[index] else { return false }
        self[index] = updated
        return true
    }

    /// Removes the condition of the given type; returns whether it was present.
    @discardableResult
    public mutating func remove(type: String) -> Bool {
        let before = count
        removeAll { $0.type == type }
        return count != before
    }
}
