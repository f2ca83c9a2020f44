public import ContextStoreAPI
public import Foundation

/// What becomes of claimed messages, committed as one transaction: acknowledged, released
/// for a later attempt or dead-lettered; with the messages their handlers sent on durable
/// edges and the context writes they made. Either all of it happens or none of it: that is
/// what makes a handler's effects on context and durable edges exactly-once.
public struct Settlement: Sendable, Hashable {
    /// A message released for another attempt.
    public struct Retry: Sendable, Hashable {
        /// The claim.
        public var lease: Lease
        /// Not handed out again before this instant.
        public var availableAt: Date
        /// Why the attempt failed (kept as the message's last error).
        public var error: String
        /// Whether the failed attempt counts against the message's attempts. It does not when
        /// the failure was not the message's (its stores were unavailable): the next claim
        /// hands it out with the attempt count it had.
        public var countsAsAttempt: Bool

        /// Creates a retry.
        public init(lease: Lease, availableAt: Date, error: String, countsAsAttempt: Bool = true) {
            self.lease = lease
            self.availableAt = availableAt
            self.error = error
            self.countsAsAttempt = countsAsAttempt
        }
    }

    /// A message that will not be delivered.
    public struct Rejection: Sendable, Hashable {
        /// The claim.
        public var lease: Lease
        /// Why.
        public var reason: DeadLetter.Reason
        /// The last attempt's error.
        public var error: String

        /// Creates a rejection.
        public init(lease: Lease, reason: DeadLetter.Reason, error: String) {
            self.lease = lease
            self.reason = reason
            self.error = error
        }
    }

    /// Messages handled: removed from their queues.
    public var acknowledged: [Lease]
    /// Messages to attempt again later.
    public var retried: [Retry]
    /// Messages to dead-letter.
    public var deadLettered: [Rejection]
    /// Messages the handlers sent on durable edges.
    public var enqueued: [PendingMessage]
    /// The handlers' context writes, in order, with the versions they read.
    public var contextMutations: [ContextMutation]

    /// Creates a settlement.
    public init(
        acknowledged: [Lease] = [], retried: [Retry] = [], deadLettered: [Rejection] = [],
        enqueued: [PendingMessage] = [], contextMutations: [ContextMutation] = []
    ) {
        self.acknowledged = acknowledged
        self.retried = retried
        self.deadLettered = deadLettered
        self.enqueued = enqueued
        self.contextMutations = contextMutations
    }

    /// Whether it changes nothing.
    public var isEmpty: Bool {
        acknowledged.isEmpty && retried.isEmpty && deadLettered.isEmpty && enqueued.isEmpty && contextMutations.isEmpty
    }

    /// Every lease it settles.
    public var leases: [Lease] { acknowledged + retried.map(\.lease) + deadLettered.map(\.lease) }
}
