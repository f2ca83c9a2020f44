import Foundation
import JSONSchemaKit

/// How large an object is as stored (JSON), measured without encoding it.
enum ObjectSize {
    /// Whether `value` encodes to more than `limit` bytes of JSON. Counts a lower bound
    /// (strings unescaped, numbers as one digit), so it never refuses an object that fits,
    /// and stops walking as soon as the count is over.
    static func exceeds(_ value: JSONValue, _ limit: Int) -> Bool {
        var total = 0
        return add(value, to: &total, limit: limit)
    }

    /// Adds `value`'s size to `total`; `true` once `total` is over `limit`.
    private static func add(_ value: JSONValue, to total: inout Int, limit: Int) -> Bool {
        switch value {
        case .null: total += 4
        case .bool(let flag): total += flag ? 4 : 5
        case .integer, .number: total += 1
        case .string(let text): total += text.utf8.count + 2
        case .array(let elements):
            total += 1 + elements.count
            for element in elements where add(element, to: &total, limit: limit) { return true }
        case .object(let members):
            total += 1 + members.count
            for (key, member) in members {
                total += key.utf8.count + 3
                if add(member, to: &total, limit: limit) { return true }
            }
        }
        return total > limit
    }

    /// `1.5 MiB`, `3 MiB`, `512 KiB` or `100 bytes`: a limit as people write it.
    static func describe(_ bytes: Int) -> String {
        func trimmed(_ value: Double) -> String {
            value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
        }
        if bytes >= 1024 * 1024 { return trimmed(Double(bytes) / 1_048_576) + " MiB" }
        if bytes >= 1024 { return trimmed(Double(bytes) / 1024) + " KiB" }
        return "\(bytes) bytes"
    }
}
