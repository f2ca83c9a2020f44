import Foundation
import JSONSchemaKit

/// One field error found by schema validation.
struct FieldCause {
    var field: String
    var message: String
    var type: String
}

/// Admission against a CRD's structural schema: pruning of unknown fields,
/// defaulting, and validation, in that order (as the real API server does).
enum StructuralSchema {
    /// Removes every field the schema does not know, except under
    /// `x-kubernetes-preserve-unknown-fields`. Returns the pruned paths.
    static func prune(_ value: JSONValue, schema: JSONValue, path: String = "", isRoot: Bool = false) -> (JSONValue, [String]) {
        if schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true && schema["properties"] == nil {
            return (value, [])
        }
        switch value {
        case .object(let members):
            var out: [String: JSONValue] = [:]
            var pruned: [String] = []
            let properties = schema["properties"]?.objectValue
            let additional = schema["additionalProperties"]
            let preserve = schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true
            let embedded = schema["x-kubernetes-embedded-resource"]?.boolValue == true
            for (key, member) in members {
                let childPath = path.isEmpty ? key : path + "." + key
                if (isRoot || embedded) && ["apiVersion", "kind", "metadata"].contains(key) {
                    out[key] = member
                } else if let childSchema = properties?[key] {
                    let (child, childPruned) = prune(member, schema: childSchema, path: childPath)
                    out[key] = child
                    pruned += childPruned
                } else if let additional, additional.objectValue != nil {
                    let (child, childPruned) = prune(member, schema: additional, path: childPath)
                    out[key] = child
                    pruned += childPruned
                } else if additional?.boolValue == true || preserve {
                    out[key] = member
                } else {
                    pruned.append(childPath)
                }
            }
            return (.object(out), pruned)
        case .array(let elements):
            guard let items = schema["items"] else { return (value, []) }
            var pruned: [String] = []
            let out = elements.enumerated().map { index, element in
                let (child, childPruned) = prune(element, schema: items, path: "\(path)[\(index)]")
                pruned += childPruned
                return child
            }
            return (.array(out), pruned)
        default:
            return (value, [])
        }
    }

    /// Fills in `default`s for absent properties, recursively.
    static func applyDefaults(_ value: JSONValue, schema: JSONValue) -> JSONValue {
        switch value {
        case .object(var members):
            if let properties = schema["properties"]?.objectValue {
                for (key, childSchema) in properties {
                    if let member = members[key] {
                        if member.isNull, let defaultValue = childSchema["default"], childSchema["nullable"]?.boolValue != true {
                            members[key] = defaultValue
                        } else {
                            members[key] = applyDefaults(member, schema: childSchema)
                        }
                    } else if let defaultValue = childSchema["default"] {
                        members[key] = applyDefaults(defaultValue, schema: childSchema)
                    }
                }
            } else if let additional = schema["additionalProperties"], additional.objectValue != nil {
                for (key, member) in members { members[key] = applyDefaults(member, schema: additional) }
            }
            return .object(members)
        case .array(let elements):
            guard let items = schema["items"] else { return value }
            return .array(elements.map { applyDefaults($0, schema: items) })
        default:
            return value
        }
    }

    /// The `maxItems` and `maxProperties` violations of `value` alone: cheap (it stops at
    /// scalars and visits only what the schema bounds or describes), so the server checks them
    /// before it does work proportional to a list's length.
    static func countViolations(_ value: JSONValue, schema: JSONValue, path: String) -> [FieldCause] {
        let label = path.isEmpty ? "<root>" : path
        var causes: [FieldCause] = []
        if let elements = value.arrayValue {
            if let cause = tooMany(elements.count, limit: schema["maxItems"], label: label) { return [cause] }
            if let items = schema["items"] {
                for (index, element) in elements.enumerated() where element.arrayValue != nil || element.objectValue != nil {
                    causes += countViolations(element, schema: items, path: "\(path)[\(index)]")
                }
            }
        } else if let members = value.objectValue {
            if let cause = tooMany(members.count, limit: schema["maxProperties"], label: label) { return [cause] }
            let properties = schema["properties"]?.objectValue ?? [:]
            for (key, member) in members where member.arrayValue != nil || member.objectValue != nil {
                guard let childSchema = properties[key] ?? schema["additionalProperties"].flatMap({ $0.objectValue != nil ? $0 : nil }) else { continue }
                causes += countViolations(member, schema: childSchema, path: path.isEmpty ? key : path + "." + key)
            }
        }
        return causes
    }

    /// The cause for `count` entries where the schema allows at most `limit`, if too many.
    private static func tooMany(_ count: Int, limit: JSONValue?, label: String) -> FieldCause? {
        guard let limit = limit?.intValue, count > limit else { return nil }
        return FieldCause(field: label, message: "Too many: \(count): must have at most \(limit) items", type: "FieldValueTooMany")
    }

    /// Validates `value` against `schema`, returning every field error.
    static func validate(_ value: JSONValue, schema: JSONValue, path: String = "", isRoot: Bool = false) -> [FieldCause] {
        var causes: [FieldCause] = []
        let label = path.isEmpty ? "<root>" : path
        if value.isNull {
            if schema["nullable"]?.boolValue == true || isRoot { return [] }
            if schema["type"] == nil { return [] }
            return [FieldCause(field: label, message: "Invalid value: \"null\": \(label) in body must be of type \(schema["type"]?.stringValue ?? "object"): \"null\"", type: "FieldValueTypeInvalid")]
        }
        if let type = schema["type"]?.stringValue, schema["x-kubernetes-int-or-string"]?.boolValue != true {
            let ok: Bool = switch type {
            case "object": value.objectValue != nil
            case "array": value.arrayValue != nil
            case "string": value.stringValue != nil
            case "integer": value.intValue != nil
            case "number": value.doubleValue != nil
            case "boolean": value.boolValue != nil
            default: true
            }
            if !ok {
                return [FieldCause(field: label, message: "Invalid value: \"\(value.typeName == "integer" ? "integer" : value.typeName)\": \(label) in body must be of type \(type): \"\(value.typeName)\"", type: "FieldValueTypeInvalid")]
            }
        }
        if schema["x-kubernetes-int-or-string"]?.boolValue == true, value.stringValue == nil, value.intValue == nil {
            causes.append(FieldCause(field: label, message: "Invalid value: \(value.jsonString): \(label) in body must be of type integer or string", type: "FieldValueTypeInvalid"))
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            let list = options.map(\.jsonString).joined(separator: ", ")
            causes.append(FieldCause(field: label, message: "Unsupported value: \(value.jsonString): supported values: \(list)", type: "FieldValueNotSupported"))
        }
        if let number = value.doubleValue {
            if let minimum = schema["minimum"]?.doubleValue {
                let exclusive = schema["exclusiveMinimum"]?.boolValue == true
                if exclusive ? number <= minimum : number < minimum {
                    causes.append(FieldCause(field: label, message: "Invalid value: \(value.jsonString): \(label) in body should be greater than \(exclusive ? "" : "or equal to ")\(schema["minimum"]?.jsonString ?? "")", type: "FieldValueInvalid"))
                }
            }
            if let maximum = schema["maximum"]?.doubleValue {
                let exclusive = schema["exclusiveMaximum"]?.boolValue == true
                if exclusive ? number >= maximum : number > maximum {
                    causes.append(FieldCause(field: label, message: "Invalid value: \(value.jsonString): \(label) in body should be less than \(exclusive ? "" : "or equal to ")\(schema["maximum"]?.jsonString ?? "")", type: "FieldValueInvalid"))
                }
            }
        }
        if let string = value.stringValue {
            if let maxLength = schema["maxLength"]?.intValue, string.count > maxLength {
                causes.append(FieldCause(field: label, message: "Too long: may not be more than \(maxLength) bytes", type: "FieldValueTooLong"))
            }
            if let minLength = schema["minLength"]?.intValue, string.count < minLength {
                causes.append(FieldCause(field: label, message: "Invalid value: \(value.jsonString): \(label) in body should be at least \(minLength) chars long", type: "FieldValueInvalid"))
            }
            if let pattern = schema["pattern"]?.stringValue,
               let regex = try? NSRegularExpression(pattern: pattern),
               regex.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) == nil {
                causes.append(FieldCause(field: label, message: "Invalid value: \(value.jsonString): \(label) in body should match '\(pattern)'", type: "FieldValueInvalid"))
            }
        }
        if let elements = value.arrayValue {
            if let cause = tooMany(elements.count, limit: schema["maxItems"], label: label) { causes.append(cause) }
            if let minItems = schema["minItems"]?.intValue, elements.count < minItems {
                causes.append(FieldCause(field: label, message: "Invalid value: \(elements.count): \(label) in body should have at least \(minItems) items", type: "FieldValueInvalid"))
            }
            if let items = schema["items"] {
                for (index, element) in elements.enumerated() {
                    causes += validate(element, schema: items, path: "\(path)[\(index)]")
                }
            }
        }
        if let members = value.objectValue {
            for required in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[required] == nil {
                causes.append(FieldCause(field: path.isEmpty ? required : path + "." + required, message: "Required value", type: "FieldValueRequired"))
            }
            let properties = schema["properties"]?.objectValue ?? [:]
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                if isRoot && ["apiVersion", "kind", "metadata"].contains(key) { continue }
                let childPath = path.isEmpty ? key : path + "." + key
                if let childSchema = properties[key] {
                    causes += validate(member, schema: childSchema, path: childPath)
                } else if let additional = schema["additionalProperties"], additional.objectValue != nil {
                    causes += validate(member, schema: additional, path: childPath)
                }
            }
            if let cause = tooMany(members.count, limit: schema["maxProperties"], label: label) { causes.append(cause) }
        }
        for sub in schema["allOf"]?.arrayValue ?? [] { causes += validate(value, schema: sub, path: path) }
        if let anyOf = schema["anyOf"]?.arrayValue, !anyOf.isEmpty,
           !anyOf.contains(where: { validate(value, schema: $0, path: path).isEmpty }) {
            causes.append(FieldCause(field: label, message: "Invalid value: \(value.jsonString): \(label) in body must match at least one schema (anyOf)", type: "FieldValueInvalid"))
        }
        if let oneOf = schema["oneOf"]?.arrayValue, !oneOf.isEmpty,
           oneOf.filter({ validate(value, schema: $0, path: path).isEmpty }).count != 1 {
            causes.append(FieldCause(field: label, message: "Invalid value: \(value.jsonString): \(label) in body must match exactly one schema (oneOf)", type: "FieldValueInvalid"))
        }
        if let not = schema["not"], validate(value, schema: not, path: path).isEmpty {
            causes.append(FieldCause(field: label, message: "Invalid value: \(value.jsonString): \(label) in body must not match the schema (not)", type: "FieldValueInvalid"))
        }
        return causes
    }
}
