/// Whose context a key belongs to. Every scope lives inside one namespace, so
/// no node reads another namespace's context.
public enum ContextScope: Sendable, Hashable, CustomStringConvertible {
    /// The context of one node (TinyNode), private to it.
    case node(namespace: String, node: String)
    /// The context shared by the nodes of one TinyFlow.
    case flow(namespace: String, flow: String)
    /// The context shared by every node of a namespace.
    case global(namespace: String)

    /// Which of the three kinds of scope this is.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// One node.
        case node
        /// One flow.
        case flow
        /// One namespace.
        case global
    }

    /// Builds a scope from its parts: `name` is the node or flow and is ignored for `.global`.
    public init(kind: Kind, namespace: String, name: String) {
        switch kind {
        case .node: self = .node(namespace: namespace, node: name)
        case .flow: self = .flow(namespace: namespace, flow: name)
        case .global: self = .global(namespace: namespace)
        }
    }

    /// The kind of scope.
    public var kind: Kind {
        switch self {
        case .node: .node
        case .flow: .flow
        case .global: .global
        }
    }

    /// The namespace the scope lives in.
    public var namespace: String {
        switch self {
        case .node(let namespace, _), .flow(let namespace, _), .global(let namespace): namespace
        }
    }

    /// The node's or flow's name; empty for the global scope. Backends store it beside
    /// ``kind`` and ``namespace`` as the scope's identity.
    public var name: String {
        switch self {
        case .node(_, let node): node
        case .flow(_, let flow): flow
        case .global: ""
        }
    }

    /// `node default/counter`, `flow default/orders`, `global default`.
    public var description: String {
        switch self {
        case .node(let namespace, let node): "node \(namespace)/\(node)"
        case .flow(let namespace, let flow): "flow \(namespace)/\(flow)"
        case .global(let namespace): "global \(namespace)"
        }
    }
}
