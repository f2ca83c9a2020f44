public import JSONSchemaKit
import Synchronization

/// Replaces secret values by `***` in text and JSON values: what a module host
/// applies to everything it shows or logs (recent messages, errors, status reports,
/// log lines), so a secret a flow put into a message is not shown either.
///
/// Redaction is by value: every occurrence of a known secret value is replaced,
/// longest values first. Values shorter than ``minimumLength`` are not redacted
/// (a one-letter "secret" would blank every occurrence of that letter); a value's
/// JSON-escaped form (quotes, backslashes, control characters) is redacted too, for
/// text that shows JSON.
public struct Redactor: Sendable, Hashable {
    /// What a redacted value is shown as.
    public static let mask = "***"
    /// The shortest value that is redacted.
    public static let minimumLength = 4

    /// The values redacted, longest first (their JSON-escaped forms included).
    public private(set) var values: [String]

    /// A redactor of `secrets` (those shorter than ``minimumLength`` are left out).
    public init(secrets: some Sequence<String>) {
        var unique: Set<String> = []
        for secret in secrets where secret.count >= Self.minimumLength {
            unique.insert(secret)
            let escaped = String(JSONValue.string(secret).jsonString.dropFirst().dropLast())
            if escaped != secret { unique.insert(escaped) }
        }
        values = unique.sorted { $0.utf8.count != $1.utf8.count ? $0.utf8.count > $1.utf8.count : $0 < $1 }
    }

    /// Whether there is nothing to redact.
    public var isEmpty: Bool { values.isEmpty }

    /// `text` with every secret value replaced by `***`.
    public func redact(_ text: String) -> String {
        guard !values.isEmpty else { return text }
        var result = text
        for value in values where result.contains(value) {
            result = result.replacing(value, with: Self.mask)
        }
        return result
    }

    /// `value` with every secret value in its strings (object keys too) replaced by `***`.
    public func redact(_ value: JSONValue) -> JSONValue {
        guard !values.isEmpty else { return value }
        switch value {
        case .string(let string): return .string(redact(string))
        case .array(let elements): return .array(elements.map(redact))
        case .object(let members):
            var result: [String: JSONValue] = [:]
            result.reserveCapacity(members.count)
            for (key, member) in members { result[redact(key)] = redact(member) }
            return .object(result)
        case .null, .bool, .integer, .number: return value
        }
    }
}

/// The secret values one process knows, shared by everything that shows or logs
/// (``Redactor`` for the current set). Values are added when they are resolved and
/// kept after a Secret changes (a message sent before the change may still hold the
/// old value), up to ``capacity`` values, the oldest dropped first.
public final class SecretRedaction: Sendable {
    /// How many values are kept.
    public let capacity: Int
    private let state: Mutex<(order: [String], redactor: Redactor)>

    /// An empty set that keeps up to `capacity` values.
    public init(capacity: Int = 4096) {
        self.capacity = capacity
        state = Mutex(([], Redactor(secrets: [])))
    }

    /// The redactor of the values known now.
    public var redactor: Redactor { state.withLock { $0.redactor } }

    /// Adds secret values (those known already are not added twice).
    public func add(_ secrets: some Sequence<String>) {
        let new = secrets.filter { $0.count >= Redactor.minimumLength }
        guard !new.isEmpty else { return }
        state.withLock { state in
            var known = Set(state.order)
            var changed = false
            for secret in new where known.insert(secret).inserted {
                state.order.append(secret)
                changed = true
            }
            guard changed else { return }
            if state.order.count > capacity { state.order.removeFirst(state.order.count - capacity) }
            state.redactor = Redactor(secrets: state.order)
        }
    }

    /// `text` with every known secret value replaced by `***`.
    public func redact(_ text: String) -> String { redactor.redact(text) }

    /// `value` with every known secret value replaced by `***`.
    public func redact(_ value: JSONValue) -> JSONValue { redactor.redact(value) }
}
