import DequeModule
import Foundation

/// Why a submitted message did not get an ack; the transport turns it into a
/// ``TransportError`` naming the module and message.
enum SubmitFailure: Error, Equatable {
    case unavailable(String)
    case deadlineExceeded
    /// The remote host could not deliver it (batch members only; a lone
    /// message gets ``DeliveryOutcome/failed(_:)``).
    case rejected(String)
    /// The sending task was cancelled.
    case cancelled
}

/// A member of a batch that was not accepted: its offset in the batch and why.
struct BatchMemberFailure: Sendable, Equatable {
    var offset: Int
    var reason: SubmitFailure
}

/// Where a replica connection is in its life.
enum ReplicaPhase: Sendable, Equatable {
    /// Opening a `Deliver` stream; messages queue for it.
    case connecting
    /// A stream is open.
    case ready
    /// The last stream broke; waiting to reconnect. Messages fail at once.
    case backingOff(reason: String)
    /// Removed or shut down.
    case closed(reason: String)

    /// The phase as a number, for lock-free reads: 0 connecting, 1 ready, 2 backing off, 3 closed.
    var code: UInt8 {
        switch self {
        case .connecting: 0
        case .ready: 1
        case .backingOff: 2
        case .closed: 3
        }
    }
}

/// How much one replica connection queues and how it cuts frames.
struct ReplicaLimits: Sendable {
    /// Most messages in one frame.
    var maximumBatchMessages: Int
    /// Most bytes in one frame (a larger single message still goes alone).
    var maximumBatchBytes: Int
    /// Most messages queued in frames or awaiting their ack; further ones wait in line.
    var maximumInFlight: Int
}

/// The whole state of one replica connection, with no locks, no clocks and no I/O:
/// its phase and stream epoch, the messages awaiting an ack (by sequence number),
/// the batches waiting for their members, the in-flight window and the line of
/// messages waiting for room in it, the outbox of encoded frames, the parked
/// stream writer and the earliest deadline in flight.
///
/// `ReplicaConnectionStorage` holds it in a `Mutex` and turns the actions it
/// returns into continuation resumptions *after* releasing the lock. The machine
/// is generic over the tokens that stand for a suspended lone sender, a
/// suspended batch and the parked stream writer, so tests drive it with plain
/// values, without tasks or a network.
///
/// Invariants (the unit tests check them with ``checkInvariants()`` after every step):
/// - `inFlight <= limits.maximumInFlight`, and the frames in the outbox hold at most `inFlight` messages;
/// - a message waits in line only while the window is full: `waiting` is empty or `inFlight` is at the limit;
/// - a frame holds at most `maximumBatchMessages` messages, and at most `maximumBatchBytes` bytes unless it
///   holds a single message;
/// - every batch still waiting has exactly `remaining > 0` members awaiting an ack;
/// - `earliestDeadline` is not after any pending message's deadline;
/// - the writer is parked only while the outbox is empty and the connection is not closing;
/// - a closed connection is closing (its stream drains), and one backing off has nothing pending.
struct ReplicaConnectionStateMachine<Sender, Batch, Writer> {
    /// A message awaiting its ack: a lone send (or request), or one member of a batch.
    enum Pending {
        case single(Sender, deadline: Date?)
        /// A member of the batch whose first sequence number is `batch`.
        case member(batch: UInt64, deadline: Date?)

        var deadline: Date? {
            switch self {
            case .single(_, let deadline), .member(_, let deadline): deadline
            }
        }
    }

    /// A batch awaiting the outcomes of its members (sequence numbers
    /// `first ..< first + count`), resumed once when the last member settles.
    struct BatchWaiter {
        var token: Batch
        /// Members not yet settled; each is in `pending` until it settles.
        var remaining: Int
        var failures: [BatchMemberFailure] = []
    }

    /// A message with no room in the window yet; its sender is in `pending`.
    struct Waiting {
        var sequence: UInt64
        var kind: DeliveryKind
        var body: ArraySlice<UInt8>
    }

    /// Senders and batches to resume once the lock is released.
    struct Settlements {
        var singles: [(token: Sender, outcome: Result<DeliveryOutcome, SubmitFailure>)] = []
        /// Each batch with the members that were not accepted, by ascending offset.
        var batches: [(token: Batch, failures: [BatchMemberFailure])] = []

        var isEmpty: Bool { singles.isEmpty && batches.isEmpty }
    }

    let limits: ReplicaLimits
    private(set) var phase: ReplicaPhase = .connecting
    /// Numbers the streams: a writer or reader of an older stream finds the epoch changed and stops.
    private(set) var epoch: UInt64 = 0
    /// Whether the current stream's writer should stop once the outbox is empty.
    private(set) var closing = false
    private(set) var pending: [UInt64: Pending] = [:]
    /// Batches by their first sequence number.
    private(set) var batches: [UInt64: BatchWaiter] = [:]
    /// Messages in the outbox or written and not yet acked (whether or not their sender still waits).
    private(set) var inFlight = 0
    private(set) var waiting: Deque<Waiting> = []
    /// Encoded frames for the stream's writer, oldest first.
    private(set) var frames: Deque<EncodedBatch> = []
    /// Messages in `frames`, not yet taken by the writer.
    private(set) var queuedMessages = 0
    /// The stream writer, parked because the outbox was empty.
    private(set) var writer: Writer?
    private(set) var earliestDeadline: Date?

    init(limits: ReplicaLimits) {
        self.limits = limits
    }

    // MARK: Sending

    /// What a sender must do once its message was offered.
    enum SubmitAction {
        /// The message (or batch) is queued; the sender stays suspended until it settles.
        /// Resume `wakeWriter` if given; `earlierDeadline`: the deadline timer must re-arm.
        case queued(wakeWriter: Writer?, earlierDeadline: Bool)
        /// Not queued: resume the sender with this failure (every member of a batch).
        case fail(SubmitFailure)
    }

    /// Offers one message with its sender's token: queued in the outbox if the
    /// window has room (and nobody waits in line before it), else in line.
    /// `isCancelled` is the sending task's cancellation flag, read under the same lock.
    mutating func submit(
        sequence: UInt64, kind: DeliveryKind, body: ArraySlice<UInt8>, deadline: Date?, sender: Sender, isCancelled: Bool
    ) -> SubmitAction {
        if let refusal = refusal(isCancelled: isCancelled) { return .fail(refusal) }
        pending[sequence] = .single(sender, deadline: deadline)
        let earlier = noteDeadline(deadline)
        guard inFlight < limits.maximumInFlight, waiting.isEmpty else {
            waiting.append(Waiting(sequence: sequence, kind: kind, body: body))
            return .queued(wakeWriter: nil, earlierDeadline: earlier)
        }
        inFlight += 1
        append(sequence: sequence, kind: kind, body: body)
        return .queued(wakeWriter: takeWriter(), earlierDeadline: earlier)
    }

    /// Offers a batch of one-way messages, sequence numbers `first ..< first + bodies.count`,
    /// in order: as many as the window takes go to the outbox, the rest wait in line.
    mutating func submitBatch(
        first: UInt64, bodies: EncodedBodies, deadlines: [Date?], waiter: Batch, isCancelled: Bool
    ) -> SubmitAction {
        precondition(bodies.count == deadlines.count && bodies.count > 0)
        if let refusal = refusal(isCancelled: isCancelled) { return .fail(refusal) }
        let count = bodies.count
        batches[first] = BatchWaiter(token: waiter, remaining: count)
        pending.reserveCapacity(pending.count + count)
        var earlier = false
        var appended = false
        for offset in 0..<count {
            let sequence = first &+ UInt64(offset)
            pending[sequence] = .member(batch: first, deadline: deadlines[offset])
            if noteDeadline(deadlines[offset]) { earlier = true }
            if inFlight < limits.maximumInFlight, waiting.isEmpty {
                inFlight += 1
                append(sequence: sequence, kind: .send, body: bodies[offset])
                appended = true
            } else {
                waiting.append(Waiting(sequence: sequence, kind: .send, body: bodies[offset]))
            }
        }
        return .queued(wakeWriter: appended ? takeWriter() : nil, earlierDeadline: earlier)
    }

    /// Fails the still pending messages `first ..< first + count` with `CancellationError`:
    /// their sending task was cancelled. Messages already written stay in the window until acked.
    mutating func cancel(first: UInt64, count: Int) -> Settlements {
        var settlements = Settlements()
        for offset in 0..<count {
            let sequence = first &+ UInt64(offset)
            if let entry = pending.removeValue(forKey: sequence) {
                settle(entry, sequence: sequence, .failure(.cancelled), into: &settlements)
            }
        }
        dropAbandonedWaiting()
        return settlements
    }

    // MARK: The stream's writer

    /// What the stream writer of an epoch does next.
    enum NextFrameAction {
        case write(EncodedBatch)
        /// Its stream is over (a newer epoch) or the connection closes and the outbox is empty.
        case end
        /// The outbox is empty: park.
        case wait
    }

    /// Takes the oldest frame of the outbox for the writer of `epoch`.
    mutating func nextFrame(epoch: UInt64) -> NextFrameAction {
        guard self.epoch == epoch else { return .end }
        if let frame = frames.popFirst() {
            queuedMessages -= frame.count
            return .write(frame)
        }
        return closing ? .end : .wait
    }

    /// Parks the writer of `epoch`; `false` if it must go on at once (frames arrived, the
    /// stream is over, the connection closes, or its task is cancelled).
    mutating func parkWriter(_ token: Writer, epoch: UInt64, isCancelled: Bool) -> Bool {
        if self.epoch != epoch || closing || !frames.isEmpty || isCancelled { return false }
        precondition(writer == nil, "one stream writer at a time")
        writer = token
        return true
    }

    /// Takes the parked writer out (its task was cancelled, or it must look again).
    mutating func takeWriter() -> Writer? {
        defer { writer = nil }
        return writer
    }

    // MARK: The stream's life

    /// Starts a stream attempt: the phase becomes connecting; returns its epoch, or `nil` once closed.
    mutating func connect() -> UInt64? {
        if case .closed = phase { return nil }
        phase = .connecting
        return epoch
    }

    /// The remote host answered the stream of `epoch`: it is ready.
    mutating func streamOpened(epoch: UInt64) {
        if self.epoch == epoch, phase == .connecting { phase = .ready }
    }

    /// What acks (received on the stream of an epoch) did.
    struct AckAction {
        var settlements = Settlements()
        /// Messages moved from the line into the outbox: resume this parked writer.
        var wakeWriter: Writer?
    }

    /// Settles the acked messages, frees their room in the window and moves
    /// messages waiting in line into the outbox.
    mutating func received(_ acks: [DeliveryAck], epoch: UInt64) -> AckAction {
        var action = AckAction()
        guard self.epoch == epoch else { return action }
        for ack in acks {
            if inFlight > 0 { inFlight -= 1 }
            if let entry = pending.removeValue(forKey: ack.sequence) {
                settle(entry, sequence: ack.sequence, .success(ack.outcome), into: &action.settlements)
            }
        }
        var promoted = false
        while inFlight < limits.maximumInFlight, let next = waiting.popFirst() {
            guard pending[next.sequence] != nil else { continue }
            inFlight += 1
            append(sequence: next.sequence, kind: next.kind, body: next.body)
            promoted = true
        }
        if promoted { action.wakeWriter = takeWriter() }
        return action
    }

    /// The response side of the stream of `epoch` ended: its writer must stop. Returns the parked writer.
    mutating func responseEnded(epoch: UInt64) -> Writer? {
        guard self.epoch == epoch else { return nil }
        self.epoch &+= 1
        return takeWriter()
    }

    /// The stream is over: fails everything queued or unacknowledged with
    /// `unavailable(reason)` and backs off (unless closed). Returns the parked writer too.
    mutating func streamFailed(reason: String) -> (settlements: Settlements, wakeWriter: Writer?) {
        var settlements = Settlements()
        if case .closed = phase {} else { phase = .backingOff(reason: reason) }
        epoch &+= 1
        let failed = pending
        pending.removeAll()
        for (sequence, entry) in failed {
            settle(entry, sequence: sequence, .failure(.unavailable(reason)), into: &settlements)
        }
        // Every member of every batch was pending, so every batch settled.
        assert(batches.isEmpty)
        waiting.removeAll()
        frames.removeAll()
        queuedMessages = 0
        inFlight = 0
        earliestDeadline = nil
        return (settlements, takeWriter())
    }

    /// Stops accepting messages; the writer stops once the outbox is empty. Returns the parked writer.
    mutating func stop(reason: String) -> Writer? {
        phase = .closed(reason: reason)
        closing = true
        return takeWriter()
    }

    // MARK: Deadlines

    /// Fails every message whose deadline is not after `now` with `deadlineExceeded`;
    /// returns them and the earliest deadline left (the timer's next wake-up, `nil`: none).
    mutating func expire(now: Date) -> (settlements: Settlements, next: Date?) {
        var settlements = Settlements()
        guard let earliest = earliestDeadline, earliest <= now else { return (settlements, earliestDeadline) }
        var expired: [(UInt64, Pending)] = []
        var next: Date?
        for (sequence, entry) in pending {
            guard let deadline = entry.deadline else { continue }
            if deadline <= now {
                expired.append((sequence, entry))
            } else if next.map({ deadline < $0 }) ?? true {
                next = deadline
            }
        }
        for (sequence, entry) in expired {
            pending.removeValue(forKey: sequence)
            settle(entry, sequence: sequence, .failure(.deadlineExceeded), into: &settlements)
        }
        dropAbandonedWaiting()
        earliestDeadline = next
        return (settlements, next)
    }

    // MARK: Helpers

    /// Why a message cannot be queued now, if it cannot.
    private func refusal(isCancelled: Bool) -> SubmitFailure? {
        switch phase {
        case .backingOff(let reason), .closed(let reason): return .unavailable(reason)
        case .connecting, .ready: return isCancelled ? .cancelled : nil
        }
    }

    /// Lowers `earliestDeadline` to `deadline` if it is earlier; returns whether it did.
    private mutating func noteDeadline(_ deadline: Date?) -> Bool {
        guard let deadline, earliestDeadline.map({ deadline < $0 }) ?? true else { return false }
        earliestDeadline = deadline
        return true
    }

    /// Appends an entry to the outbox's last frame if it fits, else starts a frame.
    private mutating func append(sequence: UInt64, kind: DeliveryKind, body: ArraySlice<UInt8>) {
        queuedMessages += 1
        if !frames.isEmpty {
            let last = frames.count - 1
            if frames[last].count < limits.maximumBatchMessages,
                frames[last].bytes.count + body.count + 11 <= limits.maximumBatchBytes
            {
                frames[last].append(sequence: sequence, kind: kind, body: body)
                return
            }
        }
        var frame = EncodedBatch(reservingCapacity: min(limits.maximumBatchBytes, max(256, (body.count + 4) * 64)))
        frame.append(sequence: sequence, kind: kind, body: body)
        frames.append(frame)
    }

    /// Drops the bodies of waiting messages whose senders gave up (deadline or cancellation).
    private mutating func dropAbandonedWaiting() {
        guard waiting.count > pending.count else { return }
        let pending = self.pending
        waiting.removeAll { pending[$0.sequence] == nil }
    }

    /// Settles a message removed from `pending`: a lone sender is collected for
    /// resumption, a batch member counted (and its batch collected once its last member settled).
    private mutating func settle(
        _ entry: Pending, sequence: UInt64, _ outcome: Result<DeliveryOutcome, SubmitFailure>,
        into settlements: inout Settlements
    ) {
        switch entry {
        case .single(let sender, _):
            settlements.singles.append((sender, outcome))
        case .member(let first, _):
            guard let index = batches.index(forKey: first) else { return }
            switch outcome {
            case .success(.accepted), .success(.reply): break
            case .success(.failed(let reason)):
                batches.values[index].failures.append(
                    BatchMemberFailure(offset: Int(sequence &- first), reason: .rejected(reason)))
            case .failure(let failure):
                batches.values[index].failures.append(BatchMemberFailure(offset: Int(sequence &- first), reason: failure))
            }
            batches.values[index].remaining -= 1
            if batches.values[index].remaining == 0 {
                let batch = batches.remove(at: index).value
                settlements.batches.append((batch.token, batch.failures.sorted { $0.offset < $1.offset }))
            }
        }
    }

    /// Checks the invariants in the type's documentation; the tests call it after every step.
    func checkInvariants() -> Bool {
        let queued = frames.reduce(0) { $0 + $1.count }
        let framesFit = frames.allSatisfy { frame in
            frame.count >= 1 && frame.count <= limits.maximumBatchMessages
                && (frame.count == 1 || frame.bytes.count <= limits.maximumBatchBytes)
        }
        var members: [UInt64: Int] = [:]
        for entry in pending.values {
            if case .member(let first, _) = entry { members[first, default: 0] += 1 }
        }
        let batchesMatch = batches.count == members.count
            && batches.allSatisfy { first, waiter in waiter.remaining > 0 && members[first] == waiter.remaining }
        let deadlinesCovered = pending.values.allSatisfy { entry in
            guard let deadline = entry.deadline else { return true }
            return earliestDeadline.map { $0 <= deadline } ?? false
        }
        let closedIsClosing: Bool
        let quietWhenDown: Bool
        switch phase {
        case .connecting, .ready:
            (closedIsClosing, quietWhenDown) = (true, true)
        case .backingOff:
            (closedIsClosing, quietWhenDown) = (true, pending.isEmpty && batches.isEmpty && waiting.isEmpty)
        case .closed:
            (closedIsClosing, quietWhenDown) = (closing, true)
        }
        return inFlight >= 0 && inFlight <= limits.maximumInFlight && queued <= inFlight && queued == queuedMessages
            && (waiting.isEmpty || inFlight == limits.maximumInFlight)
            && framesFit && batchesMatch && deadlinesCovered
            && (writer == nil || (frames.isEmpty && !closing))
            && closedIsClosing && quietWhenDown
    }
}
