import AsyncPrimitives
import BoundedChannels
import ComponentKit
import Foundation
import MessageStoreAPI
import ModuleHostAPI

/// A route of the runtime: its local targets are the host's nodes.
typealias NodeRoute = Route<NodeInstance>

/// Sends what a node's component sends from an output port along the node's
/// routes: into the input channels of nodes of this host, or through the
/// ``Transport`` to another module.
///
/// Every message goes through one preparation (``prepare(_:from:context:hops:)``:
/// its `from`, its hop count, and the deadline and trace of the message being
/// handled), one check of its hop count against the node's flow's limit
/// (``HopLimit``: past it the message is not delivered and the send fails with
/// ``HopLimitExceeded``) and, per route, one rendering
/// (``Route/outgoing(_:)``: the edge's mapping and the `to` address) — for
/// single sends, batches and requests alike.
final class Router: Sendable {
    /// Reaches other modules; without one, edges to them fail.
    let transport: (any Transport)?
    /// Deadline of a request whose message carries none.
    let defaultRequestTimeout: Duration
    /// The host's status watchers, told when a local target received a message
    /// (its input channel counts it).
    let statusChanges: ChangeNotifier
    /// Where durable edges store their messages; without one, sends on them fail.
    let messageStore: (any MessageStore)?

    /// A router that reaches other modules through `transport` and stores the messages of
    /// durable edges in `messageStore`.
    init(
        transport: (any Transport)?, messageStore: (any MessageStore)? = nil, defaultRequestTimeout: Duration,
        statusChanges: ChangeNotifier = ChangeNotifier()
    ) {
        self.transport = transport
        self.messageStore = messageStore
        self.defaultRequestTimeout = defaultRequestTimeout
        self.statusChanges = statusChanges
    }

    /// A message as it leaves `from`: it continues the chain of the message
    /// being handled (`context`), taking its deadline and trace unless it has
    /// its own, and has made `hops` hops unless it carries more (``HopLimit``).
    @inline(__always)
    static func prepare(_ message: Message, from: PortAddress, context: DeliveryContext?, hops: Int = 0) -> Message {
        var message = message
        prepare(&message, from: from, context: context, hops: hops)
        return message
    }

    /// ``prepare(_:from:context:hops:)`` in place.
    @inline(__always)
    static func prepare(_ message: inout Message, from: PortAddress, context: DeliveryContext?, hops: Int = 0) {
        message.from = from
        message.hops = HopLimit.sent(carried: message.hops, chain: hops)
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
    /// target's reply answers it. `hops` is the chain's count (``HopLimit``);
    /// a message past the node's hop limit goes nowhere: the send throws
    /// ``HopLimitExceeded``, so the message being handled counts as errored and
    /// is reported like any failure (``ModuleRuntime/handlerFailed(_:port:node:error:)``).
    /// `checkingHopLimit: false` is for the one report of such a refusal only.
    ///
    /// The routes are taken once (one lock) and searched without hashing
    /// (``OutputRoutes``); a message with one route is moved, not copied, into
    /// its target's channel, which takes it without suspending while it has room.
    func send(
        _ message: Message, from node: NodeInstance, port: String, hops: Int, checkingHopLimit: Bool = true
    ) async throws {
        let context = DeliveryContext.current
        let table = node.outputRoutes
        let output = table.port(port)
        var message = message
        Self.prepare(&message, from: output?.from ?? PortAddress(node: node.name, port: port), context: context, hops: hops)
        guard let routes = output?.routes, let last = routes.last else {
            node.countSent()
            return
        }
        if checkingHopLimit, message.hops > table.maxHops {
            throw Self.hopLimitExceeded(message, from: node, port: port, limit: table.maxHops)
        }
        node.countSent()
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
    /// ``send(_:from:port:hops:checkingHopLimit:)`` does, so each reply reaches the request. A message
    /// that fails on any route is named in the thrown error; the others were
    /// accepted by every route.
    func send(contentsOf messages: [Message], from node: NodeInstance, port: String, hops: Int) async throws(BatchSendError) {
        guard !messages.isEmpty else { return }
        let context = DeliveryContext.current
        var failures: [BatchSendError.Failure] = []
        if context?.reply != nil {
            for (index, message) in messages.enumerated() {
                do {
                    try await send(message, from: node, port: port, hops: hops)
                } catch {
                    failures.append(BatchSendError.Failure(index: index, messageID: message.id, error: error))
                }
            }
            if !failures.isEmpty { throw BatchSendError(count: messages.count, failures: failures) }
            return
        }
        let table = node.outputRoutes
        let output = table.port(port)
        let from = output?.from ?? PortAddress(node: node.name, port: port)
        var prepared = messages.map { Self.prepare($0, from: from, context: context, hops: hops) }
        // Messages past the hop limit fail (only where they would go somewhere) and are left out;
        // `indicesInBatch` then maps the positions of the others to their places in the batch.
        var indicesInBatch: [Int]?
        if output?.routes.isEmpty == false, prepared.contains(where: { $0.hops > table.maxHops }) {
            var within: [Message] = []
            var withinIndices: [Int] = []
            for (index, message) in prepared.enumerated() {
                if message.hops > table.maxHops {
                    let error = Self.hopLimitExceeded(message, from: node, port: port, limit: table.maxHops)
                    failures.append(BatchSendError.Failure(index: index, messageID: message.id, error: error))
                } else {
                    within.append(message)
                    withinIndices.append(index)
                }
            }
            prepared = within
            indicesInBatch = withinIndices
        }
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
                    indices.append(indicesInBatch?[index] ?? index)
                } catch {
                    failures.append(BatchSendError.Failure(
                        index: indicesInBatch?[index] ?? index, messageID: message.id, error: error))
                }
            }
            // A durable route stores whether or not its target runs anywhere now (see ``deliver(_:along:reply:)``).
            if let durable = route.durable {
                do {
                    try await store(outgoing, along: durable, sender: node.name)
                } catch {
                    for index in indices {
                        failures.append(BatchSendError.Failure(index: index, messageID: messages[index].id, error: error))
                    }
                }
                continue
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
    /// A request past the hop limit fails with ``HopLimitExceeded`` at once.
    func request(_ message: Message, from node: NodeInstance, port: String, hops: Int) async throws -> JSONValue {
        let current = DeliveryContext.current
        var message = message
        let deadline = requestDeadline(of: message, context: current)
        message.deadline = deadline
        let slot = ReplySlot()
        let context = DeliveryContext(reply: slot, deadline: deadline, traceparent: message.traceparent ?? current?.traceparent)
        try await DeliveryContext.$current.withValue(context) {
            try await send(message, from: node, port: port, hops: hops)
        }
        return try await slot.wait(until: deadline, requestID: message.id)
    }

    /// The error of a message past the sending node's hop limit.
    @inline(never)
    static func hopLimitExceeded(_ message: Message, from node: NodeInstance, port: String, limit: Int) -> HopLimitExceeded {
        HopLimitExceeded(
            messageID: message.id, hops: message.hops, limit: limit, flow: node.context.flow,
            from: message.from ?? PortAddress(node: node.name, port: port))
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
        // A durable edge's queue is named by the edge alone, and a stored message waits for its
        // target: one that runs nowhere now (its module has not reported its components yet, or
        // its spec is being fixed) is no reason to refuse it. (The operator schedules no node
        // whose edge names a node that does not exist.)
        if let durable = route.durable {
            // A request's reply path lives in memory: it cannot wait in a store.
            if reply != nil { throw DeliveryError.requestOnDurableEdge(to: route.address) }
            let sender = message.from?.node ?? ""
            try await store(CollectionOfOne(message), along: durable, sender: sender)
            return
        }
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
/// Two references and the hop count of the chain, so it fits an existential's
/// inline buffer (three words): handing it to `handle` allocates nothing.
struct NodeOutput: Output {
    let node: NodeInstance
    let router: Router
    /// The hops of what is sent through it: the handled message's + 1 in a
    /// handler, 0 outside one (``HopLimit``). A third word still fits the inline buffer.
    let hops: Int

    func send(_ port: String, _ message: Message) async throws {
        try await router.send(message, from: node, port: port, hops: hops)
    }

    func send(_ port: String, contentsOf messages: [Message]) async throws(BatchSendError) {
        try await router.send(contentsOf: messages, from: node, port: port, hops: hops)
    }

    func request(_ port: String, _ message: Message) async throws -> JSONValue {
        try await router.request(message, from: node, port: port, hops: hops)
    }

    func reply(_ payload: JSONValue) async throws {
        guard let slot = DeliveryContext.current?.reply else {
            throw RequestError.noPendingRequest(node: node.name)
        }
        slot.succeed(payload)
    }
}
