public import ComponentKit
public import Foundation

/// A message to store in a queue: what a node sent on a durable edge (mapped and addressed
/// as the edge delivers it), or a dead letter replayed.
///
/// The store orders a queue by the message's `priority` (higher first), then its `deadline`
/// (earliest first, none last), then arrival.
public struct PendingMessage: Sendable, Hashable {
    /// Where it waits.
    public var queue: DurableQueue
    /// The edge it travels.
    public var edge: DurableEdge
    /// The message, addressed to the queue's port.
    public var message: Message
    /// Not handed to a consumer before this instant (`nil`: at once).
    public var availableAt: Date?

    /// Creates a message to store.
    public init(queue: DurableQueue, edge: DurableEdge, message: Message, availableAt: Date? = nil) {
        self.queue = queue
        self.edge = edge
        self.message = message
        self.availableAt = availableAt
    }
}
