import DequeModule

/// The whole state of a ``BoundedChannel``, with no locks and no I/O.
///
/// `BoundedChannelStorage` holds it inside a `Mutex` and turns the actions it returns into
/// continuation resumptions *after* releasing the lock. The machine is generic over the
/// tokens that stand for a suspended producer and a suspended consumer so tests can drive
/// it with plain values, without tasks or continuations.
///
/// Invariants (the unit tests check them with `checkInvariants()` after every step):
/// - `buffer.count <= capacity`: the channel never holds more than its capacity; a producer
///   that does not fit waits in `suspendedProducers`, holding its own elements.
/// - A producer is in `suspendedProducers` only while it has elements left to hand over, and
///   the queue is FIFO: elements enter `buffer` in the order the producers suspended, and a
///   producer's own elements in the order it sent them.
/// - `waitingConsumer != nil` only while `buffer` is empty and the channel is not finished:
///   the consumer is woken only on the empty → non-empty transition (or by `finish`).
/// - Once finished, no element enters `buffer` and no producer suspends.
@usableFromInline
struct BoundedChannelStateMachine<Element, Producer, Consumer> {
    /// A producer waiting for room, with the elements it has not handed over yet.
    @usableFromInline
    struct SuspendedProducer {
        @usableFromInline let id: UInt64
        @usableFromInline var pending: ArraySlice<Element>
        @usableFromInline let token: Producer

        @inlinable
        init(id: UInt64, pending: ArraySlice<Element>, token: Producer) {
            self.id = id
            self.pending = pending
            self.token = token
        }
    }

    /// Elements accepted and not yet taken by the consumer; never more than `capacity`.
    @usableFromInline private(set) var buffer: Deque<Element>
    /// The most elements `buffer` holds.
    @usableFromInline let capacity: Int
    /// Suspended producers are handed room only once the consumer has drained `buffer` to
    /// this many elements or fewer, so they are resumed in bulk instead of one wake-up per
    /// freed slot.
    @usableFromInline let lowWatermark: Int
    @usableFromInline private(set) var suspendedProducers: Deque<SuspendedProducer> = []
    @usableFromInline private(set) var waitingConsumer: Consumer?
    @usableFromInline private(set) var isFinished = false
    /// How many elements the channel accepted since it was made (those handed over by
    /// suspended producers when they were let in).
    @usableFromInline private(set) var acceptedCount = 0
    @usableFromInline var nextProducerID: UInt64 = 0

    @usableFromInline
    init(capacity: Int, lowWatermark: Int) {
        precondition(capacity > 0, "a BoundedChannel needs a capacity of at least 1")
        precondition(
            (0..<capacity).contains(lowWatermark),
            "lowWatermark must be at least 0 and below the capacity"
        )
        self.capacity = capacity
        self.lowWatermark = lowWatermark
        self.buffer = Deque()
    }

    /// The number of elements the channel holds (not counting those of suspended producers).
    @inlinable var count: Int { buffer.count }

    // MARK: Sending

    /// What `send(_:)` must do after the state changed.
    @usableFromInline
    enum SendAction {
        /// The element is in the buffer; resume the consumer if one is given (it was waiting
        /// on an empty channel).
        case enqueued(wake: Consumer?)
        /// No room (or other producers are already waiting): suspend under the given id, or
        /// report full for `trySend`.
        case full(producerID: UInt64)
        /// The channel is finished; the element was not accepted.
        case finished
    }

    /// Offers one element without suspending.
    @inlinable
    mutating func send(_ element: Element) -> SendAction {
        if isFinished { return .finished }
        guard suspendedProducers.isEmpty, buffer.count < capacity else {
            return .full(producerID: makeProducerID())
        }
        buffer.append(element)
        acceptedCount &+= 1
        return .enqueued(wake: takeWaitingConsumer())
    }

    /// Offers a batch without suspending: moves the prefix that fits out of `elements`.
    ///
    /// Returns `.enqueued` when all of them were accepted, `.full` when some are left in
    /// `elements` (the caller suspends with them), `.finished` when none was accepted. `wake`
    /// is the consumer to resume because the accepted prefix made the channel non-empty
    /// (with `.enqueued` it is also in the action).
    @inlinable
    mutating func send(
        contentsOf elements: inout ArraySlice<Element>
    ) -> (action: SendAction, wake: Consumer?) {
        if isFinished { return (.finished, nil) }
        let wake = enqueuePrefix(of: &elements)
        if elements.isEmpty { return (.enqueued(wake: wake), nil) }
        return (.full(producerID: makeProducerID()), wake)
    }

    /// What a producer that is about to suspend must do.
    @usableFromInline
    enum SuspendProducerAction {
        /// It is queued; it will be resumed by the consumer, `finish` or its cancellation.
        /// Resume the consumer if one is given (a prefix of the elements was accepted into an
        /// empty channel).
        case suspended(wake: Consumer?)
        /// Resume it right away with this outcome, and resume the consumer if one is given.
        case resume(ProducerOutcome<Element>, wake: Consumer?)
    }

    /// Queues a producer that found no room, unless the state changed since it looked.
    ///
    /// `isCancelled` is the task's cancellation flag read under the same lock: a task
    /// cancelled before it got here is not queued, and one cancelled afterwards finds its
    /// entry through `cancelProducer(id:)`.
    @inlinable
    mutating func suspendProducer(
        id: UInt64,
        pending: ArraySlice<Element>,
        token: Producer,
        isCancelled: Bool
    ) -> SuspendProducerAction {
        if isFinished { return .resume(.finished(unsent: pending), wake: nil) }
        var pending = pending
        let wake = enqueuePrefix(of: &pending)
        if pending.isEmpty { return .resume(.accepted, wake: wake) }
        if isCancelled { return .resume(.cancelled(unsent: pending), wake: wake) }
        suspendedProducers.append(SuspendedProducer(id: id, pending: pending, token: token))
        return .suspended(wake: wake)
    }

    /// Removes a suspended producer whose task was cancelled.
    ///
    /// Returns its token and the elements it had not handed over, or `nil` if it is no longer
    /// suspended (it was resumed already, or never queued).
    @inlinable
    mutating func cancelProducer(id: UInt64) -> (token: Producer, unsent: ArraySlice<Element>)? {
        guard let index = suspendedProducers.firstIndex(where: { $0.id == id }) else { return nil }
        let producer = suspendedProducers.remove(at: index)
        return (producer.token, producer.pending)
    }

    // MARK: Receiving

    /// What `receive` must do.
    @usableFromInline
    enum ReceiveAction {
        /// Elements were appended to the batch; resume these producers (all their elements
        /// were accepted) with `.accepted`.
        case received(resume: [Producer])
        /// The channel is finished and drained: the sequence ends.
        case finished
        /// Nothing to take: suspend the consumer.
        case empty
    }

    /// Moves up to `maxCount` elements into `batch` in one step, then, if the buffer is at or
    /// below the low watermark, hands the freed room to suspended producers in FIFO order.
    @inlinable
    mutating func receive(into batch: inout [Element], upTo maxCount: Int) -> ReceiveAction {
        precondition(maxCount > 0, "receive needs room for at least one element")
        if buffer.isEmpty {
            // Room is handed to suspended producers whenever a receive leaves the buffer at or
            // below the low watermark, so an empty buffer has no producer waiting behind it.
            assert(suspendedProducers.isEmpty)
            return isFinished ? .finished : .empty
        }
        let taken = Swift.min(maxCount, buffer.count)
        if !_isPOD(Element.self) {
            // Move each element out: copying them, then destroying the originals, would
            // retain and release every reference they hold while the lock is held.
            if batch.capacity - batch.count < taken {
                batch.reserveCapacity(Swift.max(batch.count + taken, 2 * batch.capacity))
            }
            for _ in 0..<taken { batch.append(buffer.removeFirst()) }
        } else if taken == buffer.count {
            batch.append(contentsOf: buffer)
            buffer.removeAll(keepingCapacity: true)
        } else {
            batch.append(contentsOf: buffer.prefix(taken))
            buffer.removeFirst(taken)
        }
        guard !suspendedProducers.isEmpty, buffer.count <= lowWatermark else {
            return .received(resume: [])
        }
        return .received(resume: admitSuspendedProducers())
    }

    /// What a consumer that is about to suspend must do.
    @usableFromInline
    enum SuspendConsumerAction: Equatable {
        case suspended
        /// Resume it right away: elements arrived, the channel finished, or its task is cancelled.
        case resumeNow
    }

    /// Parks the consumer until the channel becomes non-empty or is finished.
    @inlinable
    mutating func suspendConsumer(_ token: Consumer, isCancelled: Bool) -> SuspendConsumerAction {
        if !buffer.isEmpty || isFinished || isCancelled {
            return .resumeNow
        }
        precondition(waitingConsumer == nil, "BoundedChannel has a single consumer: two tasks are receiving at once")
        waitingConsumer = token
        return .suspended
    }

    /// Takes the parked consumer out because its task was cancelled.
    @inlinable
    mutating func cancelConsumer() -> Consumer? {
        takeWaitingConsumer()
    }

    // MARK: Finishing

    /// Whom `finish()` resumes.
    @usableFromInline
    struct FinishAction {
        /// The consumer parked on an empty channel: it wakes up and sees the end.
        @usableFromInline var consumer: Consumer?
        /// Suspended producers, each with the elements the channel did not accept.
        @usableFromInline var producers: [(token: Producer, unsent: ArraySlice<Element>)]

        @inlinable
        init(consumer: Consumer?, producers: [(token: Producer, unsent: ArraySlice<Element>)]) {
            self.consumer = consumer
            self.producers = producers
        }
    }

    /// Finishes the channel: no element is accepted after this; the consumer still drains
    /// what the buffer holds. Calling it again does nothing.
    @inlinable
    mutating func finish() -> FinishAction {
        if isFinished { return FinishAction(consumer: nil, producers: []) }
        isFinished = true
        let producers = suspendedProducers.map { (token: $0.token, unsent: $0.pending) }
        suspendedProducers.removeAll()
        return FinishAction(consumer: takeWaitingConsumer(), producers: producers)
    }

    // MARK: Helpers

    @inlinable
    mutating func makeProducerID() -> UInt64 {
        defer { nextProducerID &+= 1 }
        return nextProducerID
    }

    @inlinable
    mutating func takeWaitingConsumer() -> Consumer? {
        guard let consumer = waitingConsumer else { return nil }
        waitingConsumer = nil
        return consumer
    }

    /// Appends the prefix of `elements` that fits, unless producers are already waiting (they
    /// go first); returns the consumer to wake if the buffer was empty.
    @inlinable
    mutating func enqueuePrefix(of elements: inout ArraySlice<Element>) -> Consumer? {
        guard suspendedProducers.isEmpty else { return nil }
        let accepted = Swift.min(capacity - buffer.count, elements.count)
        guard accepted > 0 else { return nil }
        buffer.append(contentsOf: elements.prefix(accepted))
        elements.removeFirst(accepted)
        acceptedCount &+= accepted
        return takeWaitingConsumer()
    }

    /// Moves elements of suspended producers into the free room, FIFO; returns the producers
    /// all of whose elements are now accepted.
    @inlinable
    mutating func admitSuspendedProducers() -> [Producer] {
        var resumed: [Producer] = []
        while buffer.count < capacity, !suspendedProducers.isEmpty {
            let room = capacity - buffer.count
            let moved = Swift.min(room, suspendedProducers[0].pending.count)
            buffer.append(contentsOf: suspendedProducers[0].pending.prefix(moved))
            suspendedProducers[0].pending.removeFirst(moved)
            acceptedCount &+= moved
            if suspendedProducers[0].pending.isEmpty {
                resumed.append(suspendedProducers.removeFirst().token)
            }
        }
        return resumed
    }

    /// Checks the invariants in the type's documentation; the tests call it after every step.
    func checkInvariants() -> Bool {
        buffer.count <= capacity
            && suspendedProducers.allSatisfy { !$0.pending.isEmpty }
            && (waitingConsumer == nil || (buffer.isEmpty && !isFinished))
            && (!isFinished || suspendedProducers.isEmpty)
    }
}

extension BoundedChannelStateMachine: Sendable where Element: Sendable, Producer: Sendable, Consumer: Sendable {}
extension BoundedChannelStateMachine.SuspendedProducer: Sendable where Element: Sendable, Producer: Sendable {}
extension BoundedChannelStateMachine.SendAction: Sendable where Consumer: Sendable {}
extension BoundedChannelStateMachine.SuspendProducerAction: Sendable where Element: Sendable, Consumer: Sendable {}
extension BoundedChannelStateMachine.ReceiveAction: Sendable where Producer: Sendable {}
extension BoundedChannelStateMachine.FinishAction: Sendable where Element: Sendable, Producer: Sendable, Consumer: Sendable {}

/// How a producer that had to suspend ends.
@usableFromInline
enum ProducerOutcome<Element> {
    /// All its elements were accepted.
    case accepted
    /// Its task was cancelled; `unsent` were not accepted (earlier ones were).
    case cancelled(unsent: ArraySlice<Element>)
    /// The channel was finished; `unsent` were not accepted (earlier ones were).
    case finished(unsent: ArraySlice<Element>)
}

extension ProducerOutcome: Sendable where Element: Sendable {}
