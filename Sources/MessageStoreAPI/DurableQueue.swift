/// The input port durable edges deliver to, in its namespace: its messages wait in one queue
/// of the store until a consumer (a replica of the node's module) takes them.
public struct DurableQueue: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The namespace of the node.
    public var namespace: String
    /// The target node.
    public var node: String
    /// The target node's input port.
    public var port: String

    /// Creates a queue name.
    public init(namespace: String, node: String, port: String) {
        self.namespace = namespace
        self.node = node
        self.port = port
    }

    /// `default/counter:in`.
    public var description: String { "\(namespace)/\(node):\(port)" }

    public static func < (lhs: DurableQueue, rhs: DurableQueue) -> Bool {
        (lhs.namespace, lhs.node, lhs.port) < (rhs.namespace, rhs.node, rhs.port)
    }
}

/// The edge a durable message travels: its source node and the edge's `id` there, which
/// dead letters name and a replay sends the message along again.
public struct DurableEdge: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The node the edge starts from.
    public var node: String
    /// The edge's `id` within that node.
    public var edge: String

    /// Creates an edge reference.
    public init(node: String, edge: String) {
        self.node = node
        self.edge = edge
    }

    /// `ticker/to-counter`.
    public var description: String { "\(node)/\(edge)" }
}
