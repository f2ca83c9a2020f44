import Foundation
import JSONSchemaKit

/// How large an object is as stored (JSON), measured without encoding it, and limits as people write them.
enum ObjectSize {
    /// Whether `value` encodes to more than `limit` bytes of JSON (a lower bound, so it never
    /// refuses an object that fits; see `JSONValue.encodedSizeExceeds`).
    static func exceeds(_ value: JSONValue, _ limit: Int) -> Bool {
        value.encodedSizeExceeds(limit)
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
