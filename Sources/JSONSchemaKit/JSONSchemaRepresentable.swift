import Foundation

/// A type whose JSON form is described by a ``JSONSchema``.
///
/// Conform with the `@Schema` macro rather than by hand: it derives the
/// schema from the stored properties (types, optionality, default values,
/// doc comments and `@SchemaField` constraints) so schema and type can never
/// disagree. The standard library types Tinyflow messages use conform here.
public protocol JSONSchemaRepresentable {
    /// The schema every encoded value of this type satisfies.
    static var jsonSchema: JSONSchema { get }
}

/// Derives ``JSONSchemaRepresentable`` for a struct or a raw-value enum.
///
/// For a struct, every stored `var` (and every `let` without an initial
/// value) becomes a property: its type gives the schema, a `///` doc comment
/// the description, an initial value the default, and `Optional` or a
/// default makes it not required. When the struct is `Codable`, the macro
/// also writes `init(from:)` so that absent members take their defaults
/// instead of failing to decode. For an enum with `String` or `Int` raw
/// values, the schema lists the raw values.
///
/// ```swift
/// /// How often the ticker fires.
/// @Schema
/// struct TickerSettings: Codable, Sendable {
///     /// Milliseconds between two ticks.
///     @SchemaField(minimum: 1)
///     var interval: Int = 1000
///     /// What each tick carries.
///     var payload: JSONValue = [:]
/// }
/// ```
@attached(
    extension, conformances: JSONSchemaRepresentable,
    names: named(jsonSchema), named(init(from:)), named(SchemaCodingKeys))
public macro Schema() = #externalMacro(module: "JSONSchemaMacros", type: "SchemaMacro")

/// Adds constraints to one stored property of a `@Schema` type. It generates
/// no code by itself; `@Schema` reads it.
@attached(peer)
public macro SchemaField(
    title: String? = nil, minimum: Double? = nil, maximum: Double? = nil,
    minLength: Int? = nil, maxLength: Int? = nil, pattern: String? = nil, format: String? = nil,
    minItems: Int? = nil, maxItems: Int? = nil, listMapKeys: [String]? = nil
) = #externalMacro(module: "JSONSchemaMacros", type: "SchemaFieldMacro")

extension JSONValue {
    /// Encodes a property's default value for a derived schema. A value that
    /// cannot be encoded leaves the schema without a default.
    public static func schemaDefault(_ value: some Encodable) -> JSONValue? {
        try? JSONValue(encoding: value)
    }
}

extension String: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { JSONSchema(type: .string) }
}

extension Bool: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { JSONSchema(type: .boolean) }
}

extension Int: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { JSONSchema(type: .integer) }
}

extension Int32: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema {
        var schema = JSONSchema(type: .integer)
        schema.format = "int32"
        return schema
    }
}

extension Int64: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema {
        var schema = JSONSchema(type: .integer)
        schema.format = "int64"
        return schema
    }
}

extension UInt: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { JSONSchema(type: .integer).with(minimum: 0) }
}

extension Double: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { JSONSchema(type: .number) }
}

extension Float: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { JSONSchema(type: .number) }
}

extension URL: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { JSONSchema(type: .string).with(format: "uri") }
}

extension UUID: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { JSONSchema(type: .string).with(format: "uuid") }
}

extension Date: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { JSONSchema(type: .string).with(format: "date-time") }
}

extension JSONValue: JSONSchemaRepresentable {
    /// Any JSON value: rendered in CRDs as `x-kubernetes-preserve-unknown-fields`.
    public static var jsonSchema: JSONSchema { .any }
}

extension Optional: JSONSchemaRepresentable where Wrapped: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { Wrapped.jsonSchema }
}

extension Array: JSONSchemaRepresentable where Element: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { .array(Element.jsonSchema) }
}

extension Set: JSONSchemaRepresentable where Element: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema {
        var schema = JSONSchema.array(Element.jsonSchema)
        schema.uniqueItems = true
        return schema
    }
}

extension Dictionary: JSONSchemaRepresentable where Key == String, Value: JSONSchemaRepresentable {
    public static var jsonSchema: JSONSchema { .map(Value.jsonSchema) }
}
