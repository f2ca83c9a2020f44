public import Foundation
public import JSONSchemaKit

/// A point in time as Kubernetes writes it (`metav1.Time`): RFC 3339 in UTC
/// with whole seconds, e.g. `2026-11-23T16:20:24Z`. Decoding also accepts
/// fractional seconds and offsets, as API servers send for `MicroTime`.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The instant.
    public var date: Date

    /// Wraps an instant; sub-second precision is dropped, as the API server does.
    public init(_ date: Date) {
        self.date = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    /// The current time.
    public static func now() -> Timestamp { Timestamp(Date()) }

    /// Parses an RFC 3339 string.
    public init?(rfc3339 text: String) {
        if let date = try? Date.ISO8601FormatStyle().parse(text) {
            self.init(date)
        } else if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) {
            self.init(date)
        } else {
            return nil
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected an RFC 3339 time, got \"\(text)\"")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// The RFC 3339 form, e.g. `2026-11-23T16:20:24Z`.
    public var description: String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC") ?? .gmt))
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.date < rhs.date }
}

extension Timestamp: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { JSONSchema(type: .string).with(format: "date-time") }
}
