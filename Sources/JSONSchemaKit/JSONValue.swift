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
        if let tree = decoder as? TreeDecoder {
            self = tree.value  // already parsed: no need to probe
            return
        }
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
        self = try JSONParser.parse(data)
    }

    /// Decodes this value as `type` (with ``JSONValueDecoder``; dates from ISO 8601
    /// strings, as ``init(encoding:)`` writes them).
    public func decode<T: Decodable>(as type: T.Type = T.self) throws -> T {
        try JSONValueDecoder(dateDecodingStrategy: .iso8601).decode(T.self, from: self)
    }

    /// Parses JSON text; throws a ``JSONParsingError`` saying where and why it is not JSON.
    public init(parsing data: Data) throws(JSONParsingError) {
        self = try JSONParser.parse(data)
    }

    /// Compact JSON text with sorted keys: the same value always gives the same bytes
    /// (the bytes `JSONEncoder` writes with `.sortedKeys` and `.withoutEscapingSlashes`,
    /// written directly, several times faster). Throws for a non-finite number.
    public func jsonData() throws -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64)
        try JSONTextWriter.write(self, into: &bytes)
        return Data(bytes)
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

/// Writes ``JSONValue``s as compact JSON text, byte for byte as Foundation's
/// `JSONEncoder` does with `.sortedKeys` and `.withoutEscapingSlashes`: keys in
/// UTF-8 order, integral doubles below 2⁵³ without a fraction, the shortest
/// round-tripping form otherwise, and only `"`, `\\` and control characters escaped.
enum JSONTextWriter {
    static func write(_ value: JSONValue, into bytes: inout [UInt8]) throws {
        switch value {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let flag): bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number): bytes.append(contentsOf: String(number).utf8)
        case .number(let number): try write(number, into: &bytes)
        case .string(let text): write(text, into: &bytes)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                try write(element, into: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let fields):
            bytes.append(UInt8(ascii: "{"))
            let keys = fields.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (index, key) in keys.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                write(key, into: &bytes)
                bytes.append(UInt8(ascii: ":"))
                if let field = fields[key] { try write(field, into: &bytes) }
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    private static func write(_ number: Double, into bytes: inout [UInt8]) throws {
        guard number.isFinite else {
            throw EncodingError.invalidValue(number, .init(codingPath: [], debugDescription: "\(number) is not valid JSON"))
        }
        if number.rounded(.towardZero) == number, abs(number) <= 9_007_199_254_740_992 {
            if number == 0, number.sign == .minus {
                bytes.append(contentsOf: "-0".utf8)
            } else {
                bytes.append(contentsOf: String(Int64(number)).utf8)
            }
            return
        }
        var text = number.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func write(_ text: String, into bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x00..<0x20:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(hexDigits[Int(byte >> 4)])
                bytes.append(hexDigits[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
