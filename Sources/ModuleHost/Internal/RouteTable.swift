import ComponentKit
import Expressions
import MessageStoreAPI
import ModuleHostAPI

/// Where one edge of an output port leads, resolved: a node of this host, a
/// node of another module, or nowhere known.
///
/// Generic over what stands for a local node, so the route table is built
/// and tested with plain values; the runtime's routes lead to ``NodeInstance``s.
struct Route<Local: Sendable>: Sendable {
    /// Where the edge's messages go.
    enum Target: Sendable {
        /// A node of this host, and its input port.
        case local(Local, port: String)
        /// A node of another module.
        case remote(module: String)
        /// The edge's target is not known to this host; sends fail (on a durable edge they are stored).
        case missing

        /// Whether the target is not known.
        var isMissing: Bool {
            if case .missing = self { return true }
            return false
        }
    }

    /// Where the edge's messages go.
    var target: Target
    /// The `to` address of the messages on this route.
    var address: PortAddress
    /// The edge's retry policy, applied by the target's consumer.
    var retryPolicy: RetryPolicy?
    /// Builds the target's payload from the message, if the edge has a mapping.
    var mapping: Template?
    /// For a durable edge, where its messages are stored: they go to the host's message
    /// store, whatever host runs the target (``target`` only names it).
    var durable: DurableRoute?

    /// The message as this route delivers it: its payload mapped (if the edge
    /// has a mapping) and addressed to the target.
    ///
    /// - Throws: the mapping's error, with the path of the failing leaf.
    @inline(__always)
    func outgoing(_ message: consuming Message) throws -> Message {
        var message = message
        if let mapping {
            message.payload = try mapping.render(root: message.expressionRoot)
        }
        message.to = address
        return message
    }
}

/// The routes of every node of a host, by node and output port: the edges of
/// the nodes' definitions resolved against the nodes this host runs and the
/// nodes other modules run (`DesiredNodes.remoteNodes`). Rebuilt at every sync;
/// building it does no I/O.
///
/// An edge whose target does not parse as `<node>:<port>` has no route. A
/// mapping that does not compile has none either (the sync plan failed such
/// nodes before): the edge then delivers the message unchanged.
struct RouteTable<Local: Sendable>: Sendable {
    /// Routes by node name, then output port, in the order of the node's edges.
    private(set) var routes: [String: [String: [Route<Local>]]] = [:]

    /// Resolves the edges of `definitions`: a target that `local` knows is
    /// local, else one that `remoteNodes` (node → module) names is remote,
    /// else it is missing.
    init(definitions: some Sequence<NodeDefinition>, local: (String) -> Local?, remoteNodes: [String: String]) {
        for definition in definitions {
            var ports: [String: [Route<Local>]] = [:]
            for (index, edge) in definition.edges.enumerated() {
                guard let address = PortAddress(edge.to) else { continue }
                let mapping = edge.mapping.flatMap { try? Template(compiling: $0, at: "spec.edges[\(index)].mapping") }
                let target: Route<Local>.Target
                if let node = local(address.node) {
                    target = .local(node, port: address.port)
                } else if let module = remoteNodes[address.node] {
                    target = .remote(module: module)
                } else {
                    target = .missing
                }
                let durable = edge.delivery == .durable
                    ? DurableRoute(
                        queue: DurableQueue(namespace: definition.namespace ?? "default", node: address.node, port: address.port),
                        edge: DurableEdge(node: definition.name, edge: edge.id),
                        maxBacklog: edge.maxBacklog ?? Edge.defaultMaxBacklog)
                    : nil
                ports[edge.port, default: []].append(
                    Route(target: target, address: address, retryPolicy: edge.retryPolicy, mapping: mapping, durable: durable))
            }
            routes[definition.name] = ports
        }
    }

    /// The routes of `node`'s output ports (none for a node the table does not know).
    func routes(of node: String) -> [String: [Route<Local>]] {
        routes[node] ?? [:]
    }
}

/// Where a durable edge's messages are stored, and how many its target's queue may hold.
struct DurableRoute: Sendable, Hashable {
    /// The target port's queue.
    var queue: DurableQueue
    /// The edge, as its dead letters name it.
    var edge: DurableEdge
    /// The most messages the queue may hold before senders wait.
    var maxBacklog: Int
}
