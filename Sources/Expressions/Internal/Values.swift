import JSONSchemaKit

/// How values and text appear in messages and string conversions.
enum ValueText {
    /// `s` as a JSON string literal: `"a \"b\""`.
    static func quote(_ text: String) -> String {
        JSONValue.string(text).jsonString
    }

    /// A value as an error message names it: `string "a"`, `integer 1`, `null`,
    /// `array [1,2]` (JSON text shortened when long).
    static func describe(_ value: JSONValue) -> String {
        if case .null = value { return "null" }
        var text: String
        switch value {
        case .integer, .number, .bool: text = stringForm(value)
        default: text = value.jsonString
        }
        if text.count > 40 { text = String(text.prefix(37)) + "..." }
        return "\(value.typeName) \(text)"
    }

    /// The string form used by `string(v)`, `join`, `+` with a string and
    /// template interpolation.
    static func stringForm(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): text
        case .integer(let number): String(number)
        case .number(let number): number.description
        case .bool(let flag): flag ? "true" : "false"
        case .null: "null"
        case .array, .object: value.jsonString
        }
    }
}

enum Values {
    /// Deep JSON equality in which an integer equals a number of the same
    /// value (`1 == 1.0`); objects compare by members regardless of order.
    static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.integer(let a), .integer(let b)): return a == b
        case (.integer, .number), (.number, .integer), (.number, .number):
            return compareNumbers(lhs, rhs) == 0
        case (.array(let a), .array(let b)):
            guard a.count == b.count else { return false }
            for index in a.indices where !equal(a[index], b[index]) { return false }
            return true
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            for (key, value) in a {
                guard let other = b[key], equal(value, other) else { return false }
            }
            return true
        default: return false
        }
    }

    /// -1, 0 or 1 for two numeric values; nil when either is not a number or
    /// NaN is involved. Integers are compared exactly, also against floats.
    static func compareNumbers(_ lhs: JSONValue, _ rhs: JSONValue) -> Int? {
        switch (lhs, rhs) {
        case (.integer(let a), .integer(let b)):
            return a < b ? -1 : (a == b ? 0 : 1)
        case (.number(let a), .number(let b)):
            if a.isNaN || b.isNaN { return nil }
            return a < b ? -1 : (a == b ? 0 : 1)
        case (.integer(let a), .number(let b)):
            return compare(a, b)
        case (.number(let a), .integer(let b)):
            return compare(b, a).map { -$0 }
        default:
            return nil
        }
    }

    /// Compares an integer with a float without losing precision.
    private static func compare(_ integer: Int, _ float: Double) -> Int? {
        if float.isNaN { return nil }
        if float >= 9_223_372_036_854_775_808.0 { return -1 }
        if float < -9_223_372_036_854_775_808.0 { return 1 }
        let whole = float.rounded(.down)
        let wholeInteger = Int(whole)
        if integer != wholeInteger { return integer < wholeInteger ? -1 : 1 }
        return whole == float ? 0 : -1
    }
}
