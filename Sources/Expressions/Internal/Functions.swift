import Foundation
import JSONSchemaKit

extension Evaluator {
    /// Calls a built-in. Arguments are evaluated here, one at a time, so no
    /// argument array is built and `default` evaluates its fallback only when needed.
    func call(_ function: Function, _ arguments: [Node], span: Span) throws(EvaluationFailure) -> JSONValue {
        func fail(_ message: String) -> EvaluationFailure {
            EvaluationFailure(message: message, span: span)
        }
        func argument(_ index: Int) throws(EvaluationFailure) -> JSONValue {
            try evaluate(arguments[index])
        }
        func string(_ index: Int) throws(EvaluationFailure) -> String {
            let value = try argument(index)
            guard case .string(let text) = value else {
                throw fail(
                    "\"\(function.rawValue)\" expects a string as argument \(index + 1), got \(ValueText.describe(value))")
            }
            return text
        }
        func integer(_ index: Int) throws(EvaluationFailure) -> Int {
            let value = try argument(index)
            guard case .integer(let number) = value else {
                throw fail(
                    "\"\(function.rawValue)\" expects an integer as argument \(index + 1), got \(ValueText.describe(value))")
            }
            return number
        }

        switch function {
        case .len:
            let value = try argument(0)
            switch value {
            case .string(let text): return .integer(text.count)
            case .array(let elements): return .integer(elements.count)
            case .object(let members): return .integer(members.count)
            default: throw fail("\"len\" expects a string, array or object, got \(ValueText.describe(value))")
            }
        case .upper:
            return .string(try string(0).uppercased())
        case .lower:
            return .string(try string(0).lowercased())
        case .trim:
            return .string(try string(0).trimmingCharacters(in: .whitespacesAndNewlines))
        case .contains:
            let container = try argument(0)
            let item = try argument(1)
            switch (container, item) {
            case (.string(let text), .string(let part)):
                return .bool(part.isEmpty || text.contains(part))
            case (.array(let elements), _):
                return .bool(elements.contains { Values.equal($0, item) })
            case (.object(let members), .string(let key)):
                return .bool(members[key] != nil)
            default:
                throw fail(
                    "\"contains\" cannot look for \(ValueText.describe(item)) in \(ValueText.describe(container))")
            }
        case .startsWith:
            return .bool(try string(0).hasPrefix(string(1)))
        case .endsWith:
            return .bool(try string(0).hasSuffix(string(1)))
        case .replace:
            let text = try string(0)
            let target = try string(1)
            let replacement = try string(2)
            if target.isEmpty { return .string(text) }
            return .string(text.replacingOccurrences(of: target, with: replacement))
        case .split:
            let text = try string(0)
            let separator = try string(1)
            if separator.isEmpty { return .array(text.map { .string(String($0)) }) }
            return .array(text.components(separatedBy: separator).map { .string($0) })
        case .join:
            let value = try argument(0)
            guard case .array(let elements) = value else {
                throw fail("\"join\" expects an array as argument 1, got \(ValueText.describe(value))")
            }
            let separator = arguments.count > 1 ? try string(1) : ""
            return .string(elements.map(ValueText.stringForm).joined(separator: separator))
        case .substring:
            let characters = Array(try string(0))
            func clamp(_ offset: Int) -> Int {
                let position = offset < 0 ? characters.count + offset : offset
                return min(max(position, 0), characters.count)
            }
            let start = clamp(try integer(1))
            let end = arguments.count > 2 ? clamp(try integer(2)) : characters.count
            return .string(start < end ? String(characters[start..<end]) : "")
        case .string:
            return .string(ValueText.stringForm(try argument(0)))
        case .number:
            let value = try argument(0)
            switch value {
            case .integer, .number: return value
            case .bool(let flag): return .integer(flag ? 1 : 0)
            case .string(let text):
                let trimmed = text.trimmingCharacters(in: .whitespaces)
                if let number = Int(trimmed) { return .integer(number) }
                if let number = Evaluator.decimal(trimmed) { return .number(number) }
                throw fail("cannot convert \(ValueText.describe(value)) to a number")
            default:
                throw fail("cannot convert \(ValueText.describe(value)) to a number")
            }
        case .int:
            let value = try argument(0)
            switch value {
            case .integer: return value
            case .bool(let flag): return .integer(flag ? 1 : 0)
            case .number(let number):
                if let truncated = Int(exactly: number.rounded(.towardZero)) { return .integer(truncated) }
            case .string(let text):
                let trimmed = text.trimmingCharacters(in: .whitespaces)
                if let number = Int(trimmed) { return .integer(number) }
                if let number = Evaluator.decimal(trimmed),
                    let truncated = Int(exactly: number.rounded(.towardZero))
                {
                    return .integer(truncated)
                }
            default: break
            }
            throw fail("cannot convert \(ValueText.describe(value)) to an integer")
        case .keys:
            let value = try argument(0)
            guard case .object(let members) = value else {
                throw fail("\"keys\" expects an object, got \(ValueText.describe(value))")
            }
            return .array(members.keys.sorted().map { .string($0) })
        case .now:
            return .string(Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        case .uuid:
            return .string(UUID().uuidString.lowercased())
        case .default:
            let value = try argument(0)
            if case .null = value { return try argument(1) }
            return value
        case .json:
            let text = try string(0)
            do {
                return try JSONValue(parsing: Data(text.utf8))
            } catch {
                throw fail("\"json\" could not parse \(ValueText.describe(.string(text))) as JSON")
            }
        case .toJSON:
            return .string(try argument(0).jsonString)
        }
    }

    /// A finite number written in decimal (`2.5`, `-1e3`); not `nan`, `inf` or hexadecimal.
    static func decimal(_ text: String) -> Double? {
        guard !text.isEmpty, text.unicodeScalars.allSatisfy({ "0123456789+-.eE".unicodeScalars.contains($0) }),
            let number = Double(text), number.isFinite
        else { return nil }
        return number
    }
}
