public import Foundation

/// The result of an API call that returns no object, and the body of every
/// error the API server answers with (`metav1.Status`).
public struct Status: Codable, Sendable, Hashable, Error, CustomStringConvertible {
    /// Always `v1`.
    public var apiVersion: String?
    /// Always `Status`.
    public var kind: String?
    /// `Success` or `Failure`.
    public var status: String?
    /// A human-readable description of what happened.
    public var message: String?
    /// A machine-readable CamelCase reason, e.g. `Conflict`, `NotFound`, `Expired`.
    public var reason: String?
    /// The HTTP status code the answer carried.
    public var code: Int?
    /// More about the object the failure concerns.
    public var details: StatusDetails?

    /// Creates a status.
    public init(
        status: String? = "Failure", message: String? = nil, reason: String? = nil, code: Int? = nil,
        details: StatusDetails? = nil
    ) {
        self.apiVersion = "v1"
        self.kind = "Status"
        self.status = status
        self.message = message
        self.reason = reason
        self.code = code
        self.details = details
    }

    /// Whether this says the requested resourceVersion is too old (`410 Gone` / `Expired`).
    public var isGone: Bool { code == 410 || reason == "Expired" || reason == "Gone" }

    /// `<code> <reason>: <message>`.
    public var description: String {
        var text = "\(code.map(String.init) ?? "?") \(reason ?? "Unknown")"
        if let message, !message.isEmpty { text += ": \(message)" }
        return text
    }
}

/// Details of a ``Status``: which object, and why (field causes of a `422 Invalid`).
public struct StatusDetails: Codable, Sendable, Hashable {
    /// The object's name, if one is concerned.
    public var name: String?
    /// The object's API group.
    public var group: String?
    /// The object's kind (or resource).
    public var kind: String?
    /// The object's uid.
    public var uid: String?
    /// The individual reasons, e.g. one per invalid field.
    public var causes: [StatusCause]?
    /// How long the client should wait before retrying, if the server said.
    public var retryAfterSeconds: Int?

    /// Creates details.
    public init(name: String? = nil, group: String? = nil, kind: String? = nil, causes: [StatusCause]? = nil) {
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = causes
    }
}

/// One reason for a failure, usually naming a field.
public struct StatusCause: Codable, Sendable, Hashable {
    /// A machine-readable reason, e.g. `FieldValueInvalid`.
    public var reason: String?
    /// A human-readable description.
    public var message: String?
    /// The field path, e.g. `spec.module`.
    public var field: String?

    /// Creates a cause.
    public init(reason: String? = nil, message: String? = nil, field: String? = nil) {
        self.reason = reason
        self.message = message
        self.field = field
    }
}

/// A point in time with microseconds (`metav1.MicroTime`), as Leases and
/// Events carry it, e.g. `2026-11-23T16:20:24.123456Z`.
public struct MicroTime: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The instant.
    public var date: Date

    /// Wraps an instant, keeping microseconds.
    public init(_ date: Date) {
        self.date = Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1_000_000).rounded(.down) / 1_000_000)
    }

    /// The current time.
    public static func now() -> MicroTime { MicroTime(Date()) }

    /// Decodes an RFC 3339 string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = MicroTime.parse(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected an RFC 3339 time, got \"\(text)\"")
        }
        self.init(date)
    }

    /// Encodes ``description``.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// The RFC 3339 form with six fractional digits in UTC.
    public var description: String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let micros = Int(((date.timeIntervalSince1970 - seconds) * 1_000_000).rounded())
        let whole = Timestamp(Date(timeIntervalSince1970: seconds)).description  // ends in "Z"
        let fraction = String(min(micros, 999_999))
        return whole.dropLast() + "." + String(repeating: "0", count: 6 - fraction.count) + fraction + "Z"
    }

    /// Parses RFC 3339 with or without fractional seconds and with any offset.
    static func parse(_ text: String) -> Date? {
        // Split off the fraction ourselves: ISO8601FormatStyle keeps only milliseconds.
        guard let dot = text.firstIndex(of: ".") else { return Timestamp(rfc3339: text)?.date }
        var end = text.index(after: dot)
        while end < text.endIndex, text[end].isNumber { end = text.index(after: end) }
        let digits = text[text.index(after: dot)..<end]
        guard let base = Timestamp(rfc3339: String(text[..<dot]) + String(text[end...])) else { return nil }
        let fraction = Double("0." + digits) ?? 0
        return base.date.addingTimeInterval(fraction)
    }

    /// Earlier instants sort first.
    public static func < (lhs: MicroTime, rhs: MicroTime) -> Bool { lhs.date < rhs.date }
}
