public import ComponentKit
public import Foundation

/// A stored message that will not be delivered: its deadline passed, it failed as many
/// times as its edge's retry policy allows, or its failure cannot be retried. It stays in
/// the store until replayed or purged (`tinyflow dlq`).
public struct DeadLetter: Sendable, Hashable, Codable {
    /// Why a message was dead-lettered.
    public enum Reason: String, Sendable, Hashable, Codable, CaseIterable {
        /// Its deadline passed before a handler succeeded.
        case expired
        /// It failed on every attempt its edge's retry policy allows.
        case attemptsExhausted
        /// It failed with an error that is never retried.
        case nonRetryable
    }

    /// The dead letter's id (the stored message's).
    public var id: Int64
    /// The queue it waited in.
    public var queue: DurableQueue
    /// The edge it travelled.
    public var edge: DurableEdge
    /// The message.
    public var message: Message
    /// Deliveries made.
    public var attempts: Int
    /// Why it was dead-lettered.
    public var reason: Reason
    /// The last attempt's error, or what expired.
    public var lastError: String
    /// When it was first stored.
    public var enqueuedAt: Date
    /// When it was dead-lettered.
    public var deadLetteredAt: Date

    /// Creates a dead letter.
    public init(
        id: Int64, queue: DurableQueue, edge: DurableEdge, message: Message, attempts: Int, reason: Reason,
        lastError: String, enqueuedAt: Date, deadLetteredAt: Date
    ) {
        self.id = id
        self.queue = queue
        self.edge = edge
        self.message = message
        self.attempts = attempts
        self.reason = reason
        self.lastError = lastError
        self.enqueuedAt = enqueuedAt
        self.deadLetteredAt = deadLetteredAt
    }
}

/// Which dead letters of a namespace an operation concerns: all, a flow's nodes', a node's,
/// or given ids (every given criterion must hold).
public struct DeadLetterFilter: Sendable, Hashable {
    /// The namespace.
    public var namespace: String
    /// Only dead letters whose queue's node is one of these (a flow's nodes), if given.
    public var nodes: Set<String>?
    /// Only these ids, if given.
    public var ids: Set<Int64>?

    /// Creates a filter.
    public init(namespace: String, nodes: Set<String>? = nil, ids: Set<Int64>? = nil) {
        self.namespace = namespace
        self.nodes = nodes
        self.ids = ids
    }
}
