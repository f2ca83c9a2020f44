/// A JSON Schema (the subset Kubernetes structural schemas and component
/// port schemas need): types, object properties, required members, maps,
/// arrays, enums, defaults, bounds, patterns and descriptions.
///
/// Authors never write these by hand: `@Schema` derives them from Swift types
/// (see ``JSONSchemaRepresentable``). ``jsonValue`` renders the standard JSON
/// Schema document; ``init(jsonValue:)`` reads one back, which is how the
/// operator receives a module's port schemas.
public struct JSONSchema: Sendable, Hashable {
    /// The JSON types a schema can require.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case object, array, string, integer, number, boolean
    }

    /// The required type; `nil` accepts any JSON value.
    public var type: Kind?
    /// A short human title.
    public var title: String?
    /// What the value means, shown to users (and by `kubectl explain`).
    public var description: String?
    /// The named members of an object.
    public var properties: [String: JSONSchema]
    /// Members that must be present.
    public var required: [String]
    /// The schema of members not named in ``properties`` (a map's values).
    public var additionalProperties: JSONSchema? {
        get { additionalPropertiesStorage.first }
        set { additionalPropertiesStorage = newValue.map { [$0] } ?? [] }
    }
    /// Whether members not named in ``properties`` are rejected.
    public var rejectsUnknownProperties: Bool
    /// The schema of an array's elements.
    public var items: JSONSchema? {
        get { itemsStorage.first }
        set { itemsStorage = newValue.map { [$0] } ?? [] }
    }
    /// The only values allowed.
    public var enumValues: [JSONValue]?
    /// The value used when the member is absent.
    public var defaultValue: JSONValue?
    /// The smallest number allowed (inclusive).
    public var minimum: Double?
    /// The largest number allowed (inclusive).
    public var maximum: Double?
    /// The shortest string allowed, in characters.
    public var minLength: Int?
    /// The longest string allowed, in characters.
    public var maxLength: Int?
    /// A regular expression every string must match.
    public var pattern: String?
    /// A format name (`date-time`, `uri`, …), informative.
    public var format: String?
    /// The fewest array elements allowed.
    public var minItems: Int?
    /// The most array elements allowed.
    public var maxItems: Int?
    /// Whether array elements must be distinct.
    public var uniqueItems: Bool
    /// Whether `null` is accepted besides ``type``.
    public var nullable: Bool
    /// Kubernetes list semantics for server-side apply: the member names that
    /// identify an element of a list of objects (`x-kubernetes-list-map-keys`).
    public var listMapKeys: [String]?

    private var additionalPropertiesStorage: [JSONSchema]
    private var itemsStorage: [JSONSchema]

    /// A schema of the given type with no further constraints.
    public init(type: Kind? = nil, description: String? = nil) {
        self.type = type
        self.description = description
        self.properties = [:]
        self.required = []
        self.rejectsUnknownProperties = false
        self.uniqueItems = false
        self.nullable = false
        self.additionalPropertiesStorage = []
        self.itemsStorage = []
    }

    /// Accepts any JSON value (free-form configuration and payloads).
    public static var any: JSONSchema { JSONSchema() }

    /// Whether this schema accepts arbitrary JSON (no type, no constraints).
    public var isFreeForm: Bool { type == nil && enumValues == nil }

    /// An object with the given members that rejects unknown members.
    public static func object(
        _ properties: [String: JSONSchema] = [:], required: [String] = [], description: String? = nil
    ) -> JSONSchema {
        var schema = JSONSchema(type: .object, description: description)
        schema.properties = properties
        schema.required = required
        schema.rejectsUnknownProperties = true
        return schema
    }

    /// An object whose members are all described by `values` (a `[String: T]`).
    public static func map(_ values: JSONSchema) -> JSONSchema {
        var schema = JSONSchema(type: .object)
        schema.additionalProperties = values
        return schema
    }

    /// An array of `items`.
    public static func array(_ items: JSONSchema) -> JSONSchema {
        var schema = JSONSchema(type: .array)
        schema.items = items
        return schema
    }

    /// A string restricted to `values`.
    public static func stringEnum(_ values: [String]) -> JSONSchema {
        var schema = JSONSchema(type: .string)
        schema.enumValues = values.map(JSONValue.string)
        return schema
    }

    /// The schema of `T`: how derived schemas refer to member types.
    public static func of<T: JSONSchemaRepresentable>(_ type: T.Type) -> JSONSchema {
        T.jsonSchema
    }

    /// Adds a member; used by `@Schema` expansions.
    public mutating func addProperty(_ name: String, _ schema: JSONSchema, required isRequired: Bool) {
        properties[name] = schema
        if isRequired && !required.contains(name) { required.append(name) }
    }

    /// This schema with a description, default and constraints applied;
    /// used by `@Schema` expansions. `nil` arguments leave a value unchanged.
    public func with(
        description: String? = nil, title: String? = nil, default defaultValue: JSONValue? = nil,
        minimum: Double? = nil, maximum: Double? = nil, minLength: Int? = nil, maxLength: Int? = nil,
        pattern: String? = nil, format: String? = nil, minItems: Int? = nil, maxItems: Int? = nil,
        listMapKeys: [String]? = nil
    ) -> JSONSchema {
        var copy = self
        if let description { copy.description = description }
        if let title { copy.title = title }
        if let defaultValue { copy.defaultValue = defaultValue }
        if let minimum { copy.minimum = minimum }
        if let maximum { copy.maximum = maximum }
        if let minLength { copy.minLength = minLength }
        if let maxLength { copy.maxLength = maxLength }
        if let pattern { copy.pattern = pattern }
        if let format { copy.format = format }
        if let minItems { copy.minItems = minItems }
        if let maxItems { copy.maxItems = maxItems }
        if let listMapKeys { copy.listMapKeys = listMapKeys }
        return copy
    }
}

// MARK: - JSON Schema documents

extension JSONSchema {
    /// The schema as a JSON Schema document (draft 2020-12 keywords, plus
    /// `nullable` and `x-kubernetes-list-*` from OpenAPI/Kubernetes).
    public var jsonValue: JSONValue {
        var document: [String: JSONValue] = [:]
        if let type { document["type"] = .string(type.rawValue) }
        if let title { document["title"] = .string(title) }
        if let description { document["description"] = .string(description) }
        if !properties.isEmpty {
            document["properties"] = .object(properties.mapValues(\.jsonValue))
        }
        if !required.isEmpty { document["required"] = .array(required.map(JSONValue.string)) }
        if let additionalProperties {
            document["additionalProperties"] = additionalProperties.jsonValue
        } else if rejectsUnknownProperties {
            document["additionalProperties"] = false
        }
        if let items { document["items"] = items.jsonValue }
        if let enumValues { document["enum"] = .array(enumValues) }
        if let defaultValue { document["default"] = defaultValue }
        if let minimum { document["minimum"] = Self.number(minimum) }
        if let maximum { document["maximum"] = Self.number(maximum) }
        if let minLength { document["minLength"] = .integer(minLength) }
        if let maxLength { document["maxLength"] = .integer(maxLength) }
        if let pattern { document["pattern"] = .string(pattern) }
        if let format { document["format"] = .string(format) }
        if let minItems { document["minItems"] = .integer(minItems) }
        if let maxItems { document["maxItems"] = .integer(maxItems) }
        if uniqueItems { document["uniqueItems"] = true }
        if nullable { document["nullable"] = true }
        if let listMapKeys {
            document["x-kubernetes-list-type"] = "map"
            document["x-kubernetes-list-map-keys"] = .array(listMapKeys.map(JSONValue.string))
        }
        return .object(document)
    }

    /// Reads a JSON Schema document written by ``jsonValue`` (or by another
    /// tool using the same keywords).
    public init(jsonValue: JSONValue) throws(JSONSchemaError) {
        guard case .object(let document) = jsonValue else {
            if jsonValue == .bool(true) {
                self.init()
                return
            }
            throw JSONSchemaError(message: "a schema must be an object, got \(jsonValue.typeName)")
        }
        self.init()
        if let type = document["type"] {
            guard let name = type.stringValue, let kind = Kind(rawValue: name) else {
                throw JSONSchemaError(message: "unknown schema type \(type)")
            }
            self.type = kind
        }
        title = document["title"]?.stringValue
        description = document["description"]?.stringValue
        if let members = document["properties"]?.objectValue {
            for (name, member) in members {
                properties[name] = try JSONSchema(jsonValue: member)
            }
        }
        required = document["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        switch document["additionalProperties"] {
        case .bool(false)?: rejectsUnknownProperties = true
        case .object(let value)?: additionalProperties = try JSONSchema(jsonValue: .object(value))
        default: break
        }
        if let items = document["items"] { self.items = try JSONSchema(jsonValue: items) }
        enumValues = document["enum"]?.arrayValue
        defaultValue = document["default"]
        minimum = document["minimum"]?.doubleValue
        maximum = document["maximum"]?.doubleValue
        minLength = document["minLength"]?.intValue
        maxLength = document["maxLength"]?.intValue
        pattern = document["pattern"]?.stringValue
        format = document["format"]?.stringValue
        minItems = document["minItems"]?.intValue
        maxItems = document["maxItems"]?.intValue
        uniqueItems = document["uniqueItems"]?.boolValue ?? false
        nullable = document["nullable"]?.boolValue ?? false
        listMapKeys = document["x-kubernetes-list-map-keys"]?.arrayValue?.compactMap(\.stringValue)
    }

    private static func number(_ value: Double) -> JSONValue {
        if value.rounded() == value, abs(value) < 9.0e15 { return .integer(Int(value)) }
        return .number(value)
    }
}

extension JSONSchema: Codable {
    public init(from decoder: any Decoder) throws {
        try self.init(jsonValue: JSONValue(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try jsonValue.encode(to: encoder)
    }
}

/// A schema document that could not be read.
public struct JSONSchemaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the document.
    public var message: String
    /// Creates an error with a message.
    public init(message: String) { self.message = message }
    public var description: String { message }
}
