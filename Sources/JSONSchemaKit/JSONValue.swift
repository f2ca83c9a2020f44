import Foundation

/// An arbitrary JSON value: message payloads, free-form port configuration and
/// any part of a Kubernetes object that Tinyflow does not model with a type.
///
/// Integers and floating-point numbers are kept apart so that a configuration
/// value of `3` validates against `"type": "integer"` and survives a round
/// trip unchanged.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue {
    /// The JSON Schema type name of this value (`"object"`, `"integer"`, …).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .integer: "integer"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// The member named `key` if this is an object, else `nil`.
    public subscript(key: String) -> JSONValue? {
        get {
            guard case .object(let members) = self else { return nil }
            return members[key]
        }
        set {
            guard case .object(var members) = self else { return }
            members[key] = newValue
            self = .object(members)
        }
    }

    /// The element at `index` if this is an array and the index is in range, else `nil`.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    /// The string, if this is a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer, if this is an integer or a number with no fractional part.
    public var intValue: Int? {
        switch self {
        case .integer(let value): return value
        case .number(let value) where value.rounded() == value && abs(value) < 9.0e18: return Int(value)
        default: return nil
        }
    }

    /// The number, if this is an integer or a floating-point number.
    public var doubleValue: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }

    /// The boolean, if this is a boolean.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The members, if this is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// Whether this is `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension JSONValue: Codable {
    /// Set to `true` in a decoder's `userInfo` when its input is JSON text, whose scalars are
    /// typed (a JSON string never decodes as a number or a boolean, nor the other way round).
    /// Then ``init(from:)`` tries the common kinds first — strings, objects, integers — which
    /// makes decoding several times cheaper: every failed try of a `Decoder` throws an error
    /// carrying its coding path. YAML scalars are untyped (`5` also decodes as a string), so
    /// without the key the order is the safe one for every decoder. See
    /// `JSONDecoder.forJSONValues()`.
    public static let typedScalarsKey = CodingUserInfoKey(rawValue: "dev.tinyflow.json-value.typed-scalars")!

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if decoder.userInfo[Self.typedScalarsKey] as? Bool == true {
            self = try Self.decodeTyped(container)
            return
        }
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected a JSON value")
        }
    }

    private static func decodeTyped(_ container: any SingleValueDecodingContainer) throws -> JSONValue {
        if container.decodeNil() { return .null }
        if let value = try? container.decode(String.self) { return .string(value) }
        if let value = try? container.decode([String: JSONValue].self) { return .object(value) }
        if let value = try? container.decode(Int.self) { return .integer(value) }
        if let value = try? container.decode(Bool.self) { return .bool(value) }
        if let value = try? container.decode([JSONValue].self) { return .array(value) }
        if let value = try? container.decode(Double.self) { return .number(value) }
        throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a JSON value")
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue {
    /// Encodes any `Encodable` value into a `JSONValue`.
    public init(encoding value: some Encodable) throws {
        let data = try JSONValue.encoder.encode(value)
        self = try JSONValue.decoder.decode(JSONValue.self, from: data)
    }

    /// Decodes this value as `type`.
    public func decode<T: Decodable>(as type: T.Type = T.self) throws -> T {
        try JSONValue.decoder.decode(T.self, from: JSONValue.encoder.encode(self))
    }

    /// Parses JSON text.
    public init(parsing data: Data) throws {
        self = try JSONValue.decoder.decode(JSONValue.self, from: data)
    }

    /// Compact JSON text with sorted keys: the same value always gives the same bytes.
    public func jsonData() throws -> Data {
        try JSONValue.encoder.encode(self)
    }

    /// Compact JSON text with sorted keys, for messages and logs.
    public var jsonString: String {
        (try? jsonData()).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder.forJSONValues()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

extension JSONDecoder {
    /// A JSON decoder that tells ``JSONValue`` its input has typed scalars
    /// (``JSONValue/typedScalarsKey``), so values decode with the fewest failed tries.
    public static func forJSONValues() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.userInfo[JSONValue.typedScalarsKey] = true
        return decoder
    }
}

extension JSONValue: CustomStringConvertible {
    public var description: String { jsonString }
}
