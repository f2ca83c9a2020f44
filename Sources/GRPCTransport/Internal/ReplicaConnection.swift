import AsyncPrimitives
import Backoff
import DequeModule
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ModuleHostAPI
import Synchronization

/// Why a submitted message did not get an ack; the transport turns it into a
/// ``TransportError`` naming the module and message.
enum SubmitFailure: Error {
    case unavailable(String)
    case deadlineExceeded
    /// The remote host could not deliver it (batch members only; a lone
    /// message gets ``DeliveryOutcome/failed(_:)``).
    case rejected(String)
    /// The sending task was cancelled.
    case cancelled
}

/// A member of a batch that was not accepted: its offset in the batch and why.
struct BatchMemberFailure: Sendable {
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
}

/// The phase as a number readable without the lock: 0 connecting, 1 ready, 2 backing off, 3 closed.
final class PhaseCode: Sendable {
    let value = Atomic<UInt8>(0)
    func store(_ code: UInt8) { value.store(code, ordering: .releasing) }
}

extension ReplicaPhase {
    var code: UInt8 {
        switch self {
        case .connecting: 0
        case .ready: 1
        case .backingOff: 2
        case .closed: 3
        }
    }
}

/// Limits of one replica connection.
struct ReplicaLimits: Sendable {
    var maximumBatchMessages: Int
    var maximumBatchBytes: Int
    var maximumInFlight: Int
    var initialBackoff: Duration
    var maximumBackoff: Duration
}

/// One long-lived `Deliver` stream to one replica address, reopened with
/// jittered exponential backoff when it breaks.
///
/// Messages are encoded by the sending tasks and appended to the outbox's
/// last frame; the stream's writer takes whole frames, so under load frames
/// fill up while the previous one is written (group commit), and at low load
/// a message goes out alone without waiting. At most `maximumInFlight`
/// messages are queued or unacknowledged; further senders wait in line
/// (one entry per suspended sender), so memory stays bounded.
final class ReplicaConnection: Sendable {
    /// A message awaiting its ack: a lone `submit`, or one member of a batch.
    private enum Pending {
        /// Unchecked for speed (no canary allocation per message). Invariant: an entry
        /// is resumed only by whoever removed it from `pending` under the lock, so
        /// exactly once.
        case single(UnsafeContinuation<DeliveryOutcome, any Error>, deadline: Date?)
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
    private struct BatchWaiter {
        /// Unchecked for speed. Invariant: resumed only by whoever settled the
        /// batch's last member (so removed the waiter from `batches`) under the lock.
        var continuation: UnsafeContinuation<[BatchMemberFailure], Never>
        /// Members not yet settled; each is in `pending` until it settles.
        var remaining: Int
        var failures: [BatchMemberFailure] = []
    }

    private struct Waiting {
        var sequence: UInt64
        var kind: DeliveryKind
        var body: [UInt8]
    }

    private struct State {
        var phase: ReplicaPhase = .connecting {
            didSet { code.store(phase.code) }
        }
        /// Mirrors `phase` for lock-free reads on the send path.
        let code: PhaseCode
        var epoch: UInt64 = 0
        /// Whether the current stream's writer should stop once the outbox is empty.
        var closing = false
        var pending: [UInt64: Pending] = [:]
        /// Batches by their first sequence number.
        var batches: [UInt64: BatchWaiter] = [:]
        var inFlight = 0
        var waiting: Deque<Waiting> = []
        var frames: Deque<EncodedBatch> = []
        var writerWaiter: CheckedContinuation<Void, Never>?
        var earliestDeadline: Date?

        /// Drops the bodies of waiting messages whose senders gave up (deadline or cancellation).
        mutating func dropAbandonedWaiting() {
            guard waiting.count > pending.count else { return }
            let pending = self.pending
            waiting.removeAll { pending[$0.sequence] == nil }
        }

        /// Settles a message removed from `pending`: a lone sender is collected
        /// for resumption, a batch member counted (and its batch collected once
        /// its last member settled).
        mutating func settle(
            _ entry: Pending, sequence: UInt64, _ outcome: Result<DeliveryOutcome, SubmitFailure>, into resumes: inout Resumes
        ) {
            switch entry {
            case .single(let continuation, _):
                resumes.singles.append((continuation, outcome))
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
                    resumes.batches.append((batch.continuation, batch.failures))
                }
            }
        }
    }

    /// Continuations to resume once the lock is released.
    private struct Resumes {
        var singles: [(UnsafeContinuation<DeliveryOutcome, any Error>, Result<DeliveryOutcome, SubmitFailure>)] = []
        var batches: [(UnsafeContinuation<[BatchMemberFailure], Never>, [BatchMemberFailure])] = []

        var isEmpty: Bool { singles.isEmpty && batches.isEmpty }

        func resume() {
            for (continuation, outcome) in singles {
                switch outcome {
                case .success(let outcome): continuation.resume(returning: outcome)
                case .failure(.cancelled): continuation.resume(throwing: CancellationError())
                case .failure(let failure): continuation.resume(throwing: failure)
                }
            }
            for (continuation, failures) in batches {
                continuation.resume(returning: failures.sorted { $0.offset < $1.offset })
            }
        }
    }

    let address: String
    private let limits: ReplicaLimits
    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let state: Mutex<State>
    private let phaseCode = PhaseCode()
    private let sequences = Atomic<UInt64>(0)
    private let stopped = OneShotEvent()
    /// Told when a message's deadline is earlier than every other in flight: the expiry timer re-arms.
    private let deadlineChanges = ChangeNotifier()
    private let logger: Logger

    init(address: String, limits: ReplicaLimits, tls: MutualTLSConfiguration?, logger: Logger) throws {
        guard let target = resolvableTarget(address) else {
            throw SubmitFailure.unavailable("invalid replica address \"\(address)\"")
        }
        var config = HTTP2ClientTransport.Posix.Config.defaults
        config.backoff.initial = .milliseconds(20)
        config.backoff.max = .seconds(2)
        let transport = try HTTP2ClientTransport.Posix(
            target: target, transportSecurity: tls?.clientSecurity ?? .plaintext, config: config)
        self.client = GRPCClient(transport: transport)
        self.state = Mutex(State(code: phaseCode))
        self.address = address
        self.limits = limits
        self.logger = logger
    }

    var phase: ReplicaPhase { state.withLock { $0.phase } }

    /// Whether a stream is open (`true`), opening (`false`) or neither (`nil`), without locking.
    var isReady: Bool? {
        switch phaseCode.value.load(ordering: .acquiring) {
        case 0: false
        case 1: true
        default: nil
        }
    }

    /// Messages queued or awaiting an ack (for tests and metrics).
    var inFlight: Int { state.withLock { $0.inFlight } }

    /// Stops accepting messages, lets the stream drain and ends ``run()``.
    func stop(reason: String) {
        let writer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.phase = .closed(reason: reason)
            state.closing = true
            defer { state.writerWaiter = nil }
            return state.writerWaiter
        }
        writer?.resume()
        stopped.signal()
    }

    // MARK: Sending

    /// Queues an encoded message body and returns the remote outcome.
    func submit(kind: DeliveryKind, body: [UInt8], deadline: Date?) async throws -> DeliveryOutcome {
        let sequence = sequences.wrappingAdd(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<DeliveryOutcome, any Error>) in
                enum Action { case none, fail(any Error), wakeWriter(CheckedContinuation<Void, Never>) }
                var earlierDeadline = false
                defer { if earlierDeadline { deadlineChanges.notify() } }
                let action = state.withLock { state -> Action in
                    switch state.phase {
                    case .backingOff(let reason), .closed(let reason): return .fail(SubmitFailure.unavailable(reason))
                    case .connecting, .ready: break
                    }
                    if Task.isCancelled { return .fail(CancellationError()) }
                    state.pending[sequence] = .single(continuation, deadline: deadline)
                    if let deadline, state.earliestDeadline.map({ deadline < $0 }) ?? true {
                        state.earliestDeadline = deadline
                        earlierDeadline = true
                    }
                    guard state.inFlight < limits.maximumInFlight, state.waiting.isEmpty else {
                        state.waiting.append(Waiting(sequence: sequence, kind: kind, body: body))
                        return .none
                    }
                    state.inFlight += 1
                    Self.append(sequence: sequence, kind: kind, body: body, to: &state, limits: limits)
                    if let writer = state.writerWaiter {
                        state.writerWaiter = nil
                        return .wakeWriter(writer)
                    }
                    return .none
                }
                switch action {
                case .none: break
                case .fail(let error): continuation.resume(throwing: error)
                case .wakeWriter(let writer): writer.resume()
                }
            }
        } onCancel: {
            var resumes = Resumes()
            state.withLock { state in
                if let entry = state.pending.removeValue(forKey: sequence) {
                    state.settle(entry, sequence: sequence, .failure(.cancelled), into: &resumes)
                }
                state.dropAbandonedWaiting()
            }
            resumes.resume()
        }
    }

    /// Queues the encoded bodies of a batch of one-way messages, in order, under
    /// one lock acquisition, and waits once until every one was acked or failed.
    /// Returns the members that were not accepted, by ascending offset. Members
    /// beyond the in-flight window wait in line like lone senders, so the window
    /// holds for batches too.
    func submitBatch(bodies: [[UInt8]], deadlines: [Date?]) async -> [BatchMemberFailure] {
        precondition(bodies.count == deadlines.count)
        let count = bodies.count
        guard count > 0 else { return [] }
        let first = sequences.wrappingAdd(UInt64(count), ordering: .relaxed).newValue &- UInt64(count) &+ 1
        func all(_ reason: SubmitFailure) -> [BatchMemberFailure] {
            (0..<count).map { BatchMemberFailure(offset: $0, reason: reason) }
        }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<[BatchMemberFailure], Never>) in
                enum Action { case none, fail(SubmitFailure), wakeWriter(CheckedContinuation<Void, Never>) }
                var earlierDeadline = false
                defer { if earlierDeadline { deadlineChanges.notify() } }
                let action = state.withLock { state -> Action in
                    switch state.phase {
                    case .backingOff(let reason), .closed(let reason): return .fail(.unavailable(reason))
                    case .connecting, .ready: break
                    }
                    if Task.isCancelled { return .fail(.cancelled) }
                    state.batches[first] = BatchWaiter(continuation: continuation, remaining: count)
                    state.pending.reserveCapacity(state.pending.count + count)
                    var appended = false
                    for offset in 0..<count {
                        let sequence = first &+ UInt64(offset)
                        let deadline = deadlines[offset]
                        state.pending[sequence] = .member(batch: first, deadline: deadline)
                        if let deadline, state.earliestDeadline.map({ deadline < $0 }) ?? true {
                            state.earliestDeadline = deadline
                            earlierDeadline = true
                        }
                        if state.inFlight < limits.maximumInFlight, state.waiting.isEmpty {
                            state.inFlight += 1
                            Self.append(sequence: sequence, kind: .send, body: bodies[offset], to: &state, limits: limits)
                            appended = true
                        } else {
                            state.waiting.append(Waiting(sequence: sequence, kind: .send, body: bodies[offset]))
                        }
                    }
                    if appended, let writer = state.writerWaiter {
                        state.writerWaiter = nil
                        return .wakeWriter(writer)
                    }
                    return .none
                }
                switch action {
                case .none: break
                case .fail(let reason): continuation.resume(returning: all(reason))
                case .wakeWriter(let writer): writer.resume()
                }
            }
        } onCancel: {
            var resumes = Resumes()
            state.withLock { state in
                for offset in 0..<count {
                    let sequence = first &+ UInt64(offset)
                    if let entry = state.pending.removeValue(forKey: sequence) {
                        state.settle(entry, sequence: sequence, .failure(.cancelled), into: &resumes)
                    }
                }
                state.dropAbandonedWaiting()
            }
            resumes.resume()
        }
    }

    private static func append(
        sequence: UInt64, kind: DeliveryKind, body: [UInt8], to state: inout State, limits: ReplicaLimits
    ) {
        if var last = state.frames.popLast() {
            if last.count < limits.maximumBatchMessages, last.bytes.count + body.count <= limits.maximumBatchBytes {
                var writer = ByteWriter(capacity: 0)
                swap(&writer.bytes, &last.bytes)
                encodeEntry(sequence: sequence, kind: kind, body: body, into: &writer)
                swap(&writer.bytes, &last.bytes)
                last.count += 1
                state.frames.append(last)
                return
            }
            state.frames.append(last)
        }
        var writer = ByteWriter(capacity: min(limits.maximumBatchBytes, max(256, body.count * 64)))
        encodeEntry(sequence: sequence, kind: kind, body: body, into: &writer)
        state.frames.append(EncodedBatch(bytes: writer.bytes, count: 1))
    }

    /// The next frame for the stream of `epoch`, or `nil` when that stream should end.
    private func nextFrame(epoch: UInt64) async -> EncodedBatch? {
        while true {
            enum Next { case frame(EncodedBatch), end, wait }
            let next = state.withLock { state -> Next in
                guard state.epoch == epoch else { return .end }
                if let frame = state.frames.popFirst() { return .frame(frame) }
                return state.closing ? .end : .wait
            }
            switch next {
            case .frame(let frame): return frame
            case .end: return nil
            case .wait: break
            }
            if Task.isCancelled { return nil }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state -> Bool in
                        if state.epoch != epoch || state.closing || !state.frames.isEmpty || Task.isCancelled {
                            return true
                        }
                        state.writerWaiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                let writer = state.withLock { state -> CheckedContinuation<Void, Never>? in
                    defer { state.writerWaiter = nil }
                    return state.writerWaiter
                }
                writer?.resume()
            }
        }
    }

    private func handle(_ acks: [DeliveryAck]) {
        var resumes = Resumes()
        let writer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            for ack in acks {
                if state.inFlight > 0 { state.inFlight -= 1 }
                if let entry = state.pending.removeValue(forKey: ack.sequence) {
                    state.settle(entry, sequence: ack.sequence, .success(ack.outcome), into: &resumes)
                }
            }
            var promoted = false
            while state.inFlight < limits.maximumInFlight, let next = state.waiting.popFirst() {
                guard state.pending[next.sequence] != nil else { continue }
                state.inFlight += 1
                Self.append(sequence: next.sequence, kind: next.kind, body: next.body, to: &state, limits: limits)
                promoted = true
            }
            guard promoted, let writer = state.writerWaiter else { return nil }
            state.writerWaiter = nil
            return writer
        }
        writer?.resume()
        resumes.resume()
    }

    /// Fails everything queued or unacknowledged; the stream of the current epoch is over.
    private func failAll(reason: String) {
        var resumes = Resumes()
        let writer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if case .closed = state.phase {} else { state.phase = .backingOff(reason: reason) }
            state.epoch += 1
            let pending = state.pending
            state.pending.removeAll()
            for (sequence, entry) in pending {
                state.settle(entry, sequence: sequence, .failure(.unavailable(reason)), into: &resumes)
            }
            // Every member of every batch was pending, so every batch settled.
            assert(state.batches.isEmpty)
            state.waiting.removeAll()
            state.frames.removeAll()
            state.inFlight = 0
            state.earliestDeadline = nil
            defer { state.writerWaiter = nil }
            return state.writerWaiter
        }
        writer?.resume()
        resumes.resume()
    }

    // MARK: Running

    /// Keeps a stream open (reconnecting with backoff) and expires deadlines, until ``stop(reason:)``.
    func run() async {
        let client = self.client
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do { try await client.runConnections() } catch {}
            }
            group.addTask { await self.expireDeadlines() }
            await self.maintainStream()
            client.beginGracefulShutdown()
            group.cancelAll()
        }
        failAll(reason: "replica connection to \(address) closed")
    }

    private func maintainStream() async {
        var schedule = BackoffSchedule(Backoff(initial: limits.initialBackoff, maximum: limits.maximumBackoff, jitter: 0.5))
        while !stopped.hasHappened, !Task.isCancelled {
            let epoch = state.withLock { state -> UInt64? in
                if case .closed = state.phase { return nil }
                state.phase = .connecting
                return state.epoch
            }
            guard let epoch else { break }
            let (wasReady, reason) = await runStream(epoch: epoch)
            failAll(reason: reason)
            if stopped.hasHappened || Task.isCancelled { break }
            logger.debug("Deliver stream to \(address) ended: \(reason); reconnecting")
            if wasReady { schedule.reset() }
            let delay = schedule.failed(at: .now)
            await withTaskGroup(of: Void.self) { sleeper in
                sleeper.addTask { try? await Task.sleep(for: delay) }
                sleeper.addTask { await self.stopped.wait() }
                await sleeper.next()
                sleeper.cancelAll()
            }
        }
    }

    private func runStream(epoch: UInt64) async -> (wasReady: Bool, reason: String) {
        let ready = Atomic<Bool>(false)
        var options = CallOptions.defaults
        options.waitForReady = false
        do {
            try await client.bidirectionalStreaming(
                request: StreamingClientRequest(of: EncodedBatch.self) { writer in
                    while let frame = await self.nextFrame(epoch: epoch) {
                        try await writer.write(frame)
                    }
                },
                descriptor: ModuleHostMethods.deliver,
                serializer: EncodedBatchSerializer(),
                deserializer: AckBatchDeserializer(),
                options: options
            ) { response in
                defer { self.endStream(epoch: epoch) }
                if case .failure(let error) = response.accepted { throw error }
                ready.store(true, ordering: .relaxed)
                self.state.withLock { state in
                    if state.epoch == epoch, state.phase == .connecting { state.phase = .ready }
                }
                for try await acks in response.messages { self.handle(acks) }
            }
            return (ready.load(ordering: .relaxed), "the stream to \(address) ended")
        } catch let error as RPCError {
            return (ready.load(ordering: .relaxed), "\(address): \(error.code): \(error.message)")
        } catch {
            return (ready.load(ordering: .relaxed), "\(address): \(error)")
        }
    }

    /// Makes the writer of `epoch` stop (the response side ended).
    private func endStream(epoch: UInt64) {
        let writer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.epoch == epoch else { return nil }
            state.epoch += 1
            defer { state.writerWaiter = nil }
            return state.writerWaiter
        }
        writer?.resume()
    }

    /// Fails messages whose deadline passed. Sleeps until the earliest
    /// deadline of a message in flight, woken early only when a message with
    /// an earlier one arrives; with no deadline in flight it does not wake at all.
    private func expireDeadlines() async {
        let earlierDeadlines = deadlineChanges.subscribe()
        defer { earlierDeadlines.cancel() }
        while !Task.isCancelled {
            guard let earliest = expireDue(now: Date()) else {
                await earlierDeadlines.next()
                continue
            }
            let wait = Duration.microseconds(Int64(max(0.000_5, earliest.timeIntervalSinceNow) * 1_000_000))
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await Task.sleep(for: wait) }
                group.addTask { await earlierDeadlines.next() }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// Fails every message whose deadline is not after `now`; returns the earliest deadline left.
    private func expireDue(now: Date) -> Date? {
        var resumes = Resumes()
        let earliest = state.withLock { state -> Date? in
            guard let earliest = state.earliestDeadline, earliest <= now else {
                return state.earliestDeadline
            }
            var expired: [(UInt64, Pending)] = []
            var nextEarliest: Date?
            for (sequence, entry) in state.pending {
                guard let deadline = entry.deadline else { continue }
                if deadline <= now {
                    expired.append((sequence, entry))
                } else if nextEarliest.map({ deadline < $0 }) ?? true {
                    nextEarliest = deadline
                }
            }
            for (sequence, entry) in expired {
                state.pending.removeValue(forKey: sequence)
                state.settle(entry, sequence: sequence, .failure(.deadlineExceeded), into: &resumes)
            }
            state.dropAbandonedWaiting()
            state.earliestDeadline = nextEarliest
            return nextEarliest
        }
        resumes.resume()
        return earliest
    }
}
