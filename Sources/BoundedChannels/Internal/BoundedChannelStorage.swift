import Synchronization

/// The lock and the continuations behind a ``BoundedChannel``.
///
/// Every operation takes the lock once on its fast path, asks the state machine what to do,
/// and resumes continuations only after the lock is released. A producer or consumer
/// allocates a continuation only when it has to suspend.
@usableFromInline
final class BoundedChannelStorage<Element: Sendable>: Sendable {
    @usableFromInline typealias ProducerContinuation = UnsafeContinuation<ProducerOutcome<Element>, Never>
    @usableFromInline typealias ConsumerContinuation = UnsafeContinuation<Void, Never>
    @usableFromInline typealias Machine = BoundedChannelStateMachine<Element, ProducerContinuation, ConsumerContinuation>

    @usableFromInline let state: Mutex<Machine>

    @usableFromInline
    init(capacity: Int, lowWatermark: Int) {
        self.state = Mutex(Machine(capacity: capacity, lowWatermark: lowWatermark))
    }

    // MARK: Sending

    @inlinable
    func send(_ element: Element) async throws {
        switch state.withLock({ $0.send(element) }) {
        case .enqueued(let wake):
            wake?.resume()
        case .finished:
            throw BoundedChannelClosedError()
        case .full(let producerID):
            switch await suspendProducer(id: producerID, pending: [element][...]) {
            case .accepted: return
            case .cancelled: throw CancellationError()
            case .finished: throw BoundedChannelClosedError()
            }
        }
    }

    @inlinable
    func send(contentsOf elements: ArraySlice<Element>) async throws(BoundedChannelSendError<Element>) {
        var pending = elements
        let (action, wakeOnFull) = state.withLock { $0.send(contentsOf: &pending) }
        switch action {
        case .enqueued(let wake):
            wake?.resume()
        case .finished:
            throw BoundedChannelSendError(reason: .finished, unsent: Array(pending))
        case .full(let producerID):
            wakeOnFull?.resume()
            switch await suspendProducer(id: producerID, pending: pending) {
            case .accepted: return
            case .cancelled(let unsent): throw BoundedChannelSendError(reason: .cancelled, unsent: Array(unsent))
            case .finished(let unsent): throw BoundedChannelSendError(reason: .finished, unsent: Array(unsent))
            }
        }
    }

    @inlinable
    func trySend(_ element: Element) -> BoundedChannelTrySendResult {
        switch state.withLock({ $0.send(element) }) {
        case .enqueued(let wake):
            wake?.resume()
            return .enqueued
        case .full:
            return .full
        case .finished:
            return .finished
        }
    }

    /// The slow path: parks the producer with the elements it could not hand over.
    @usableFromInline
    func suspendProducer(id: UInt64, pending: ArraySlice<Element>) async -> ProducerOutcome<Element> {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: ProducerContinuation) in
                let action = state.withLock {
                    $0.suspendProducer(id: id, pending: pending, token: continuation, isCancelled: Task.isCancelled)
                }
                switch action {
                case .suspended(let wake):
                    wake?.resume()
                case .resume(let outcome, let wake):
                    wake?.resume()
                    continuation.resume(returning: outcome)
                }
            }
        } onCancel: {
            if let (continuation, unsent) = state.withLock({ $0.cancelProducer(id: id) }) {
                continuation.resume(returning: .cancelled(unsent: unsent))
            }
        }
    }

    // MARK: Receiving

    /// Appends up to `maxCount` elements to `batch`; returns `false` when the channel is
    /// finished and drained.
    @inlinable
    func receive(into batch: inout [Element], upTo maxCount: Int) async throws(CancellationError) -> Bool {
        while true {
            switch state.withLock({ $0.receive(into: &batch, upTo: maxCount) }) {
            case .received(let producers):
                for producer in producers { producer.resume(returning: .accepted) }
                return true
            case .finished:
                return false
            case .empty:
                if Task.isCancelled { throw CancellationError() }
                await waitUntilNotEmpty()
            }
        }
    }

    /// The slow path: parks the consumer until an element arrives, the channel finishes or the
    /// task is cancelled.
    @usableFromInline
    func waitUntilNotEmpty() async {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: ConsumerContinuation) in
                let action = state.withLock { $0.suspendConsumer(continuation, isCancelled: Task.isCancelled) }
                if action == .resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.cancelConsumer() }?.resume()
        }
    }

    // MARK: Finishing

    @usableFromInline
    func finish() {
        let action = state.withLock { $0.finish() }
        action.consumer?.resume()
        for (producer, unsent) in action.producers {
            producer.resume(returning: .finished(unsent: unsent))
        }
    }

    @usableFromInline
    var count: Int { state.withLock { $0.count } }

    @usableFromInline
    var isFinished: Bool { state.withLock { $0.isFinished } }
}

