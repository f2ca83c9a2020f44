import AsyncPrimitives
import ModuleHostAPI
import ComponentKit
import Foundation
import BoundedChannels
import Synchronization

/// One message waiting in a node's input channel, with what travels beside it.
struct Delivery: Sendable {
    var message: Message
    var reply: ReplySlot?
    var retryPolicy: RetryPolicy?
}

/// A node running on this host: its component instance, input channels,
/// routes, counters and the supervisor of its lifecycle.
final class NodeInstance: Sendable {
    /// What changes with every message (counters) or sync (definition), under one lock.
    struct Status: Sendable {
        var definition: NodeDefinition
        var consecutiveFailures = 0
        var lastError: String?
        var counters = NodeCounters()
    }

    /// The node's name, unique on this host.
    let name: String
    /// The component it runs; a restart makes a fresh instance of it.
    let componentType: any Component.Type
    /// What the component sees of its node: name, configurations, logger.
    let context: NodeContext
    /// One bounded channel per data input port.
    let inputs: [String: BoundedChannel<Delivery>]
    /// The node's lifecycle: its phase and restarts, restart and stop requests, the wait for its tasks to end.
    let supervisor: NodeSupervisor
    private let componentStorage: Mutex<any Component>
    private let routeTable = Mutex<[String: [NodeRoute]]>([:])
    private let status: Mutex<Status>
    /// Told after every change of `status`, so status watchers wake only when there is news.
    private let statusChanges: ChangeNotifier

    init(
        definition: NodeDefinition, componentType: any Component.Type, context: NodeContext, channelCapacity: Int,
        statusChanges: ChangeNotifier
    ) {
        self.name = definition.name
        self.componentType = componentType
        self.context = context
        self.componentStorage = Mutex(componentType.init())
        self.status = Mutex(Status(definition: definition))
        self.statusChanges = statusChanges
        self.supervisor = NodeSupervisor(statusChanges: statusChanges)
        var inputs: [String: BoundedChannel<Delivery>] = [:]
        for port in componentType.ports where port.direction == .input && port.role == .data {
            inputs[port.name] = BoundedChannel(capacity: channelCapacity)
        }
        self.inputs = inputs
    }

    /// The current component instance.
    var component: any Component { componentStorage.withLock { $0 } }

    /// The definition the node runs.
    var definition: NodeDefinition { status.withLock { $0.definition } }

    /// Replaces the component instance with a fresh one (a restart).
    func recreateComponent() {
        let fresh = componentType.init()
        componentStorage.withLock { $0 = fresh }
    }

    /// Where the output port `port` sends (``RouteTable``), in the order of the node's edges.
    func routes(for port: String) -> [NodeRoute] { routeTable.withLock { $0[port] ?? [] } }

    /// Installs the routes of a sync, by output port.
    func replaceRoutes(_ routes: [String: [NodeRoute]]) { routeTable.withLock { $0 = routes } }

    /// Changes the node's status and tells the status watchers.
    func updateStatus<Result>(_ update: (inout Status) -> Result) -> Result {
        let result = status.withLock { update(&$0) }
        statusChanges.notify()
        return result
    }

    /// Changes the node's counters and tells the status watchers.
    func count(_ update: (inout NodeCounters) -> Void) { updateStatus { update(&$0.counters) } }

    /// Records the error that explains the node's state.
    func setLastError(_ error: String) { updateStatus { $0.lastError = error } }

    /// Puts `delivery` into the input port's channel; returns when accepted.
    func enqueue(_ delivery: Delivery, port: String) async throws {
        guard let channel = inputs[port] else {
            throw DeliveryError.unknownPort(node: name, port: port)
        }
        do {
            try await channel.send(delivery)
        } catch is BoundedChannelClosedError {
            throw DeliveryError.nodeStopping(name)
        }
        count { $0.received += 1 }
    }

    /// The node's status as the host reports it: generation, phase and restarts, counters, last error.
    var report: NodeStatusReport {
        let (phase, restarts) = supervisor.snapshot
        return status.withLock { status in
            NodeStatusReport(
                name: name, generation: status.definition.generation, phase: phase,
                restarts: restarts, counters: status.counters, lastError: status.lastError)
        }
    }

    /// What a sync answers for this node: its phase, last error and the generation it runs.
    var syncResult: NodeSyncResult {
        let phase = supervisor.snapshot.phase
        return status.withLock { status in
            NodeSyncResult(name: name, phase: phase, error: status.lastError, generation: status.definition.generation)
        }
    }
}

/// Why a message could not be delivered to a node on this host.
public enum DeliveryError: DeadlineReporting, Sendable, Hashable, CustomStringConvertible {
    /// The target node does not run on this host.
    case unknownNode(String)
    /// The target node has no such input port.
    case unknownPort(node: String, port: String)
    /// The target node is stopping and accepts no more messages.
    case nodeStopping(String)
    /// The message's deadline passed before delivery.
    case expired(String)
    /// The message has no `to` address.
    case unaddressed(String)
    /// The edge leads to another module but the host has no transport.
    case noTransport(module: String)

    public var isDeadlineExceeded: Bool {
        if case .expired = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .unknownNode(let node): "no node \"\(node)\" on this host"
        case .unknownPort(let node, let port): "node \"\(node)\" has no input port \"\(port)\""
        case .nodeStopping(let node): "node \"\(node)\" is stopping"
        case .expired(let id): "message \(id) expired before delivery"
        case .unaddressed(let id): "message \(id) has no destination"
        case .noTransport(let module): "no transport to reach module \"\(module)\""
        }
    }
}
