import Foundation

/// Decodes `Decodable` values from a ``JSONValue`` (or from JSON text, parsed by a
/// direct parser first), as `JSONDecoder` does with its default strategies: `Date`
/// as its own `Codable` (seconds since 2001) unless ``dateDecodingStrategy`` says
/// ISO 8601, base64 `Data`, URLs from strings, numbers converted only when exact.
///
/// Several times faster than `JSONDecoder` for API objects: a ``JSONValue`` member
/// (a configuration, a schema) is taken from the tree as it is instead of being
/// decoded again one `Codable` call per node.
public struct JSONValueDecoder: Sendable {
    /// Values handed to the types being decoded (`Decoder.userInfo`).
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    /// How `Date` values are decoded.
    public enum DateDecodingStrategy: Sendable {
        /// `Date`'s own `Codable`: a number of seconds since 2001-01-01 (`JSONDecoder`'s default).
        case deferredToDate
        /// An ISO 8601 string such as `2026-11-23T21:00:00Z`.
        case iso8601
    }

    /// How `Date` values are decoded.
    public var dateDecodingStrategy: DateDecodingStrategy

    /// A decoder with the given date strategy.
    public init(dateDecodingStrategy: DateDecodingStrategy = .deferredToDate) {
        self.dateDecodingStrategy = dateDecodingStrategy
    }

    /// Decodes a `type` from `value`.
    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try decodeValue(type, value, .root, TreeOptions(userInfo: userInfo, isoDates: dateDecodingStrategy == .iso8601))
    }

    /// Parses JSON text and decodes a `type` from it. Malformed text throws
    /// `DecodingError.dataCorrupted` whose underlying error is a ``JSONParsingError``.
    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let value: JSONValue
        do {
            value = try JSONParser.parse(data)
        } catch {
            throw DecodingError.dataCorrupted(.init(
                codingPath: [], debugDescription: "The given data was not valid JSON: \(error)", underlyingError: error))
        }
        return try decode(type, from: value)
    }
}

/// What every decoder of one tree shares.
private struct TreeOptions {
    var userInfo: [CodingUserInfoKey: Any]
    var isoDates: Bool
}

/// A coding path built only when an error needs it.
private indirect enum TreePath: Sendable {
    case root
    case key(String, parent: TreePath)
    case index(Int, parent: TreePath)

    var codingPath: [any CodingKey] {
        var keys: [any CodingKey] = []
        var node = self
        while true {
            switch node {
            case .root: return keys.reversed()
            case .key(let key, let parent):
                keys.append(TreeKey(stringValue: key))
                node = parent
            case .index(let index, let parent):
                keys.append(TreeKey(intValue: index))
                node = parent
            }
        }
    }
}

private struct TreeKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = "Index \(intValue)"
        self.intValue = intValue
    }
}

/// The `Decoder` over one value of the tree; also its single-value container.
final class TreeDecoder: Decoder, SingleValueDecodingContainer {
    let value: JSONValue
    fileprivate let path: TreePath
    fileprivate let options: TreeOptions

    fileprivate init(value: JSONValue, path: TreePath, options: TreeOptions) {
        self.value = value
        self.path = path
        self.options = options
    }

    var userInfo: [CodingUserInfoKey: Any] { options.userInfo }

    var codingPath: [any CodingKey] { path.codingPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw mismatch([String: Any].self, value, path) }
        return KeyedDecodingContainer(KeyedTreeContainer<Key>(members: members, path: path, options: options))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw mismatch([Any].self, value, path) }
        return UnkeyedTreeContainer(elements: elements, path: path, options: options)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { value.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try decodeScalar(type, value, path) }
    func decode(_ type: String.Type) throws -> String { try decodeScalar(type, value, path) }
    func decode(_ type: Double.Type) throws -> Double { try decodeScalar(type, value, path) }
    func decode(_ type: Float.Type) throws -> Float { try decodeScalar(type, value, path) }
    func decode(_ type: Int.Type) throws -> Int { try decodeScalar(type, value, path) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decodeScalar(type, value, path) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decodeScalar(type, value, path) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decodeScalar(type, value, path) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decodeScalar(type, value, path) }
    func decode(_ type: UInt.Type) throws -> UInt { try decodeScalar(type, value, path) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeScalar(type, value, path) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeScalar(type, value, path) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeScalar(type, value, path) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeScalar(type, value, path) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type, value, path, options) }
}

private struct KeyedTreeContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    let path: TreePath
    fileprivate let options: TreeOptions

    var codingPath: [any CodingKey] { path.codingPath }
    var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    private func member(_ key: Key) throws -> JSONValue {
        guard let member = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(
                codingPath: path.codingPath, debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return member
    }

    private func memberPath(_ key: Key) -> TreePath { .key(key.stringValue, parent: path) }

    func decodeNil(forKey key: Key) throws -> Bool { try member(key).isNull }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decodeScalar(type, member(key), memberPath(key)) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decodeScalar(type, member(key), memberPath(key)) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decodeValue(type, member(key), memberPath(key), options)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try TreeDecoder(value: member(key), path: memberPath(key), options: options).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try TreeDecoder(value: member(key), path: memberPath(key), options: options).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        TreeDecoder(value: members["super"] ?? .null, path: .key("super", parent: path), options: options)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        TreeDecoder(value: members[key.stringValue] ?? .null, path: memberPath(key), options: options)
    }
}

private struct UnkeyedTreeContainer: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    let path: TreePath
    fileprivate let options: TreeOptions
    private(set) var currentIndex = 0

    init(elements: [JSONValue], path: TreePath, options: TreeOptions) {
        self.elements = elements
        self.path = path
        self.options = options
    }

    var codingPath: [any CodingKey] { path.codingPath }
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private mutating func next<T>(_ type: T.Type) throws -> (JSONValue, TreePath) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(
                codingPath: TreePath.index(currentIndex, parent: path).codingPath, debugDescription: "Unkeyed container is at end."))
        }
        defer { currentIndex += 1 }
        return (elements[currentIndex], .index(currentIndex, parent: path))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any?.self, .init(codingPath: codingPath, debugDescription: "Unkeyed container is at end."))
        }
        guard elements[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: String.Type) throws -> String { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: Double.Type) throws -> Double { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: Float.Type) throws -> Float { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: Int.Type) throws -> Int { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let (v, p) = try next(type); return try decodeScalar(type, v, p) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, path) = try next(type)
        return try decodeValue(type, value, path, options)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (value, path) = try next([String: Any].self)
        return try TreeDecoder(value: value, path: path, options: options).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (value, path) = try next([Any].self)
        return try TreeDecoder(value: value, path: path, options: options).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (value, path) = try next(Any.self)
        return TreeDecoder(value: value, path: path, options: options)
    }
}

// MARK: Values

/// Decodes any `Decodable`: a ``JSONValue`` as it is, Foundation's special cases as
/// `JSONDecoder` does by default, everything else through its `init(from:)`.
private func decodeValue<T: Decodable>(_ type: T.Type, _ value: JSONValue, _ path: TreePath, _ options: TreeOptions) throws -> T {
    if T.self == JSONValue.self, let value = value as? T { return value }
    if let special = try foundationValue(type, value, path, isoDates: options.isoDates) as? T { return special }
    return try T(from: TreeDecoder(value: value, path: path, options: options))
}

/// A `Data` or `URL` decoded as `JSONDecoder` does by default (from a base64 or URL
/// string), or a `Date` from an ISO 8601 string when `isoDates`; `nil` for other types.
private func foundationValue(_ type: Any.Type, _ value: JSONValue, _ path: TreePath, isoDates: Bool) throws -> Any? {
    func corrupted(_ description: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: path.codingPath, debugDescription: description))
    }
    if isoDates, type == Date.self {
        guard let date = try? Date.ISO8601FormatStyle().parse(try decodeScalar(String.self, value, path)) else {
            throw corrupted("Expected date string to be ISO8601-formatted.")
        }
        return date
    }
    if type == Data.self {
        guard let data = Data(base64Encoded: try decodeScalar(String.self, value, path)) else {
            throw corrupted("Encountered Data is not valid Base64.")
        }
        return data
    }
    if type == URL.self {
        guard let url = URL(string: try decodeScalar(String.self, value, path)) else { throw corrupted("Invalid URL string.") }
        return url
    }
    return nil
}

private protocol TreeScalar {
    static func from(_ value: JSONValue) -> Self?
}

extension Bool: TreeScalar {
    fileprivate static func from(_ value: JSONValue) -> Bool? { value.boolValue }
}

extension String: TreeScalar {
    fileprivate static func from(_ value: JSONValue) -> String? { value.stringValue }
}

extension Double: TreeScalar {
    fileprivate static func from(_ value: JSONValue) -> Double? { value.doubleValue }
}

extension Float: TreeScalar {
    fileprivate static func from(_ value: JSONValue) -> Float? { value.doubleValue.map { Float($0) } }
}

extension TreeScalar where Self: FixedWidthInteger {
    fileprivate static func from(_ value: JSONValue) -> Self? {
        switch value {
        case .integer(let integer): Self(exactly: integer)
        case .number(let number): Self(exactly: number)
        default: nil
        }
    }
}

extension Int: TreeScalar {}
extension Int8: TreeScalar {}
extension Int16: TreeScalar {}
extension Int32: TreeScalar {}
extension Int64: TreeScalar {}
extension UInt: TreeScalar {}
extension UInt8: TreeScalar {}
extension UInt16: TreeScalar {}
extension UInt32: TreeScalar {}
extension UInt64: TreeScalar {}

private func decodeScalar<T: TreeScalar>(_ type: T.Type, _ value: JSONValue, _ path: TreePath) throws -> T {
    if let scalar = T.from(value) { return scalar }
    if value.isNull {
        throw DecodingError.valueNotFound(type, .init(
            codingPath: path.codingPath, debugDescription: "Cannot get \(type) -- found null value instead"))
    }
    if value.doubleValue != nil, T.self != String.self, T.self != Bool.self {
        throw DecodingError.dataCorrupted(.init(
            codingPath: path.codingPath, debugDescription: "Number \(value.jsonString) is not representable in Swift as \(type)."))
    }
    throw mismatch(type, value, path)
}

private func mismatch(_ type: Any.Type, _ value: JSONValue, _ path: TreePath) -> DecodingError {
    let found =
        switch value {
        case .null: "null"
        case .bool: "bool"
        case .integer, .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "dictionary"
        }
    let expected = type == [String: Any].self ? "dictionary" : type == [Any].self ? "array" : "\(type)"
    return DecodingError.typeMismatch(type, .init(
        codingPath: path.codingPath, debugDescription: "Expected to decode \(expected) but found \(found) instead."))
}
