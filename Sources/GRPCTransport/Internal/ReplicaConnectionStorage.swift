import AsyncPrimitives
import Foundation
import Synchronization

/// The lock and the continuations of one replica connection.
///
/// Every operation takes the lock once, asks the ``ReplicaConnectionStateMachine``
/// what to do and resumes continuations only after the lock is released. The
/// stream code (``ReplicaConnection``) drives the stream's side through it:
/// frames for the writer, acks from the reader, the stream's start and end, and
/// the deadline timer.
final class ReplicaConnectionStorage: Sendable {
    /// A lone sender. Unchecked for speed (no canary allocation per message).
    /// Invariant: a sender's continuation is resumed only by whoever took its entry
    /// out of the machine's `pending` under the lock (or by the sender itself when
    /// the machine refused to queue it), so exactly once.
    typealias SenderContinuation = UnsafeContinuation<DeliveryOutcome, any Error>
    /// A batch. Unchecked for speed. Invariant: resumed only by whoever settled the
    /// batch's last member (so removed the waiter from the machine's `batches`) under
    /// the lock, or by the sender itself when the machine refused the batch.
    typealias BatchContinuation = UnsafeContinuation<[BatchMemberFailure], Never>
    typealias WriterContinuation = CheckedContinuation<Void, Never>
    typealias Machine = ReplicaConnectionStateMachine<SenderContinuation, BatchContinuation, WriterContinuation>

    private let state: Mutex<Machine>
    /// Mirrors the machine's phase (``ReplicaPhase/code``) for lock-free reads on the send path.
    private let phaseCode = Atomic<UInt8>(0)
    private let sequences = Atomic<UInt64>(0)
    /// Told when a message's deadline is earlier than every other in flight: the expiry timer re-arms.
    let deadlineChanges = ChangeNotifier()

    private let limits: ReplicaLimits

    /// At most this many times a writer woken by a message into an empty outbox yields
    /// before it takes the frame (see ``nextFrame(epoch:)``).
    static let coalescingYields = 8
    /// The longest a woken writer keeps yielding.
    static let maximumCoalescingDelay = Duration.microseconds(200)

    init(limits: ReplicaLimits) {
        self.limits = limits
        state = Mutex(Machine(limits: limits))
    }

    var phase: ReplicaPhase { state.withLock { $0.phase } }

    /// Whether a stream is open (`true`), opening (`false`) or neither (`nil`), without locking.
    var isReady: Bool? {
        switch phaseCode.load(ordering: .acquiring) {
        case 0: false
        case 1: true
        default: nil
        }
    }

    /// Messages queued or awaiting an ack.
    var inFlight: Int { state.withLock { $0.inFlight } }

    /// Messages in the outbox, not yet taken by the writer.
    var queuedMessages: Int { state.withLock { $0.queuedMessages } }

    // MARK: Sending

    /// Queues an encoded message body and returns the remote outcome.
    func submit(kind: DeliveryKind, body: ArraySlice<UInt8>, deadline: Date?) async throws -> DeliveryOutcome {
        let sequence = sequences.wrappingAdd(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: SenderContinuation) in
                let action = state.withLock {
                    $0.submit(
                        sequence: sequence, kind: kind, body: body, deadline: deadline, sender: continuation,
                        isCancelled: Task.isCancelled)
                }
                switch action {
                case .queued(let writer, let earlierDeadline):
                    writer?.resume()
                    if earlierDeadline { deadlineChanges.notify() }
                case .fail(.cancelled):
                    continuation.resume(throwing: CancellationError())
                case .fail(let failure):
                    continuation.resume(throwing: failure)
                }
            }
        } onCancel: {
            resume(state.withLock { $0.cancel(first: sequence, count: 1) })
        }
    }

    /// Queues the encoded bodies of a batch of one-way messages, in order, under
    /// one lock acquisition, and waits once until every one was acked or failed.
    /// Returns the members that were not accepted, by ascending offset.
    func submitBatch(bodies: EncodedBodies, deadlines: [Date?]) async -> [BatchMemberFailure] {
        let count = bodies.count
        guard count > 0 else { return [] }
        let first = sequences.wrappingAdd(UInt64(count), ordering: .relaxed).newValue &- UInt64(count) &+ 1
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: BatchContinuation) in
                let action = state.withLock {
                    $0.submitBatch(
                        first: first, bodies: bodies, deadlines: deadlines, waiter: continuation,
                        isCancelled: Task.isCancelled)
                }
                switch action {
                case .queued(let writer, let earlierDeadline):
                    writer?.resume()
                    if earlierDeadline { deadlineChanges.notify() }
                case .fail(let failure):
                    continuation.resume(returning: (0..<count).map { BatchMemberFailure(offset: $0, reason: failure) })
                }
            }
        } onCancel: {
            resume(state.withLock { $0.cancel(first: first, count: count) })
        }
    }

    // MARK: The stream's side

    /// Starts a stream attempt; its epoch, or `nil` once the connection is closed.
    func connect() -> UInt64? {
        state.withLock { machine in
            defer { phaseCode.store(machine.phase.code, ordering: .releasing) }
            return machine.connect()
        }
    }

    /// The remote host answered the stream of `epoch`.
    func streamOpened(epoch: UInt64) {
        state.withLock { machine in
            machine.streamOpened(epoch: epoch)
            phaseCode.store(machine.phase.code, ordering: .releasing)
        }
    }

    /// The next frame for the writer of `epoch`, or `nil` when that stream should end.
    /// Parks while the outbox is empty; nothing runs while nothing is sent.
    ///
    /// Single sends coalesce: a writer woken by a message into the empty outbox first
    /// lets the other senders that are ready to run append theirs (typically those that
    /// the last acks resumed). It yields while the outbox keeps growing and its frame is
    /// not full, at most ``coalescingYields`` times and for at most
    /// ``maximumCoalescingDelay``; a lone message waits one yield. No timer is involved.
    func nextFrame(epoch: UInt64) async -> EncodedBatch? {
        var woken = false
        while true {
            if woken { await letSendersCatchUp() }
            switch state.withLock({ $0.nextFrame(epoch: epoch) }) {
            case .write(let frame): return frame
            case .end: return nil
            case .wait: break
            }
            if Task.isCancelled { return nil }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: WriterContinuation) in
                    let parked = state.withLock {
                        $0.parkWriter(continuation, epoch: epoch, isCancelled: Task.isCancelled)
                    }
                    if !parked { continuation.resume() }
                }
            } onCancel: {
                state.withLock { $0.takeWriter() }?.resume()
            }
            woken = true
        }
    }

    /// Yields while other senders keep appending to the outbox (see ``nextFrame(epoch:)``).
    private func letSendersCatchUp() async {
        let clock = ContinuousClock()
        let start = clock.now
        var queued = queuedMessages
        for _ in 0..<Self.coalescingYields {
            // A full frame goes at once; so does one that stopped growing.
            guard queued < limits.maximumBatchMessages else { return }
            await Task.yield()
            let now = queuedMessages
            if now <= queued || clock.now - start >= Self.maximumCoalescingDelay { return }
            queued = now
        }
    }

    /// Settles the messages acked on the stream of `epoch`.
    func received(_ acks: [DeliveryAck], epoch: UInt64) {
        let action = state.withLock { $0.received(acks, epoch: epoch) }
        action.wakeWriter?.resume()
        resume(action.settlements)
    }

    /// The response side of the stream of `epoch` ended: its writer stops.
    func responseEnded(epoch: UInt64) {
        state.withLock { $0.responseEnded(epoch: epoch) }?.resume()
    }

    /// The stream is over: fails everything queued or unacknowledged as unavailable.
    func streamFailed(reason: String) {
        let failed = state.withLock { machine in
            defer { phaseCode.store(machine.phase.code, ordering: .releasing) }
            return machine.streamFailed(reason: reason)
        }
        failed.wakeWriter?.resume()
        resume(failed.settlements)
    }

    /// Stops accepting messages; the stream's writer ends once the outbox is empty.
    func stop(reason: String) {
        let writer = state.withLock { machine in
            defer { phaseCode.store(machine.phase.code, ordering: .releasing) }
            return machine.stop(reason: reason)
        }
        writer?.resume()
    }

    /// Fails every message whose deadline is not after `now`; returns the earliest deadline left.
    func expire(now: Date) -> Date? {
        let expired = state.withLock { $0.expire(now: now) }
        resume(expired.settlements)
        return expired.next
    }

    private func resume(_ settlements: Machine.Settlements) {
        for (continuation, outcome) in settlements.singles {
            switch outcome {
            case .success(let outcome): continuation.resume(returning: outcome)
            case .failure(.cancelled): continuation.resume(throwing: CancellationError())
            case .failure(let failure): continuation.resume(throwing: failure)
            }
        }
        for (continuation, failures) in settlements.batches {
            continuation.resume(returning: failures)
        }
    }
}
