import AsyncPrimitives
import BoundedChannels
import ComponentKit
import Foundation
import ModuleHostAPI

/// A route of the runtime: its local targets are the host's nodes.
typealias NodeRoute = Route<NodeInstance>

/// Sends what a node's component sends from an output port along the node's
/// routes: into the input channels of nodes of this host, or through the
/// ``Transport`` to another module.
///
/// Every message goes through one preparation (``prepare(_:from:context:)``:
/// its `from`, and the deadline and trace of the message being handled) and,
/// per route, one rendering (``Route/outgoing(_:)``: the edge's mapping and the
/// `to` address) — for single sends, batches and requests alike.
final class Router: Sendable {
    /// Reaches other modules; without one, edges to them fail.
    let transport: (any Transport)?
    /// Deadline of a request whose message carries none.
    let defaultRequestTimeout: Duration
    /// The host's status watchers, told when a local target received a message
    /// (its input channel counts it).
    let statusChanges: ChangeNotifier

    /// A router that reaches other modules through `transport`.
    init(transport: (any Transport)?, defaultRequestTimeout: Duration, statusChanges: ChangeNotifier = ChangeNotifier()) {
        self.transport = transport
        self.defaultRequestTimeout = defaultRequestTimeout
        self.statusChanges = statusChanges
    }

    /// A message as it leaves `from`: it continues the chain of the message
    /// being handled (`context`), taking its deadline and trace unless it has
    /// its own.
    @inline(__always)
    static func prepare(_ message: Message, from: PortAddress, context: DeliveryContext?) -> Message {
        var message = message
        prepare(&message, from: from, context: context)
        return message
    }

    /// ``prepare(_:from:context:)`` in place.
    @inline(__always)
    static func prepare(_ message: inout Message, from: PortAddress, context: DeliveryContext?) {
        message.from = from
        if let context {
            if message.deadline == nil { message.deadline = context.deadline }
            if message.traceparent == nil { message.traceparent = context.traceparent }
        }
    }

    /// The deadline of a request: the message's own, else that of the chain it continues, else the default timeout from `now`.
    func requestDeadline(of message: Message, context: DeliveryContext?, now: Date = Date()) -> Date {
        message.deadline ?? context?.deadline ?? now.addingTimeInterval(defaultRequestTimeout.seconds)
    }

    /// Sends `message` from `node`'s output port `port` to every route, in
    /// order; returns once every target accepted it. Within a request, a remote
    /// target's reply answers it.
    ///
    /// The routes are taken once (one lock) and searched without hashing
    /// (``OutputRoutes``); a message with one route is moved, not copied, into
    /// its target's channel, which takes it without suspending while it has room.
    func send(_ message: Message, from node: NodeInstance, port: String) async throws {
        let context = DeliveryContext.current
        let output = node.outputRoutes.port(port)
        var message = message
        Self.prepare(&message, from: output?.from ?? PortAddress(node: node.name, port: port), context: context)
        node.countSent()
        guard let routes = output?.routes, let last = routes.last else { return }
        let reply = context?.reply
        for route in routes.dropLast() {
            try await deliver(try route.route.outgoing(message), along: route, reply: reply)
        }
        try await deliver(try last.route.outgoing(consume message), along: last, reply: reply)
    }

    /// Sends a batch from `port` to every route, in order. Local targets take
    /// the messages one by one (their channels suspend the sender when full);
    /// a remote module gets them in one ``Transport/send(contentsOf:toModule:)``.
    /// Within a request (a reply is pending) every message goes alone, as
    /// ``send(_:from:port:)`` does, so each reply reaches the request. A message
    /// that fails on any route is named in the thrown error; the others were
    /// accepted by every route.
    func send(contentsOf messages: [Message], from node: NodeInstance, port: String) async throws(BatchSendError) {
        guard !messages.isEmpty else { return }
        let context = DeliveryContext.current
        var failures: [BatchSendError.Failure] = []
        if context?.reply != nil {
            for (index, message) in messages.enumerated() {
                do {
                    try await send(message, from: node, port: port)
                } catch {
                    failures.append(BatchSendError.Failure(index: index, messageID: message.id, error: error))
                }
            }
            if !failures.isEmpty { throw BatchSendError(count: messages.count, failures: failures) }
            return
        }
        let output = node.outputRoutes.port(port)
        let from = output?.from ?? PortAddress(node: node.name, port: port)
        let prepared = messages.map { Self.prepare($0, from: from, context: context) }
        node.countSent(prepared.count)
        for resolved in output?.routes ?? [] {
            let route = resolved.route
            // The messages for this route (mapped and addressed) and their indices in the batch.
            var outgoing: [Message] = []
            var indices: [Int] = []
            outgoing.reserveCapacity(prepared.count)
            indices.reserveCapacity(prepared.count)
            for (index, message) in prepared.enumerated() {
                do {
                    outgoing.append(try route.outgoing(message))
                    indices.append(index)
                } catch {
                    failures.append(BatchSendError.Failure(index: index, messageID: message.id, error: error))
                }
            }
            if case .remote(let module) = route.target, let transport {
                do {
                    try await transport.send(contentsOf: outgoing, toModule: module)
                } catch {
                    for failure in error.failures where failure.index < indices.count {
                        failures.append(BatchSendError.Failure(
                            index: indices[failure.index], messageID: failure.messageID, error: failure.error))
                    }
                }
                continue
            }
            for (offset, message) in outgoing.enumerated() {
                do {
                    try await deliver(message, along: resolved, reply: nil)
                } catch {
                    failures.append(BatchSendError.Failure(index: indices[offset], messageID: message.id, error: error))
                }
            }
        }
        if !failures.isEmpty { throw BatchSendError(count: messages.count, failures: failures) }
    }

    /// Sends `message` from `port` and waits for the reply of the chain it
    /// starts, until the message's deadline (or the chain's, or the default).
    func request(_ message: Message, from node: NodeInstance, port: String) async throws -> JSONValue {
        let current = DeliveryContext.current
        var message = message
        let deadline = requestDeadline(of: message, context: current)
        message.deadline = deadline
        let slot = ReplySlot()
        let context = DeliveryContext(reply: slot, deadline: deadline, traceparent: message.traceparent ?? current?.traceparent)
        try await DeliveryContext.$current.withValue(context) {
            try await send(message, from: node, port: port)
        }
        return try await slot.wait(until: deadline, requestID: message.id)
    }

    /// Hands one routed message to its target: a local node's channel (which
    /// may suspend: backpressure), or the transport — as a request whose reply
    /// fills `reply`, if one is pending.
    @inline(__always)
    private func deliver(_ message: consuming Message, along resolved: OutputRoutes.ResolvedRoute, reply: ReplySlot?) async throws {
        // A local target is reached through its channel alone: the target node's
        // object, which its consumer keeps busy, is not touched.
        if let channel = resolved.channel {
            let delivery = Delivery(message: message, reply: reply, retryPolicy: resolved.route.retryPolicy)
            try await NodeInstance.enqueue(delivery, into: channel, node: resolved.route.address.node)
            statusChanges.notify()
            return
        }
        let route = resolved.route
        switch route.target {
        case .local(let target, let port):
            throw DeliveryError.unknownPort(node: target.name, port: port)
        case .missing:
            throw DeliveryError.unknownNode(route.address.node)
        case .remote(let module):
            guard let transport else { throw DeliveryError.noTransport(module: module) }
            if let reply {
                reply.succeed(try await transport.request(message, toModule: module))
            } else {
                try await transport.send(message, toModule: module)
            }
        }
    }
}

/// The ``Output`` a node's component is handed: its sends go through the router.
///
/// Two references, so it fits an existential's inline buffer: handing it to
/// `handle` allocates nothing.
struct NodeOutput: Output {
    let node: NodeInstance
    let router: Router

    func send(_ port: String, _ message: Message) async throws {
        try await router.send(message, from: node, port: port)
    }

    func send(_ port: String, contentsOf messages: [Message]) async throws(BatchSendError) {
        try await router.send(contentsOf: messages, from: node, port: port)
    }

    func request(_ port: String, _ message: Message) async throws -> JSONValue {
        try await router.request(message, from: node, port: port)
    }

    func reply(_ payload: JSONValue) async throws {
        guard let slot = DeliveryContext.current?.reply else {
            throw RequestError.noPendingRequest(node: node.name)
        }
        slot.succeed(payload)
    }
}
