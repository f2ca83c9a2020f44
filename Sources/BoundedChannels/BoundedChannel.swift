import Synchronization

/// A bounded queue with many producers and one consumer: in front of every node
/// input port (the module runtime's node channels), and between a watch
/// stream's reader and its consumer.
///
/// A `BoundedChannel` holds at most `capacity` elements. A producer that finds it full is
/// suspended, holding its own elements, until the consumer has drained the channel to its
/// low watermark; so backpressure travels from a slow node back to the source, and memory is
/// bounded by the capacity plus one pending send per producer task.
///
/// - Order: elements of one producer arrive in the order it sent them; producers that had to
///   wait are served first come, first served.
/// - Batches: the consumer takes up to `n` elements per lock acquisition with
///   ``next(into:upTo:)`` or ``next(upTo:)``; producers hand over batches with
///   ``send(contentsOf:)``. The consumer is woken only when the channel goes from empty to
///   non-empty, and waiting producers are resumed together.
/// - End: ``finish()`` refuses further elements (senders get ``BoundedChannelClosedError``) and
///   lets the consumer drain what is queued; then the sequence ends.
/// - Cancellation: a sender cancelled while suspended returns with `CancellationError` and
///   the channel does not take its element; a consumer cancelled while waiting wakes up.
///
/// Only one task may receive at a time (a second concurrent receiver is a programming error
/// and traps). Iterating with `for await` takes elements out in batches of
/// `iteratorBatchSize`: elements the iterator holds belong to the consumer.
public struct BoundedChannel<Element: Sendable>: Sendable {
    @usableFromInline let storage: BoundedChannelStorage<Element>

    /// The most elements the channel holds.
    public let capacity: Int
    /// How many elements `for await` takes out per lock acquisition.
    public let iteratorBatchSize: Int

    /// Creates an empty channel.
    ///
    /// - Parameters:
    ///   - capacity: the most elements the channel holds; at least 1.
    ///   - lowWatermark: suspended producers are let in once the consumer has drained the
    ///     channel to this many elements or fewer; `0..<capacity`, by default half the capacity.
    ///   - iteratorBatchSize: how many elements `for await` takes per lock acquisition; by
    ///     default the capacity, at most 256.
    public init(capacity: Int, lowWatermark: Int? = nil, iteratorBatchSize: Int? = nil) {
        precondition(capacity > 0, "a BoundedChannel needs a capacity of at least 1")
        self.capacity = capacity
        self.iteratorBatchSize = iteratorBatchSize ?? Swift.min(capacity, 256)
        precondition(self.iteratorBatchSize > 0, "iteratorBatchSize must be at least 1")
        self.storage = BoundedChannelStorage(capacity: capacity, lowWatermark: lowWatermark ?? (capacity / 2))
    }

    /// Sends one element, suspending while the channel is full.
    ///
    /// Returns once the channel has accepted the element.
    /// - Throws: `CancellationError` if the task is cancelled while it has to wait (a task
    ///   that is already cancelled does not wait); ``BoundedChannelClosedError`` if the channel
    ///   is or becomes finished. In both cases the channel did not take `element`.
    @inlinable
    public func send(_ element: Element) async throws {
        try await storage.send(element)
    }

    /// Sends a batch in one lock acquisition, suspending while the channel is full.
    ///
    /// Accepts the prefix that fits right away and waits with the rest, so a batch larger
    /// than the capacity still goes through. Returns once every element was accepted.
    /// - Throws: ``BoundedChannelSendError`` with the reason (cancelled or finished) and the
    ///   elements the channel did not take, in order; those before them were accepted.
    @inlinable
    public func send(contentsOf elements: some Sequence<Element>) async throws(BoundedChannelSendError<Element>) {
        try await storage.send(contentsOf: ArraySlice(elements))
    }

    /// Offers one element without suspending.
    ///
    /// Returns ``BoundedChannelTrySendResult/full`` when the channel has no room (or other
    /// producers are waiting for room): the channel did not take `element`.
    @inlinable
    public func trySend(_ element: Element) -> BoundedChannelTrySendResult {
        storage.trySend(element)
    }

    /// Takes up to `maxCount` elements in one lock acquisition and appends them to `batch`,
    /// waiting while the channel is empty.
    ///
    /// Returns `false`, appending nothing, once the channel is finished and drained.
    /// - Throws: `CancellationError` if the task is cancelled while the channel is empty.
    @inlinable
    public func next(into batch: inout [Element], upTo maxCount: Int) async throws(CancellationError) -> Bool {
        try await storage.receive(into: &batch, upTo: maxCount)
    }

    /// Takes up to `maxCount` elements in one lock acquisition, waiting while the channel is
    /// empty; returns an empty array once the channel is finished and drained.
    /// - Throws: `CancellationError` if the task is cancelled while the channel is empty.
    @inlinable
    public func next(upTo maxCount: Int) async throws(CancellationError) -> [Element] {
        var batch: [Element] = []
        batch.reserveCapacity(Swift.min(maxCount, capacity))
        _ = try await storage.receive(into: &batch, upTo: maxCount)
        return batch
    }

    /// Refuses further elements and wakes the consumer and every waiting producer.
    ///
    /// The consumer still receives what the channel holds, then the sequence ends. Waiting
    /// producers throw ``BoundedChannelClosedError`` (or ``BoundedChannelSendError`` with reason
    /// `.finished`). Calling it again does nothing.
    public func finish() {
        storage.finish()
    }

    /// The number of elements the channel holds now (a snapshot, for metrics and tests).
    public var count: Int { storage.count }

    /// How many elements the channel accepted since it was made: sent elements it took,
    /// including those of producers that waited for room, once let in. Kept under the
    /// channel's lock, so counting costs a sender nothing more.
    public var acceptedCount: Int { storage.state.withLock { $0.acceptedCount } }

    /// Whether ``finish()`` was called.
    public var isFinished: Bool { storage.isFinished }

    /// How many producers are suspended waiting for room (for tests and metrics).
    var suspendedProducerCount: Int { storage.state.withLock { $0.suspendedProducers.count } }

    /// Whether the consumer is parked on the empty channel (for tests).
    var hasWaitingConsumer: Bool { storage.state.withLock { $0.waitingConsumer != nil } }
}

extension BoundedChannel: AsyncSequence {
    /// Iteration does not throw: cancellation ends it like the end of the channel.
    public typealias Failure = Never

    /// Iterates the channel's elements, taking them out in batches.
    ///
    /// `next()` returns `nil` once the channel is finished and drained, or when the task is
    /// cancelled while the channel is empty (the channel stays open; what it holds stays in it).
    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Failure = Never

        @usableFromInline let storage: BoundedChannelStorage<Element>
        @usableFromInline let batchSize: Int
        @usableFromInline var batch: [Element] = []
        @usableFromInline var index = 0

        @inlinable
        init(storage: BoundedChannelStorage<Element>, batchSize: Int) {
            self.storage = storage
            self.batchSize = batchSize
            batch.reserveCapacity(batchSize)
        }

        /// The next element, or `nil` at the end of the channel or on cancellation.
        ///
        /// Runs on the caller's actor: taking an element from the current batch never hops.
        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async -> Element? {
            if index < batch.count {
                defer { index += 1 }
                return batch[index]
            }
            batch.removeAll(keepingCapacity: true)
            index = 0
            guard (try? await storage.receive(into: &batch, upTo: batchSize)) == true else { return nil }
            index = 1
            return batch[0]
        }

        /// The next element, or `nil` at the end of the channel or on cancellation.
        @inlinable
        public mutating func next() async -> Element? {
            await next(isolation: nil)
        }
    }

    /// Creates the iterator; only one may be in use at a time.
    @inlinable
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(storage: storage, batchSize: iteratorBatchSize)
    }
}

/// What ``BoundedChannel/trySend(_:)`` did.
public enum BoundedChannelTrySendResult: Sendable, Hashable {
    /// The channel took the element.
    case enqueued
    /// The channel has no room (or producers are waiting for room); it did not take the element.
    case full
    /// The channel is finished; it did not take the element.
    case finished
}

/// Thrown by ``BoundedChannel/send(_:)`` when the channel is finished: the element was not taken.
public struct BoundedChannelClosedError: Error, Hashable, CustomStringConvertible {
    public init() {}
    public var description: String { "the node channel is finished and accepts no more elements" }
}

/// Thrown by ``BoundedChannel/send(contentsOf:)`` when not every element was accepted.
public struct BoundedChannelSendError<Element: Sendable>: Error {
    /// Why the send stopped.
    public enum Reason: Sendable, Hashable {
        /// The sending task was cancelled while it waited for room.
        case cancelled
        /// The channel was finished.
        case finished
    }

    /// Why the send stopped.
    public let reason: Reason
    /// The elements the channel did not take, in the order they were given; every element
    /// before them was accepted.
    public let unsent: [Element]

    @usableFromInline
    init(reason: Reason, unsent: [Element]) {
        self.reason = reason
        self.unsent = unsent
    }
}
