/// One way a JSON value breaks its schema, with the path to the offending member.
///
/// `description` reads like `ports[1].configuration.interval: expected integer >= 1, got "fast"`.
public struct SchemaViolation: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where the offending value sits, e.g. `ports[1].configuration.interval`.
    public var path: String
    /// What is wrong, e.g. `expected integer >= 1, got "fast"`.
    public var message: String

    /// Creates a violation.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// All the violations found in one value; thrown by ``JSONSchema/validated(_:at:)``.
public struct SchemaValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Every violation, in document order.
    public var violations: [SchemaViolation]

    /// Creates an error from its violations.
    public init(violations: [SchemaViolation]) { self.violations = violations }

    public var description: String { violations.map(\.description).joined(separator: "; ") }
}

extension JSONSchema {
    /// Every way `value` breaks this schema; empty when it is valid.
    ///
    /// - Parameter path: the path of `value` in its document, used as the
    ///   prefix of every violation's path (e.g. `ports[1].configuration`).
    public func violations(of value: JSONValue, at path: String = "") -> [SchemaViolation] {
        var found: [SchemaViolation] = []
        collectViolations(of: value, at: path, into: &found)
        return found
    }

    /// `value` with defaults filled in, or the violations it has.
    ///
    /// Defaults are applied first (absent members take their schema default),
    /// so a configuration that omits optional settings is valid.
    public func validated(_ value: JSONValue, at path: String = "") throws(SchemaValidationError) -> JSONValue {
        let withDefaults = applyingDefaults(to: value)
        let found = violations(of: withDefaults, at: path)
        guard found.isEmpty else { throw SchemaValidationError(violations: found) }
        return withDefaults
    }

    /// `value` with every absent object member that has a default filled in,
    /// recursively through objects, arrays and maps.
    public func applyingDefaults(to value: JSONValue) -> JSONValue {
        switch value {
        case .object(var members):
            for (name, schema) in properties {
                if let member = members[name] {
                    members[name] = schema.applyingDefaults(to: member)
                } else if let defaultValue = schema.defaultValue {
                    members[name] = schema.applyingDefaults(to: defaultValue)
                }
            }
            if let additionalProperties {
                for (name, member) in members where properties[name] == nil {
                    members[name] = additionalProperties.applyingDefaults(to: member)
                }
            }
            return .object(members)
        case .array(let elements):
            guard let items else { return value }
            return .array(elements.map(items.applyingDefaults(to:)))
        default:
            return value
        }
    }

    /// The value a configuration takes when the user gives none: the schema
    /// default, or an object built from its members' defaults.
    public var defaultConfiguration: JSONValue? {
        if let defaultValue { return applyingDefaults(to: defaultValue) }
        guard type == .object else { return nil }
        return applyingDefaults(to: .object([:]))
    }

    private func collectViolations(of value: JSONValue, at path: String, into found: inout [SchemaViolation]) {
        if value.isNull {
            if nullable || type == nil { return }
            found.append(SchemaViolation(path: path, message: "expected \(expectation), got null"))
            return
        }
        if let type, !Self.value(value, hasType: type) {
            found.append(SchemaViolation(path: path, message: "expected \(expectation), got \(Self.render(value))"))
            return
        }
        if let enumValues, !enumValues.contains(where: { Self.equalJSON($0, value) }) {
            found.append(SchemaViolation(path: path, message: "expected \(expectation), got \(Self.render(value))"))
            return
        }
        switch value {
        case .integer, .number:
            guard let number = value.doubleValue else { return }
            if let minimum, number < minimum {
                found.append(SchemaViolation(path: path, message: "expected \(expectation), got \(Self.render(value))"))
            } else if let maximum, number > maximum {
                found.append(SchemaViolation(path: path, message: "expected \(expectation), got \(Self.render(value))"))
            }
        case .string(let text):
            let length = text.count
            if let minLength, length < minLength {
                found.append(SchemaViolation(path: path, message: "expected \(expectation), got \(Self.render(value))"))
            } else if let maxLength, length > maxLength {
                found.append(SchemaViolation(path: path, message: "expected \(expectation), got \(Self.render(value))"))
            } else if let pattern {
                if let regex = try? Regex(pattern) {
                    if (try? regex.firstMatch(in: text)) == nil {
                        found.append(SchemaViolation(path: path, message: "expected \(expectation), got \(Self.render(value))"))
                    }
                } else {
                    found.append(SchemaViolation(path: path, message: "schema pattern /\(pattern)/ is not a valid regular expression"))
                }
            }
        case .array(let elements):
            if let minItems, elements.count < minItems {
                found.append(SchemaViolation(path: path, message: "expected at least \(minItems) items, got \(elements.count)"))
            }
            if let maxItems, elements.count > maxItems {
                found.append(SchemaViolation(path: path, message: "expected at most \(maxItems) items, got \(elements.count)"))
            }
            if uniqueItems, Set(elements).count != elements.count {
                found.append(SchemaViolation(path: path, message: "expected distinct items, got duplicates"))
            }
            if let items {
                for (index, element) in elements.enumerated() {
                    items.collectViolations(of: element, at: "\(path)[\(index)]", into: &found)
                }
            }
        case .object(let members):
            for name in required where members[name] == nil {
                found.append(SchemaViolation(path: Self.memberPath(path, name), message: "required field is missing"))
            }
            for name in members.keys.sorted() {
                guard let member = members[name] else { continue }
                let memberPath = Self.memberPath(path, name)
                if let schema = properties[name] {
                    schema.collectViolations(of: member, at: memberPath, into: &found)
                } else if let additionalProperties {
                    additionalProperties.collectViolations(of: member, at: memberPath, into: &found)
                } else if rejectsUnknownProperties {
                    let known = properties.keys.sorted().joined(separator: ", ")
                    found.append(SchemaViolation(path: memberPath, message: "unknown field (known fields: \(known))"))
                }
            }
        default:
            break
        }
    }

    /// What a valid value looks like, e.g. `integer >= 1` or `one of "GET", "POST"`.
    public var expectation: String {
        if let enumValues {
            return "one of " + enumValues.map(Self.render).joined(separator: ", ")
        }
        guard let type else { return "any value" }
        var text = type.rawValue
        switch type {
        case .integer, .number:
            let render: (Double) -> String = { value in
                value.rounded() == value && abs(value) < 9.0e15 ? String(Int(value)) : String(value)
            }
            switch (minimum, maximum) {
            case (let low?, let high?): text += " between \(render(low)) and \(render(high))"
            case (let low?, nil): text += " >= \(render(low))"
            case (nil, let high?): text += " <= \(render(high))"
            case (nil, nil): break
            }
        case .string:
            switch (minLength, maxLength) {
            case (let low?, let high?): text += " of \(low) to \(high) characters"
            case (let low?, nil): text += " of at least \(low) characters"
            case (nil, let high?): text += " of at most \(high) characters"
            case (nil, nil): break
            }
            if let pattern { text += " matching /\(pattern)/" }
        default:
            break
        }
        return text
    }

    private static func value(_ value: JSONValue, hasType type: Kind) -> Bool {
        switch (type, value) {
        case (.object, .object), (.array, .array), (.string, .string), (.boolean, .bool),
            (.integer, .integer), (.number, .integer), (.number, .number):
            return true
        case (.integer, .number(let number)):
            return number.rounded() == number
        default:
            return false
        }
    }

    private static func equalJSON(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        if lhs == rhs { return true }
        if let left = lhs.doubleValue, let right = rhs.doubleValue { return left == right }
        return false
    }

    /// A value as it appears in an error: JSON text, shortened when long.
    static func render(_ value: JSONValue) -> String {
        let text = value.jsonString
        return text.count > 64 ? String(text.prefix(61)) + "..." : text
    }

    /// The path of member `name` of the value at `path`, as violations name it:
    /// `a.b`, or `a["odd key"]` for a name that is not an identifier.
    public static func memberPath(_ path: String, _ name: String) -> String {
        let isIdentifier = !name.isEmpty && name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
        if !isIdentifier { return "\(path)[\(JSONValue.string(name).jsonString)]" }
        return path.isEmpty ? name : "\(path).\(name)"
    }
}
