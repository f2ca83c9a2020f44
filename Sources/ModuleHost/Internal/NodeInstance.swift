import AsyncPrimitives
import ModuleHostAPI
import ComponentKit
import Expressions
import Foundation
import Logging
import BoundedChannels
import Synchronization

/// One message waiting in a node's input channel, with what travels beside it.
struct Delivery: Sendable {
    var message: Message
    var reply: ReplySlot?
    var retryPolicy: RetryPolicy?
}

/// Where an output port's messages go.
struct Route: Sendable {
    enum Target: Sendable {
        case local(NodeInstance, port: String)
        case remote(module: String, address: PortAddress)
        /// The edge's target is not known to this host; sends fail.
        case missing(PortAddress)
    }

    var target: Target
    var retryPolicy: RetryPolicy?
    /// Builds the target's payload from the message, if the edge has a mapping.
    var mapping: Template?
}

/// A node running on this host: its component instance, input channels,
/// routes, counters and lifecycle.
final class NodeInstance: Sendable {
    struct Status: Sendable {
        var definition: NodeDefinition
        var phase: NodePhase = .starting
        var restarts = 0
        var consecutiveFailures = 0
        var lastError: String?
        var counters = NodeCounters()
    }

    let name: String
    let componentType: any Component.Type
    let context: NodeContext
    let inputs: [String: BoundedChannel<Delivery>]
    let stopRequested = OneShotEvent()
    private let runRestart = Mutex(OneShotEvent())
    let stopped = OneShotEvent()
    private let componentStorage: Mutex<any Component>
    private let routeTable = Mutex<[String: [Route]]>([:])
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
        var inputs: [String: BoundedChannel<Delivery>] = [:]
        for port in componentType.ports where port.direction == .input && port.role == .data {
            inputs[port.name] = BoundedChannel(capacity: channelCapacity)
        }
        self.inputs = inputs
    }

    var component: any Component { componentStorage.withLock { $0 } }

    /// The event that restarts the node's `run` task, for the current settings.
    var currentRunRestart: OneShotEvent { runRestart.withLock { $0 } }

    /// Restarts `run` (new settings): signals the current event, installs a fresh one.
    func restartRun() {
        let previous = runRestart.withLock { current -> OneShotEvent in
            defer { current = OneShotEvent() }
            return current
        }
        previous.signal()
    }

    var definition: NodeDefinition { status.withLock { $0.definition } }

    /// Replaces the component instance with a fresh one (a restart).
    func recreateComponent() {
        let fresh = componentType.init()
        componentStorage.withLock { $0 = fresh }
    }

    func routes(for port: String) -> [Route] { routeTable.withLock { $0[port] ?? [] } }

    func replaceRoutes(_ routes: [String: [Route]]) { routeTable.withLock { $0 = routes } }

    /// Changes the node's status and tells the status watchers.
    func updateStatus<Result>(_ update: (inout Status) -> Result) -> Result {
        let result = status.withLock { update(&$0) }
        statusChanges.notify()
        return result
    }

    func count(_ update: (inout NodeCounters) -> Void) { updateStatus { update(&$0.counters) } }

    func setPhase(_ phase: NodePhase, error: String? = nil) {
        updateStatus { status in
            status.phase = phase
            if let error { status.lastError = error }
        }
    }

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

    var report: NodeStatusReport {
        status.withLock { status in
            NodeStatusReport(
                name: name, generation: status.definition.generation, phase: status.phase,
                restarts: status.restarts, counters: status.counters, lastError: status.lastError)
        }
    }

    /// What a sync answers for this node: its phase, last error and the generation it runs.
    var syncResult: NodeSyncResult {
        status.withLock { status in
            NodeSyncResult(name: name, phase: status.phase, error: status.lastError, generation: status.definition.generation)
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
