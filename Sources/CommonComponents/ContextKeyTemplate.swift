public import ComponentKit
import Expressions

/// Which context a `kv` or `dedupe` node uses: a settings field.
@Schema
public enum ContextScopeSetting: String, Codable, Sendable, Hashable {
    /// The node's own context.
    case node
    /// The context shared by the nodes of the node's TinyFlow.
    case flow
    /// The context shared by every node of the namespace.
    case global

    /// The scope kind of the store.
    var kind: ContextScope.Kind {
        switch self {
        case .node: .node
        case .flow: .flow
        case .global: .global
        }
    }
}

/// A key template compiled once per settings change, rendered per message to the key string.
struct ContextKeyTemplate: Sendable {
    private let template: Template
    private let path: String

    /// Compiles `source` (e.g. `"{{ $.payload.user }}"`); `path` names the settings field in errors.
    init(_ source: String, at path: String) throws {
        self.template = try Template(compiling: .string(source), at: path)
        self.path = path
    }

    /// The key for `message`: the rendered string, or a rendered number or boolean as text.
    func key(for message: Message) throws -> String {
        switch try template.render(root: message.expressionRoot) {
        case .string(let key): return key
        case .integer(let number): return String(number)
        case .number(let number): return String(number)
        case .bool(let flag): return String(flag)
        case let other:
            throw ContextKeyError(path: path, found: other.typeName)
        }
    }
}

/// A key template that rendered to something that cannot be a key.
public struct ContextKeyError: Error, CustomStringConvertible {
    /// The settings field.
    public var path: String
    /// The JSON type it rendered to.
    public var found: String
    /// `_settings.key: renders to a null, not a string`.
    public var description: String { "\(path): renders to a \(found), not a string (check the message has the field)" }
}
