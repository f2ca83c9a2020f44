import Foundation
public import JSONSchemaKit

/// Bounds every backend enforces, with the same errors.
public struct ContextLimits: Sendable, Hashable {
    /// The largest value, as bytes of its JSON encoding (default 1 MiB).
    public var maxValueBytes: Int
    /// The longest key, in UTF-8 bytes (default 256).
    public var maxKeyBytes: Int
    /// How many live keys one scope may hold (default 10,000).
    public var maxKeysPerScope: Int

    /// Creates limits; the defaults are the documented ones.
    public init(maxValueBytes: Int = 1 << 20, maxKeyBytes: Int = 256, maxKeysPerScope: Int = 10_000) {
        self.maxValueBytes = maxValueBytes
        self.maxKeyBytes = maxKeyBytes
        self.maxKeysPerScope = maxKeysPerScope
    }

    /// Throws ``ContextStoreError/invalidKey(key:reason:)`` for an empty key or one longer than ``maxKeyBytes``.
    public func check(key: String) throws(ContextStoreError) {
        if key.isEmpty { throw .invalidKey(key: key, reason: "a key must not be empty") }
        if key.utf8.contains(0) { throw .invalidKey(key: key.replacingNUL, reason: "a key must not contain NUL characters") }
        let bytes = key.utf8.count
        if bytes > maxKeyBytes {
            throw .invalidKey(key: String(key.prefix(64)) + "…", reason: "\(bytes) bytes, at most \(maxKeyBytes) allowed")
        }
    }

    /// The value's JSON encoding, after checking it against ``maxValueBytes``.
    public func encode(_ value: JSONValue, key: String) throws(ContextStoreError) -> String {
        if let path = value.firstNonFiniteNumber(at: "") {
            throw .invalidValue(key: key, reason: "\(path.isEmpty ? "the value" : path) is not a finite number; JSON has no NaN or infinity")
        }
        let encoded = value.jsonString
        let bytes = encoded.utf8.count
        if bytes > maxValueBytes { throw .valueTooLarge(key: key, bytes: bytes, limit: maxValueBytes) }
        return encoded
    }
}

extension String {
    /// The text with NUL characters shown as `\0` (for an error message).
    fileprivate var replacingNUL: String { replacingOccurrences(of: "\u{0}", with: "\\0") }
}

extension JSONValue {
    /// The path (`.a[2]`) of the first NaN or infinite number in the value, if any.
    fileprivate func firstNonFiniteNumber(at path: String) -> String? {
        switch self {
        case .number(let number): return number.isFinite ? nil : path
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let found = element.firstNonFiniteNumber(at: "\(path)[\(index)]") { return found }
            }
            return nil
        case .object(let fields):
            for (name, field) in fields {
                if let found = field.firstNonFiniteNumber(at: "\(path).\(name)") { return found }
            }
            return nil
        case .null, .bool, .integer, .string: return nil
        }
    }
}
