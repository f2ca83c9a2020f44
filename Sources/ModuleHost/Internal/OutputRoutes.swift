import BoundedChannels
import ComponentKit

/// The routes of one node's output ports as the last sync installed them
/// (``RouteTable``), resolved for sending: each port's `from` address is built
/// once, and each local route holds its target's input channel, so a send
/// looks up neither a dictionary nor a hash.
///
/// Immutable: a sync installs a new one (``NodeInstance/replaceRoutes(_:)``), a
/// send takes the current one under the node's route lock and works on it
/// without the lock.
final class OutputRoutes: Sendable {
    /// One output port and where it sends.
    struct Port: Sendable {
        /// The port's name.
        let name: String
        /// The `from` address of what the port sends.
        let from: PortAddress
        /// Its routes, in the order of the node's edges.
        let routes: [ResolvedRoute]
    }

    /// A route and, for a local target, the target's input channel (`nil` if the
    /// target has no such input port: sends then fail as ``DeliveryError/unknownPort(node:port:)``).
    ///
    /// An object, so that a send holds the route by one reference: copying the
    /// route itself would retain the target node, whose object its consumer keeps
    /// busy on another thread.
    final class ResolvedRoute: Sendable {
        let route: NodeRoute
        let channel: BoundedChannel<Delivery>?

        init(_ route: NodeRoute) {
            self.route = route
            // A durable route stores its messages, even for a target on this host.
            if case .local(let target, let port) = route.target, route.durable == nil {
                channel = target.inputs[port]
            } else {
                channel = nil
            }
        }
    }

    /// The ports that have routes. Few per node: a linear search by name
    /// (short names compare as two words) is cheaper than hashing the name.
    private let ports: [Port]
    /// The most hops a message sent from the node may have made (its flow's
    /// `maxHops`, ``HopLimit``): taken with the routes, so a send reads no definition.
    let maxHops: Int

    /// No routes.
    init() {
        ports = []
        maxHops = Message.defaultMaxHops
    }

    /// Resolves `routes` (by output port) of the node `node`, whose messages may make `maxHops` hops.
    init(node: String, routes: [String: [NodeRoute]], maxHops: Int = Message.defaultMaxHops) {
        ports = routes.sorted { $0.key < $1.key }.map { port, routes in
            Port(name: port, from: PortAddress(node: node, port: port), routes: routes.map(ResolvedRoute.init))
        }
        self.maxHops = maxHops
    }

    /// The port named `name`, if it has routes.
    @inline(__always)
    func port(_ name: String) -> Port? {
        for port in ports where port.name == name { return port }
        return nil
    }
}
