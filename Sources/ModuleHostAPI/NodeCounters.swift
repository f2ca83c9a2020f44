import Foundation

/// Message counters of one node. Invariant once a node is idle:
/// `received == delivered + errored + expired + dropped`.
public struct NodeCounters: Codable, Sendable, Hashable {
    /// Messages accepted into the node's input channels.
    public var received = 0
    /// Messages a handler completed.
    public var delivered = 0
    /// Messages whose handler threw (after retries).
    public var errored = 0
    /// Messages not delivered because their deadline had passed.
    public var expired = 0
    /// Messages the node's input channels still held when it was stopped and its stop
    /// timeout had passed: never handled (absent while there were none).
    public var dropped: Int?
    /// Messages the node sent from output ports.
    public var sent = 0
    /// When a handler last completed.
    public var lastMessageTime: Date?
    /// Messages waiting in the node's input channels now (absent from hosts that do not say).
    public var queued: Int?
    /// How many messages its input channels hold at most, together: `queued` at this is a
    /// full channel, whose senders wait (backpressure).
    public var queueCapacity: Int?
    /// Messages stored for the node's durable input ports, waiting or being handled (absent
    /// without durable inputs).
    public var backlog: Int?
    /// Durable messages handed to the node again after a failed attempt or a lost lease.
    public var redelivered: Int?
    /// Durable messages for the node that were dead-lettered.
    public var deadLettered: Int?

    /// Creates counters.
    public init(received: Int = 0, delivered: Int = 0, errored: Int = 0, expired: Int = 0, sent: Int = 0) {
        self.received = received
        self.delivered = delivered
        self.errored = errored
        self.expired = expired
        self.sent = sent
    }

    /// These counters going on from `earlier` (a replaced instance's): every count is the
    /// sum; what describes now (queued, capacity, backlog) and the last message time are these.
    public func continuing(_ earlier: NodeCounters) -> NodeCounters {
        var sum = self
        sum.received += earlier.received
        sum.delivered += earlier.delivered
        sum.errored += earlier.errored
        sum.expired += earlier.expired
        sum.sent += earlier.sent
        func add(_ a: Int?, _ b: Int?) -> Int? { a == nil && b == nil ? nil : (a ?? 0) + (b ?? 0) }
        sum.dropped = add(dropped, earlier.dropped)
        sum.redelivered = add(redelivered, earlier.redelivered)
        sum.deadLettered = add(deadLettered, earlier.deadLettered)
        sum.lastMessageTime = lastMessageTime ?? earlier.lastMessageTime
        return sum
    }

    /// Whether every received message was accounted for.
    public var isBalanced: Bool { received == delivered + errored + expired + (dropped ?? 0) }
}
