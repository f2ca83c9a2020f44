public import ComponentKit
import Foundation
public import Logging
import Synchronization

/// A node of a flow that cannot run, and why.
public struct NodeRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// The TinyNode's name.
    public var node: String
    /// Every problem found, with the TinyNode field path.
    public var violations: [SchemaViolation]

    public var description: String {
        "TinyNode \"\(node)\": " + violations.map(\.description).joined(separator: "; ")
    }
}

/// Message counters of one node. Invariant once a node is idle:
/// `received == delivered + errored + expired`.
public struct NodeCounters: Codable, Sendable, Hashable {
    /// Messages that arrived on input ports.
    public var received = 0
    /// Messages a handler completed.
    public var delivered = 0
    /// Messages whose handler threw.
    public var errored = 0
    /// Messages not delivered because their deadline had passed.
    public var expired = 0
    /// Messages the node sent from output ports.
    public var sent = 0

    /// Creates counters.
    public init(received: Int = 0, delivered: Int = 0, errored: Int = 0, expired: Int = 0, sent: Int = 0) {
        self.received = received
        self.delivered = delivered
        self.errored = errored
        self.expired = expired
        self.sent = sent
    }
}

/// Runs a flow's nodes in this process, delivering each message by calling
/// the target node's handler directly: the sender awaits the handler, so a
/// slow consumer slows its producer and nothing is buffered.
///
/// This is the single-process runner behind `tinyflow run`; module hosts
/// with per-port channels and cross-module transport build on the same
/// ``Component`` contract.
public final class FlowRunner: Sendable {
    private let nodes: [String: RunningNode]
    private let logger: Logger

    /// Prepares the nodes; throws every rejection at once if any node is invalid.
    public init(nodes specs: [TinyNode], modules: [ModuleDefinition], logger: Logger) throws {
        self.logger = logger
        var prepared: [String: RunningNode] = [:]
        var rejections: [NodeRejection] = []
        for spec in specs {
            let name = spec.metadata.name ?? "<unnamed>"
            switch Self.prepare(spec, name: name, specs: specs, modules: modules, logger: logger) {
            case .success(let node): prepared[name] = node
            case .failure(let rejection): rejections.append(rejection)
            }
        }
        guard rejections.isEmpty else { throw FlowRejection(rejections: rejections) }
        self.nodes = prepared
    }

    /// Counters of a node, or `nil` for an unknown node.
    public func counters(of node: String) -> NodeCounters? {
        nodes[node]?.counters.withLock { $0 }
    }

    /// The instance running a node, to inspect it (e.g. a ``Component`` actor's state).
    public func component(of node: String) -> (any Component)? {
        nodes[node]?.component
    }

    /// Runs every node until the calling task is cancelled; a source node
    /// whose `run` throws is logged and restarted after a second.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for node in nodes.values {
                let output = NodeOutput(node: node, runner: self)
                do {
                    if let settings = node.context.configuration(of: PortDefinition.settingsName) {
                        try await node.component.handle(
                            port: PortDefinition.settingsName,
                            message: Message(to: PortAddress(node: node.name, port: PortDefinition.settingsName), payload: settings),
                            context: node.context, output: output)
                    }
                } catch {
                    logger.error("node \(node.name) rejected its settings: \(error)")
                    continue
                }
                group.addTask { [logger] in
                    while !Task.isCancelled {
                        do {
                            try await node.component.run(context: node.context, output: output)
                            return
                        } catch is CancellationError {
                            return
                        } catch {
                            logger.error("node \(node.name) stopped: \(error); restarting in 1s")
                            try? await Task.sleep(for: .seconds(1))
                        }
                    }
                }
            }
        }
    }

    /// Delivers `message` to `port` of `node` and waits until it was handled.
    public func deliver(_ message: Message, to address: PortAddress) async throws {
        guard let node = nodes[address.node] else {
            throw DeliveryError.unknownNode(address.node)
        }
        var message = message
        message.to = address
        node.counters.withLock { $0.received += 1 }
        if message.isExpired() {
            node.counters.withLock { $0.expired += 1 }
            await reportFailure(of: message, at: node, port: address.port, error: DeliveryError.expired(message.id))
            return
        }
        do {
            try await node.component.handle(
                port: address.port, message: message, context: node.context,
                output: NodeOutput(node: node, runner: self))
            node.counters.withLock { $0.delivered += 1 }
        } catch {
            node.counters.withLock { $0.errored += 1 }
            await reportFailure(of: message, at: node, port: address.port, error: error)
        }
    }

    fileprivate func send(_ message: Message, from node: RunningNode, port: String) async throws {
        var message = message
        message.from = PortAddress(node: node.name, port: port)
        node.counters.withLock { $0.sent += 1 }
        for target in node.targets[port] ?? [] {
            try await deliver(message, to: target)
        }
    }

    private func reportFailure(of message: Message, at node: RunningNode, port: String, error: any Error) async {
        let report = ErrorMessage(
            error: "\(error)", errorType: String(describing: type(of: error)), node: node.name, port: port,
            message: (try? JSONValue(encoding: message)) ?? message.payload)
        guard let targets = node.targets[PortDefinition.errorName], !targets.isEmpty,
            let payload = try? JSONValue(encoding: report)
        else {
            logger.warning("node \(node.name) failed on port \(port): \(error)", metadata: ["message": "\(message.id)"])
            return
        }
        try? await send(Message(payload: payload, deadline: nil), from: node, port: PortDefinition.errorName)
    }

    private static func prepare(
        _ spec: TinyNode, name: String, specs: [TinyNode], modules: [ModuleDefinition],
        logger: Logger
    ) -> Result<RunningNode, NodeRejection> {
        func componentType(of node: TinyNodeSpec) -> (any Component.Type)? {
            modules.first { $0.name == node.module }?.components[node.component]
        }
        let resolved = componentType(of: spec.spec)
        let problem: SchemaViolation
        if let module = modules.first(where: { $0.name == spec.spec.module }) {
            let names = module.components.keys.sorted().joined(separator: ", ")
            problem = SchemaViolation(
                path: "spec.component",
                message: "module \"\(module.name)\" has no component \"\(spec.spec.component)\" (components: \(names))")
        } else {
            let names = modules.map(\.name).joined(separator: ", ")
            problem = SchemaViolation(path: "spec.module", message: "no module \"\(spec.spec.module)\" (modules: \(names))")
        }
        var validation = spec.spec.validate(component: resolved?.componentDescription, componentProblem: problem) { target in
            guard let node = specs.first(where: { $0.metadata.name == target }) else { return nil }
            return componentType(of: node.spec).map { .resolved($0.componentDescription) } ?? .unresolved
        }
        for (index, edge) in spec.spec.edges.enumerated() where edge.mapping != nil || edge.retryPolicy != nil {
            validation.edges.append(
                SchemaViolation(
                    path: "spec.edges[\(index)]",
                    message: "edge mappings and retry policies need a module host; the in-process runner does not apply them"))
        }
        guard let resolved, validation.isValid else {
            return .failure(NodeRejection(node: name, violations: validation.all))
        }
        var targets: [String: [PortAddress]] = [:]
        for edge in spec.spec.edges {
            if let address = PortAddress(edge.to) { targets[edge.port, default: []].append(address) }
        }
        let context = NodeContext(
            node: name, namespace: spec.metadata.namespace ?? "default",
            configurations: resolved.componentDescription.effectiveConfigurations(of: spec.spec.ports), logger: logger)
        return .success(RunningNode(name: name, component: resolved.init(), context: context, targets: targets))
    }
}

/// Every node of a flow that cannot run.
public struct FlowRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// One entry per invalid node.
    public var rejections: [NodeRejection]
    public var description: String { rejections.map(\.description).joined(separator: "\n") }
}

/// Why a message could not be delivered.
public enum DeliveryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The target node does not exist.
    case unknownNode(String)
    /// The message's deadline passed before delivery.
    case expired(String)

    public var description: String {
        switch self {
        case .unknownNode(let node): "no node \"\(node)\""
        case .expired(let id): "message \(id) expired before delivery"
        }
    }
}

private final class RunningNode: Sendable {
    let name: String
    let component: any Component
    let context: NodeContext
    let targets: [String: [PortAddress]]
    let counters = Mutex(NodeCounters())

    init(name: String, component: any Component, context: NodeContext, targets: [String: [PortAddress]]) {
        self.name = name
        self.component = component
        self.context = context
        self.targets = targets
    }
}

private struct NodeOutput: Output {
    let node: RunningNode
    let runner: FlowRunner

    func send(_ port: String, _ message: Message) async throws {
        try await runner.send(message, from: node, port: port)
    }

    func request(_ port: String, _ message: Message) async throws -> JSONValue {
        throw RequestUnsupported()
    }
}

/// Request/reply needs a module host; the in-process runner answers this.
public struct RequestUnsupported: Error, Sendable, CustomStringConvertible {
    public var description: String { "request/reply needs a module host; the in-process runner supports send only" }
}
