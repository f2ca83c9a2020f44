public import JSONSchemaKit
import Yams

/// A YAML text that could not be read, or a document read from it that could
/// not be used: where and why.
public struct YAMLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where: a file name and document index, or a field path.
    public var location: String
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(location: String, message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}

/// Reads and writes YAML the way Kubernetes manifests use it: multi-document
/// files whose scalars follow YAML's core schema (a quoted `"123"` stays a
/// string, an unquoted `123` is an integer). The one YAML → JSON conversion of
/// Tinyflow: manifests, kubeconfigs, modules files and the control plane's
/// request bodies all read YAML through it. Alias expansion is bounded: a text
/// becomes at most about two values per byte of it (more than any text without
/// aliases can hold), so a "billion laughs" of nested aliases is refused in
/// microseconds instead of expanding to gigabytes. Nesting is bounded by libyaml
/// (1,000 levels).
public enum YAMLDocuments {
    /// Every non-empty document of a (multi-document) YAML text, as JSON values.
    public static func parse(_ text: String, source: String = "<input>") throws(YAMLError) -> [JSONValue] {
        var nodes: [Node] = []
        do {
            // The sequence ends at the first error and keeps it: a syntax error in a later
            // document must not read as a shorter file.
            var sequence = try Yams.compose_all(yaml: text)
            while let node = sequence.next() { nodes.append(node) }
            if let error = sequence.error { throw error }
        } catch {
            throw YAMLError(location: source, message: "invalid YAML: \(error)")
        }
        var documents: [JSONValue] = []
        var budget = maximumValues(forLength: text.utf8.count)
        for (index, node) in nodes.enumerated() {
            let value = try jsonValue(of: node, at: "\(source)#\(index + 1)", budget: &budget)
            if !value.isNull { documents.append(value) }
        }
        return documents
    }

    /// The one document of `text`, or `nil` for a text without any (empty, or
    /// only comments); more than one document is an error.
    public static func parseDocument(_ text: String, source: String = "<input>") throws(YAMLError) -> JSONValue? {
        let documents = try parse(text, source: source)
        guard documents.count <= 1 else {
            throw YAMLError(location: source, message: "expected one YAML document, found \(documents.count)")
        }
        return documents.first
    }

    /// A YAML text for `value`, with mapping keys sorted so the same value
    /// always renders to the same bytes.
    public static func render(_ value: JSONValue) -> String {
        (try? Yams.serialize(node: node(of: value), indent: 2, width: -1, sortKeys: true)) ?? ""
    }

    /// How many values (scalars, mappings, sequences) a text of `length` bytes may expand
    /// to. Without aliases every value takes at least one byte, or none for an implicit
    /// null that follows a key or an entry marker, so a text never needs more than two
    /// per byte.
    public static func maximumValues(forLength length: Int) -> Int {
        2 * length + 16
    }

    private static func jsonValue(of node: Node, at location: String, budget: inout Int) throws(YAMLError) -> JSONValue {
        budget -= 1
        guard budget >= 0 else {
            throw YAMLError(location: location, message: "the document expands to more values than its length allows (YAML aliases expanding too far?)")
        }
        switch node {
        case .scalar(let scalar):
            switch Resolver.default.resolveTag(of: node) {
            case .null: return .null
            case .bool: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case .int: return node.int.map(JSONValue.integer) ?? .string(scalar.string)
            case .float: return node.float.map(JSONValue.number) ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .mapping(let mapping):
            var members: [String: JSONValue] = [:]
            for (key, value) in mapping {
                guard let name = key.string else {
                    throw YAMLError(location: location, message: "mapping keys must be strings")
                }
                members[name] = try jsonValue(of: value, at: location, budget: &budget)
            }
            return .object(members)
        case .sequence(let sequence):
            var elements: [JSONValue] = []
            for element in sequence { elements.append(try jsonValue(of: element, at: location, budget: &budget)) }
            return .array(elements)
        case .alias:
            throw YAMLError(location: location, message: "YAML aliases are not supported")
        }
    }

    /// A float as the core schema reads it back: `.inf`, `-.inf` and `.nan` for the
    /// non-finite ones (Swift's `inf` and `nan` would read back as strings).
    private static func floatText(_ number: Double) -> String {
        if number.isNaN { return ".nan" }
        if number.isInfinite { return number < 0 ? "-.inf" : ".inf" }
        return String(number)
    }

    private static func node(of value: JSONValue) -> Node {
        switch value {
        case .null: return Node("null", Tag(.null))
        case .bool(let flag): return Node(flag ? "true" : "false", Tag(.bool))
        case .integer(let number): return Node(String(number), Tag(.int))
        case .number(let number): return Node(floatText(number), Tag(.float))
        case .string(let text):
            let plain = Node(text)
            let style: Node.Scalar.Style
            if text.contains("\n") {
                style = .literal
            } else if text.isEmpty || Resolver.default.resolveTag(of: plain) != .str {
                style = .doubleQuoted
            } else {
                style = .plain
            }
            return Node(text, Tag(.str), style)
        case .array(let elements):
            return Node(elements.map(node(of:)))
        case .object(let members):
            let pairs = members.keys.sorted().map { key in (Node(key), node(of: members[key] ?? .null)) }
            return Node(pairs)
        }
    }
}
