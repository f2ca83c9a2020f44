import JSONSchemaKit

extension JSONValue {
    /// Whether the expression language treats this value as true in `!`,
    /// `&&`, `||` and `c ? a : b`: `false`, `null`, `0`, `0.0`, NaN, `""`,
    /// `[]` and `{}` are false; every other value is true.
    public var isTruthy: Bool {
        switch self {
        case .null: false
        case .bool(let flag): flag
        case .integer(let number): number != 0
        case .number(let number): number != 0 && !number.isNaN
        case .string(let text): !text.isEmpty
        case .array(let elements): !elements.isEmpty
        case .object(let members): !members.isEmpty
        }
    }
}
