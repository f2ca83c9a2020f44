public import ComponentKit
public import Foundation

/// The claim a consumer holds on one stored message until it settles it or the lease expires.
///
/// Each claim of a message gets a new `token`: a consumer whose lease expired (and whose
/// message another consumer claimed since) can no longer settle it.
public struct Lease: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The stored message's id: unique in the store, increasing in arrival order.
    public var id: Int64
    /// This claim's token.
    public var token: Int64

    /// Creates a lease.
    public init(id: Int64, token: Int64) {
        self.id = id
        self.token = token
    }

    /// `42#3`.
    public var description: String { "\(id)#\(token)" }
}

/// A stored message a consumer claimed: it is invisible to other consumers until its lease
/// expires, and done once settled (``Settlement``).
public struct LeasedMessage: Sendable, Hashable {
    /// The claim.
    public var lease: Lease
    /// Where it waited.
    public var queue: DurableQueue
    /// The edge it travelled.
    public var edge: DurableEdge
    /// The message.
    public var message: Message
    /// Deliveries so far, this one included (1 on the first).
    public var attempts: Int
    /// When it was first stored.
    public var enqueuedAt: Date
    /// The error of the last failed attempt, if any.
    public var lastError: String?
    /// When the lease ends unless extended or settled.
    public var leaseExpiresAt: Date

    /// Creates a leased message.
    public init(
        lease: Lease, queue: DurableQueue, edge: DurableEdge, message: Message, attempts: Int, enqueuedAt: Date,
        lastError: String? = nil, leaseExpiresAt: Date
    ) {
        self.lease = lease
        self.queue = queue
        self.edge = edge
        self.message = message
        self.attempts = attempts
        self.enqueuedAt = enqueuedAt
        self.lastError = lastError
        self.leaseExpiresAt = leaseExpiresAt
    }
}

/// What a claim returned: the messages to handle, and those whose deadline had passed, which
/// the claim dead-lettered instead of handing them out (they are never handled).
public struct Claim: Sendable, Hashable {
    /// The messages to handle, in the queue's order.
    public var messages: [LeasedMessage]
    /// Messages dead-lettered by this claim because their deadline passed.
    public var expired: [DeadLetter]

    /// Creates a claim's result.
    public init(messages: [LeasedMessage] = [], expired: [DeadLetter] = []) {
        self.messages = messages
        self.expired = expired
    }
}
