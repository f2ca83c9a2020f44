import JSONSchemaKit

/// A compiled template: a JSON value whose string leaves may contain
/// `{{ expression }}`, as in an edge's `mapping`:
///
/// ```json
/// {"url": "{{ $.payload.host }}/api", "count": "{{ $.payload.n + 1 }}", "method": "GET"}
/// ```
///
/// A string leaf that is exactly one `{{ expression }}` becomes the
/// expression's JSON value, whatever its type (`"{{ $.payload.n + 1 }}"` gives
/// an integer, `"{{ $.payload }}"` an object). A string that mixes text and
/// `{{ }}` becomes a string with each expression's string form interpolated.
/// Every other value is copied as is. Object keys are never templated.
///
/// Compile once with ``init(compiling:at:)``, render per message with
/// ``render(root:)``. A template is immutable and can be shared by any number
/// of concurrent tasks.
public struct Template: Sendable {
    /// The JSON value the template was compiled from.
    public let source: JSONValue
    private let root: TemplateNode

    /// Compiles every `{{ }}` in `template`.
    ///
    /// - Parameter path: the path of `template` in its document, the prefix of
    ///   the paths in errors (e.g. `mapping` or `spec.edges[0].mapping`).
    /// - Throws: ``ExpressionError`` whose `path` names the string leaf and whose
    ///   column is counted in that string, e.g.
    ///   `mapping.url: expected expression after "+" at column 9`.
    public init(compiling template: JSONValue, at path: String = "") throws(ExpressionError) {
        source = template
        root = try TemplateNode.compile(template, path: path)
    }

    /// The template's value for one root value (`$`): every expression
    /// evaluated and put in place.
    ///
    /// - Throws: ``ExpressionError`` with the path of the failing leaf, e.g.
    ///   `mapping.count: cannot apply "+" to string "a" and integer 1 in `$.n + 1` at column 4`.
    public func render(root value: JSONValue) throws(ExpressionError) -> JSONValue {
        try root.render(value)
    }

    /// Whether every render gives the same value: no expression in the
    /// template reads `$` or calls `now()` or `uuid()` (constant expressions
    /// such as `"{{ 60 * 1000 }}"` are computed once, at compile time).
    public var isConstant: Bool {
        if case .constant = root { return true }
        return false
    }
}

/// One piece of an interpolated string.
private enum TemplatePart: Sendable {
    case text(String)
    case expression(CompiledExpression)
}

/// The compiled form of a template value. Constant subtrees are kept as one
/// JSON value; objects keep their constant members in a prebuilt dictionary.
private indirect enum TemplateNode: Sendable {
    case constant(JSONValue)
    case expression(CompiledExpression, path: String)
    case interpolation([TemplatePart], path: String)
    case array([TemplateNode])
    case object(constant: [String: JSONValue], computed: [(key: String, value: TemplateNode)])

    func render(_ root: JSONValue) throws(ExpressionError) -> JSONValue {
        switch self {
        case .constant(let value):
            return value
        case .expression(let expression, let path):
            do {
                return try expression.evaluate(root: root)
            } catch {
                throw error.at(path: path)
            }
        case .interpolation(let parts, let path):
            var text = ""
            for part in parts {
                switch part {
                case .text(let literal):
                    text += literal
                case .expression(let expression):
                    do {
                        text += ValueText.stringForm(try expression.evaluate(root: root))
                    } catch {
                        throw error.at(path: path)
                    }
                }
            }
            return .string(text)
        case .array(let elements):
            var values: [JSONValue] = []
            values.reserveCapacity(elements.count)
            for element in elements { values.append(try element.render(root)) }
            return .array(values)
        case .object(let constant, let computed):
            var members = constant
            members.reserveCapacity(constant.count + computed.count)
            for member in computed { members[member.key] = try member.value.render(root) }
            return .object(members)
        }
    }

    var constantValue: JSONValue? {
        if case .constant(let value) = self { return value }
        return nil
    }

    static func compile(_ value: JSONValue, path: String) throws(ExpressionError) -> TemplateNode {
        switch value {
        case .string(let text):
            do {
                return try compile(string: text, path: path)
            } catch {
                throw error.at(path: path)
            }
        case .array(let elements):
            var nodes: [TemplateNode] = []
            nodes.reserveCapacity(elements.count)
            for (index, element) in elements.enumerated() {
                nodes.append(try compile(element, path: "\(path)[\(index)]"))
            }
            if nodes.allSatisfy({ $0.constantValue != nil }) {
                return .constant(.array(nodes.compactMap(\.constantValue)))
            }
            return .array(nodes)
        case .object(let members):
            var constant: [String: JSONValue] = [:]
            var computed: [(key: String, value: TemplateNode)] = []
            for key in members.keys.sorted() {
                guard let member = members[key] else { continue }
                let node = try compile(member, path: memberPath(path, key))
                if let value = node.constantValue {
                    constant[key] = value
                } else {
                    computed.append((key, node))
                }
            }
            return computed.isEmpty ? .constant(.object(constant)) : .object(constant: constant, computed: computed)
        default:
            return .constant(value)
        }
    }

    /// Splits a string leaf into text and `{{ }}` expressions.
    private static func compile(string text: String, path: String) throws(ExpressionError) -> TemplateNode {
        let scalars = Array(text.unicodeScalars)
        var parts: [TemplatePart] = []
        var literal = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            guard scalars[index] == "{", index + 1 < scalars.count, scalars[index + 1] == "{" else {
                literal.append(scalars[index])
                index += 1
                continue
            }
            if !literal.isEmpty {
                parts.append(.text(String(literal)))
                literal = String.UnicodeScalarView()
            }
            var parser = try Parser(scalars: scalars, position: index + 2)
            if parser.current.kind == .rightBrace || parser.current.kind == .end {
                throw .syntax("expected expression after \"{{\"", at: parser.current.span.start)
            }
            let node = try parser.parseExpression().node
            let close = parser.current
            guard close.kind == .rightBrace, close.span.end < scalars.count, scalars[close.span.end] == "}" else {
                throw .syntax("expected \"}}\"", at: close.span.start)
            }
            parts.append(.expression(CompiledExpression(node: node, source: text)))
            index = close.span.end + 1
        }
        if !literal.isEmpty { parts.append(.text(String(literal))) }

        switch parts.count {
        case 0:
            return .constant(.string(text))
        case 1:
            switch parts[0] {
            case .text: return .constant(.string(text))
            case .expression(let expression):
                if let value = expression.node.literalValue { return .constant(value) }
                return .expression(expression, path: path)
            }
        default:
            var folded = ""
            for part in parts {
                switch part {
                case .text(let piece): folded += piece
                case .expression(let expression):
                    guard let value = expression.node.literalValue else {
                        return .interpolation(parts, path: path)
                    }
                    folded += ValueText.stringForm(value)
                }
            }
            return .constant(.string(folded))
        }
    }

    /// `path.name`, or `path["odd key"]` when the name is not an identifier.
    private static func memberPath(_ path: String, _ name: String) -> String {
        let isIdentifier = !name.isEmpty && name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
        if !isIdentifier { return "\(path)[\(ValueText.quote(name))]" }
        return path.isEmpty ? name : "\(path).\(name)"
    }
}
