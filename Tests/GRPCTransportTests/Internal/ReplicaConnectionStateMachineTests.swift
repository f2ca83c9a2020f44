import ComponentKit
import Foundation
@testable import GRPCTransport
import JSONSchemaKit
import Testing

/// The replica connection's state machine driven step by step with plain tokens: lone
/// senders, batches and the writer are `String`s. No tasks, no locks, no network.
typealias ReplicaMachine = ReplicaConnectionStateMachine<String, String, String>

@Suite("Replica connection state machine")
struct ReplicaConnectionStateMachineTests {
    static let limits = ReplicaLimits(maximumBatchMessages: 4, maximumBatchBytes: 4096, maximumInFlight: 8)

    /// A machine whose stream of epoch 0 is open.
    func readyMachine(_ limits: ReplicaLimits = Self.limits) -> ReplicaMachine {
        var machine = ReplicaMachine(limits: limits)
        let epoch1 = machine.connect()
        #expect(epoch1 == 0)
        machine.streamOpened(epoch: 0)
        #expect(machine.phase == .ready)
        return machine
    }

    /// The encoded body of a small message.
    func body(_ value: Int = 0) -> [UInt8] {
        encodeMessageBody(Message(id: "m\(value)", payload: .integer(value)))
    }

    /// Submits a lone message and expects it queued; returns the writer it woke.
    @discardableResult
    func send(
        _ machine: inout ReplicaMachine, _ sequence: UInt64, sender: String? = nil, kind: DeliveryKind = .send,
        deadline: Date? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) -> (writer: String?, earlierDeadline: Bool) {
        let action = machine.submit(
            sequence: sequence, kind: kind, body: body(Int(sequence)), deadline: deadline,
            sender: sender ?? "s\(sequence)", isCancelled: false)
        #expect(machine.checkInvariants(), sourceLocation: sourceLocation)
        guard case .queued(let writer, let earlier) = action else {
            Issue.record("expected the message to be queued, got \(action)", sourceLocation: sourceLocation)
            return (nil, false)
        }
        return (writer, earlier)
    }

    /// The sequence numbers of a frame's entries, in order.
    func sequences(_ frame: EncodedBatch) throws -> [UInt64] {
        try DeliveryBatchDeserializer().deserialize(frame.bytes).map(\.sequence)
    }

    /// Takes every frame the writer of `epoch` would write now.
    func drain(_ machine: inout ReplicaMachine, epoch: UInt64 = 0) throws -> [[UInt64]] {
        var frames: [[UInt64]] = []
        while case .write(let frame) = machine.nextFrame(epoch: epoch) {
            #expect(frame.count == (try sequences(frame)).count)
            frames.append(try sequences(frame))
        }
        #expect(machine.checkInvariants())
        return frames
    }

    func acks(_ sequences: [UInt64], _ outcome: DeliveryOutcome = .accepted) -> [DeliveryAck] {
        sequences.map { DeliveryAck(sequence: $0, outcome: outcome) }
    }

    // MARK: Frames and the writer

    @Test("a message into an empty outbox wakes the parked writer, which then takes it as one frame")
    func wakesWriter() throws {
        var machine = readyMachine()
        guard case .wait = machine.nextFrame(epoch: 0) else {
            Issue.record("an empty outbox has nothing to write")
            return
        }
        let parked2 = machine.parkWriter("writer", epoch: 0, isCancelled: false)
        #expect(parked2)
        #expect(send(&machine, 1).writer == "writer")
        #expect(send(&machine, 2).writer == nil, "a writer is woken once")
        #expect(try drain(&machine) == [[1, 2]])
    }

    @Test("the writer does not park when frames are waiting, its stream is over, the connection closes or it is cancelled")
    func writerDoesNotPark() {
        var machine = readyMachine()
        let parked3 = machine.parkWriter("w", epoch: 0, isCancelled: true)
        #expect(!parked3)
        let parked4 = machine.parkWriter("w", epoch: 1, isCancelled: false)
        #expect(!parked4)
        send(&machine, 1)
        let parked5 = machine.parkWriter("w", epoch: 0, isCancelled: false)
        #expect(!parked5)
        _ = machine.nextFrame(epoch: 0)
        _ = machine.stop(reason: "bye")
        let parked6 = machine.parkWriter("w", epoch: 0, isCancelled: false)
        #expect(!parked6)
        #expect(machine.checkInvariants())
    }

    @Test("messages fill the last frame up to maximumBatchMessages, then a new frame starts")
    func framesByCount() throws {
        var machine = readyMachine()
        for sequence in 1...6 { send(&machine, UInt64(sequence)) }
        #expect(machine.queuedMessages == 6)
        #expect(try drain(&machine) == [[1, 2, 3, 4], [5, 6]])
        #expect(machine.queuedMessages == 0)
    }

    @Test("a frame is cut before it would exceed maximumBatchBytes, and a larger message still goes alone")
    func framesByBytes() throws {
        var machine = readyMachine(ReplicaLimits(maximumBatchMessages: 100, maximumBatchBytes: 1024, maximumInFlight: 100))
        let large = [UInt8](repeating: 0, count: 600)
        for sequence in 1...3 {
            _ = machine.submit(sequence: UInt64(sequence), kind: .send, body: large, deadline: nil, sender: "s", isCancelled: false)
            #expect(machine.checkInvariants())
        }
        let huge = [UInt8](repeating: 0, count: 5000)
        _ = machine.submit(sequence: 4, kind: .send, body: huge, deadline: nil, sender: "s", isCancelled: false)
        #expect(machine.checkInvariants())
        var counts: [Int] = []
        while case .write(let frame) = machine.nextFrame(epoch: 0) { counts.append(frame.count) }
        #expect(counts == [1, 1, 1, 1])
    }

    // MARK: Acks and the window

    @Test("an ack resumes its sender with the remote outcome: accepted, failed or a reply")
    func acksResumeSenders() throws {
        var machine = readyMachine()
        send(&machine, 1, sender: "a")
        send(&machine, 2, sender: "b")
        send(&machine, 3, sender: "c", kind: .request)
        _ = try drain(&machine)
        let action = machine.received(
            [
                DeliveryAck(sequence: 2, outcome: .failed("nope")), DeliveryAck(sequence: 3, outcome: .reply(["x": 1])),
                DeliveryAck(sequence: 1, outcome: .accepted),
            ], epoch: 0)
        #expect(machine.checkInvariants())
        let outcomes = action.settlements.singles.map { ($0.token, try? $0.outcome.get()) }
        #expect(outcomes.map(\.0) == ["b", "c", "a"])
        #expect(outcomes.map(\.1) == [.failed("nope"), .reply(["x": 1]), .accepted])
        #expect(machine.inFlight == 0)
        #expect(machine.pending.isEmpty)
    }

    @Test("beyond the in-flight window messages wait in line and enter the outbox in order as acks free room")
    func window() throws {
        var machine = readyMachine()
        for sequence in 1...12 { send(&machine, UInt64(sequence)) }
        #expect(machine.inFlight == 8)
        #expect(machine.waiting.map(\.sequence) == [9, 10, 11, 12])
        #expect(try drain(&machine) == [[1, 2, 3, 4], [5, 6, 7, 8]])
        let parked7 = machine.parkWriter("writer", epoch: 0, isCancelled: false)
        #expect(parked7)

        let action = machine.received(acks([1, 2, 3]), epoch: 0)
        #expect(machine.checkInvariants())
        #expect(action.wakeWriter == "writer")
        #expect(action.settlements.singles.map(\.token) == ["s1", "s2", "s3"])
        #expect(machine.inFlight == 8)
        #expect(machine.waiting.map(\.sequence) == [12])
        #expect(try drain(&machine) == [[9, 10, 11]])

        // A newcomer queues behind the line even when an ack left room.
        _ = machine.received(acks([4]), epoch: 0)
        send(&machine, 13)
        #expect(try drain(&machine) == [[12]])
        #expect(machine.waiting.map(\.sequence) == [13])
    }

    @Test("a batch settles once, when its last member settled, naming by offset the members that were not accepted")
    func batchSettlesOnce() throws {
        var machine = readyMachine(ReplicaLimits(maximumBatchMessages: 16, maximumBatchBytes: 1 << 20, maximumInFlight: 16))
        let bodies = (0..<5).map { body($0) }
        let action = machine.submitBatch(
            first: 10, bodies: bodies, deadlines: Array(repeating: nil, count: 5), waiter: "batch", isCancelled: false)
        #expect(machine.checkInvariants())
        guard case .queued = action else {
            Issue.record("expected the batch to be queued")
            return
        }
        #expect(try drain(&machine) == [[10, 11, 12, 13, 14]])
        var settled = machine.received(
            [DeliveryAck(sequence: 10, outcome: .accepted), DeliveryAck(sequence: 13, outcome: .failed("no"))], epoch: 0)
        #expect(settled.settlements.isEmpty)
        settled = machine.received(
            [DeliveryAck(sequence: 12, outcome: .failed("bad")), DeliveryAck(sequence: 11, outcome: .accepted)], epoch: 0)
        #expect(settled.settlements.isEmpty)
        settled = machine.received(acks([14]), epoch: 0)
        #expect(machine.checkInvariants())
        #expect(settled.settlements.batches.count == 1)
        #expect(settled.settlements.batches.first?.token == "batch")
        #expect(
            settled.settlements.batches.first?.failures
                == [BatchMemberFailure(offset: 2, reason: .rejected("bad")), BatchMemberFailure(offset: 3, reason: .rejected("no"))])
        #expect(machine.batches.isEmpty)
    }

    @Test("a batch larger than the window never exceeds it; its members go out as acks free room")
    func batchBeyondWindow() throws {
        var machine = readyMachine()
        let bodies = (0..<20).map { body($0) }
        _ = machine.submitBatch(first: 1, bodies: bodies, deadlines: Array(repeating: nil, count: 20), waiter: "b", isCancelled: false)
        #expect(machine.checkInvariants())
        #expect(machine.inFlight == 8)
        #expect(machine.waiting.count == 12)
        var written: [UInt64] = []
        var settled: [String] = []
        while written.count < 20 {
            let frames = try drain(&machine).joined()
            written.append(contentsOf: frames)
            let action = machine.received(acks(Array(frames)), epoch: 0)
            #expect(machine.checkInvariants())
            #expect(machine.inFlight <= 8)
            settled.append(contentsOf: action.settlements.batches.map(\.token))
        }
        #expect(written == Array(1...20))
        #expect(settled == ["b"])
    }

    // MARK: Failures

    @Test("while backing off or closed a message fails at once with unavailable, naming the reason")
    func failFastWhenDown() {
        var machine = readyMachine()
        _ = machine.streamFailed(reason: "broken")
        #expect(machine.phase == .backingOff(reason: "broken"))
        guard case .fail(.unavailable("broken")) = machine.submit(
            sequence: 1, kind: .send, body: body(), deadline: nil, sender: "s", isCancelled: false)
        else {
            Issue.record("a backing-off connection refuses messages")
            return
        }
        _ = machine.stop(reason: "removed")
        guard case .fail(.unavailable("removed")) = machine.submitBatch(
            first: 2, bodies: [body()], deadlines: [nil], waiter: "b", isCancelled: false)
        else {
            Issue.record("a closed connection refuses batches")
            return
        }
        #expect(machine.pending.isEmpty)
        #expect(machine.checkInvariants())
    }

    @Test("while connecting messages queue for the stream")
    func queueWhileConnecting() throws {
        var machine = ReplicaMachine(limits: Self.limits)
        let epoch8 = machine.connect()
        #expect(epoch8 == 0)
        #expect(machine.phase == .connecting)
        send(&machine, 1)
        machine.streamOpened(epoch: 0)
        #expect(machine.phase == .ready)
        #expect(try drain(&machine) == [[1]])
    }

    @Test("a broken stream fails every pending message and batch with unavailable and empties the window")
    func streamFailure() throws {
        var machine = readyMachine()
        for sequence in 1...10 { send(&machine, UInt64(sequence)) }
        _ = machine.submitBatch(first: 11, bodies: [body(), body()], deadlines: [nil, nil], waiter: "b", isCancelled: false)
        _ = try drain(&machine)
        let parked9 = machine.parkWriter("writer", epoch: 0, isCancelled: false)
        #expect(parked9)
        let (settlements, writer) = machine.streamFailed(reason: "gone")
        #expect(machine.checkInvariants())
        #expect(writer == "writer")
        #expect(Set(settlements.singles.map(\.token)) == Set((1...10).map { "s\($0)" }))
        #expect(settlements.singles.allSatisfy { $0.outcome == .failure(.unavailable("gone")) })
        #expect(settlements.batches.map(\.token) == ["b"])
        #expect(settlements.batches.first?.failures.map(\.offset) == [0, 1])
        #expect(machine.inFlight == 0)
        #expect(machine.waiting.isEmpty && machine.frames.isEmpty && machine.pending.isEmpty)
        #expect(machine.earliestDeadline == nil)
        // The next attempt is a new epoch: the old writer's frames end.
        guard case .end = machine.nextFrame(epoch: 0) else {
            Issue.record("the old stream's writer ends")
            return
        }
        let epoch10 = machine.connect()
        #expect(epoch10 == 1)
        #expect(machine.phase == .connecting)
    }

    @Test("a cancelled sender is not queued; a cancelled one in line is settled at once and never takes room in the window")
    func cancellation() throws {
        var machine = readyMachine(ReplicaLimits(maximumBatchMessages: 4, maximumBatchBytes: 4096, maximumInFlight: 1))
        guard case .fail(.cancelled) = machine.submit(
            sequence: 1, kind: .send, body: body(), deadline: nil, sender: "s1", isCancelled: true)
        else {
            Issue.record("a cancelled task's message is refused")
            return
        }
        send(&machine, 2)
        send(&machine, 3)
        #expect(machine.waiting.map(\.sequence) == [3])
        let cancelled = machine.cancel(first: 3, count: 1)
        #expect(machine.checkInvariants())
        #expect(cancelled.singles.map(\.token) == ["s3"])
        #expect(cancelled.singles.first?.outcome == .failure(.cancelled))
        // Cancelling one already in the outbox settles it, but its room is freed by its ack only.
        let written = machine.cancel(first: 2, count: 1)
        #expect(written.singles.map(\.token) == ["s2"])
        #expect(machine.inFlight == 1)
        #expect(try drain(&machine) == [[2]])
        let late = machine.received(acks([2]), epoch: 0)
        #expect(late.settlements.isEmpty)
        #expect(machine.inFlight == 0, "the cancelled message in line never takes room")
        #expect(machine.waiting.isEmpty)
        #expect(try drain(&machine) == [])
        let settledAgain = machine.cancel(first: 2, count: 2)
        #expect(settledAgain.isEmpty, "each sender is settled once")
    }

    @Test("acks of an older stream are ignored")
    func staleAcks() {
        var machine = readyMachine()
        send(&machine, 1)
        _ = machine.responseEnded(epoch: 0)
        let action = machine.received(acks([1]), epoch: 0)
        #expect(action.settlements.isEmpty)
        #expect(machine.pending.count == 1)
        #expect(machine.checkInvariants())
    }

    // MARK: Stream life

    @Test("when the response side ends the parked writer is woken and its stream's frames end")
    func responseEnds() {
        var machine = readyMachine()
        let parked12 = machine.parkWriter("writer", epoch: 0, isCancelled: false)
        #expect(parked12)
        let woken13 = machine.responseEnded(epoch: 0)
        #expect(woken13 == "writer")
        let woken14 = machine.responseEnded(epoch: 0)
        #expect(woken14 == nil, "only the current stream's end counts")
        guard case .end = machine.nextFrame(epoch: 0) else {
            Issue.record("the writer of an ended stream stops")
            return
        }
        #expect(machine.checkInvariants())
    }

    @Test("after stop the writer drains the outbox, then ends; acks still settle what was written; no new attempt starts")
    func stopDrains() throws {
        var machine = readyMachine()
        send(&machine, 1)
        send(&machine, 2)
        let woken15 = machine.stop(reason: "bye")
        #expect(woken15 == nil)
        #expect(machine.phase == .closed(reason: "bye"))
        #expect(try drain(&machine) == [[1, 2]])
        guard case .end = machine.nextFrame(epoch: 0) else {
            Issue.record("a closing connection's writer ends once the outbox is empty")
            return
        }
        let action = machine.received(acks([1, 2]), epoch: 0)
        #expect(action.settlements.singles.map(\.token) == ["s1", "s2"])
        let epoch16 = machine.connect()
        #expect(epoch16 == nil)
        _ = machine.streamFailed(reason: "closed")
        #expect(machine.phase == .closed(reason: "bye"), "closed stays closed")
        #expect(machine.checkInvariants())
    }

    @Test("the stream of an older attempt does not make the connection ready")
    func staleOpen() {
        var machine = ReplicaMachine(limits: Self.limits)
        let epoch17 = machine.connect()
        #expect(epoch17 == 0)
        _ = machine.streamFailed(reason: "refused")
        let epoch18 = machine.connect()
        #expect(epoch18 == 1)
        machine.streamOpened(epoch: 0)
        #expect(machine.phase == .connecting)
        machine.streamOpened(epoch: 1)
        #expect(machine.phase == .ready)
    }

    // MARK: Deadlines

    @Test("the earliest deadline in flight is tracked: only an earlier one asks the timer to re-arm")
    func earliestDeadline() {
        var machine = readyMachine()
        let now = Date(timeIntervalSince1970: 1_000)
        #expect(machine.earliestDeadline == nil)
        #expect(send(&machine, 1).earlierDeadline == false, "no deadline, no timer")
        #expect(send(&machine, 2, deadline: now + 10).earlierDeadline)
        #expect(send(&machine, 3, deadline: now + 20).earlierDeadline == false)
        #expect(send(&machine, 4, deadline: now + 5).earlierDeadline)
        #expect(machine.earliestDeadline == now + 5)
        let bodies = [body(), body()]
        guard case .queued(_, let earlier) = machine.submitBatch(
            first: 5, bodies: bodies, deadlines: [now + 30, now + 1], waiter: "b", isCancelled: false)
        else {
            Issue.record("expected the batch queued")
            return
        }
        #expect(earlier)
        #expect(machine.earliestDeadline == now + 1)
        #expect(machine.checkInvariants())
    }

    @Test("expiry fails exactly the messages whose deadline passed and returns the next deadline, or none")
    func expiry() throws {
        var machine = readyMachine()
        let now = Date(timeIntervalSince1970: 1_000)
        send(&machine, 1, deadline: now + 1)
        send(&machine, 2)
        send(&machine, 3, deadline: now + 3)
        _ = machine.submitBatch(
            first: 4, bodies: [body(), body()], deadlines: [now + 2, nil], waiter: "b", isCancelled: false)

        var (settlements, next) = machine.expire(now: now)
        #expect(settlements.isEmpty)
        #expect(next == now + 1)

        (settlements, next) = machine.expire(now: now + 2)
        #expect(machine.checkInvariants())
        #expect(settlements.singles.map(\.token) == ["s1"])
        #expect(settlements.singles.first?.outcome == .failure(.deadlineExceeded))
        #expect(settlements.batches.isEmpty, "the batch still waits for its other member")
        #expect(next == now + 3)

        _ = try drain(&machine)
        let acked = machine.received(acks([1, 2, 3, 4, 5]), epoch: 0)
        #expect(acked.settlements.singles.map(\.token) == ["s2", "s3"])
        #expect(acked.settlements.batches.first?.failures == [BatchMemberFailure(offset: 0, reason: .deadlineExceeded)])
        #expect(machine.inFlight == 0)

        (settlements, next) = machine.expire(now: now + 10)
        #expect(settlements.isEmpty)
        #expect(next == nil, "nothing in flight has a deadline: the timer sleeps until told")
    }

    @Test("an expired message waiting in line never reaches the outbox")
    func expiredWaiting() throws {
        var machine = readyMachine(ReplicaLimits(maximumBatchMessages: 4, maximumBatchBytes: 4096, maximumInFlight: 1))
        let now = Date(timeIntervalSince1970: 1_000)
        send(&machine, 1)
        send(&machine, 2, deadline: now + 1)
        send(&machine, 3)
        let expired = machine.expire(now: now + 1)
        #expect(expired.settlements.singles.map(\.token) == ["s2"])
        #expect(try drain(&machine) == [[1]])
        _ = machine.received(acks([1]), epoch: 0)
        #expect(try drain(&machine) == [[3]])
    }

    // MARK: Every sender is resumed exactly once

    /// A step of the randomized run.
    enum Step: CaseIterable { case send, batch, write, ack, cancel, expire, fail, connect }

    @Test(
        "whatever the order of sends, batches, writes, acks, cancellations, expiries and broken streams, the invariants hold and every sender is resumed exactly once",
        arguments: 0..<40)
    func randomized(seed: UInt64) throws {
        var random = SplitMix(seed: seed)
        let limits = ReplicaLimits(
            maximumBatchMessages: 1 + Int(random.next() % 5), maximumBatchBytes: 2048,
            maximumInFlight: 1 + Int(random.next() % 12))
        var machine = ReplicaMachine(limits: limits)
        let first = machine.connect()
        var epoch = try #require(first)
        machine.streamOpened(epoch: epoch)
        var nextSequence: UInt64 = 1
        var resumed: [String: Int] = [:]
        var submitted: Set<String> = []
        var written: [UInt64] = []
        let now = Date(timeIntervalSince1970: 0)
        var clock = 0.0

        func take(_ settlements: ReplicaMachine.Settlements) {
            for (token, _) in settlements.singles { resumed[token, default: 0] += 1 }
            for (token, _) in settlements.batches { resumed[token, default: 0] += 1 }
        }

        for _ in 0..<400 {
            switch Step.allCases[Int(random.next() % UInt64(Step.allCases.count))] {
            case .send:
                let sequence = nextSequence
                nextSequence += 1
                let deadline = random.next() % 3 == 0 ? now + clock + Double(random.next() % 5) : nil
                switch machine.submit(
                    sequence: sequence, kind: .send, body: body(Int(sequence)), deadline: deadline, sender: "s\(sequence)",
                    isCancelled: random.next() % 20 == 0)
                {
                case .queued: submitted.insert("s\(sequence)")
                case .fail: break
                }
            case .batch:
                let count = 1 + Int(random.next() % 6)
                let first = nextSequence
                nextSequence += UInt64(count)
                let deadlines = (0..<count).map { _ in random.next() % 4 == 0 ? now + clock + Double(random.next() % 5) : nil }
                switch machine.submitBatch(
                    first: first, bodies: (0..<count).map { body($0) }, deadlines: deadlines, waiter: "b\(first)",
                    isCancelled: false)
                {
                case .queued: submitted.insert("b\(first)")
                case .fail: break
                }
            case .write:
                if case .write(let frame) = machine.nextFrame(epoch: epoch) {
                    written.append(contentsOf: try sequences(frame))
                }
            case .ack:
                let count = min(written.count, 1 + Int(random.next() % 4))
                let acked = Array(written.prefix(count))
                written.removeFirst(count)
                let outcome: DeliveryOutcome = random.next() % 5 == 0 ? .failed("no") : .accepted
                take(machine.received(acks(acked, outcome), epoch: epoch).settlements)
            case .cancel:
                if nextSequence > 1 {
                    let first = 1 + random.next() % (nextSequence - 1)
                    take(machine.cancel(first: first, count: 1 + Int(random.next() % 3)))
                }
            case .expire:
                clock += Double(random.next() % 3)
                take(machine.expire(now: now + clock).settlements)
            case .fail:
                take(machine.streamFailed(reason: "broken").settlements)
                written.removeAll()
            case .connect:
                if case .backingOff = machine.phase {
                    let next = machine.connect()
                    epoch = try #require(next)
                    if random.next() % 2 == 0 { machine.streamOpened(epoch: epoch) }
                }
            }
            #expect(machine.checkInvariants(), "seed \(seed)")
            #expect(resumed.values.allSatisfy { $0 == 1 }, "seed \(seed): a token resumed twice")
        }
        take(machine.streamFailed(reason: "end").settlements)
        #expect(machine.checkInvariants())
        #expect(Set(resumed.keys) == submitted, "seed \(seed): every queued sender and batch is resumed")
        #expect(resumed.values.allSatisfy { $0 == 1 })
    }
}

/// A small deterministic random number generator for reproducible runs.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension ReplicaConnectionStateMachine {
    /// Offers one message whose body is an array (the tests' shorthand).
    mutating func submit(
        sequence: UInt64, kind: DeliveryKind, body: [UInt8], deadline: Date?, sender: Sender, isCancelled: Bool
    ) -> SubmitAction {
        submit(sequence: sequence, kind: kind, body: body[...], deadline: deadline, sender: sender, isCancelled: isCancelled)
    }

    /// Offers a batch whose bodies are arrays (the tests' shorthand).
    mutating func submitBatch(
        first: UInt64, bodies: [[UInt8]], deadlines: [Date?], waiter: Batch, isCancelled: Bool
    ) -> SubmitAction {
        var encoded = EncodedBodies(reservingCapacity: bodies.count)
        for body in bodies { encoded.appendEncoded(body) }
        return submitBatch(first: first, bodies: encoded, deadlines: deadlines, waiter: waiter, isCancelled: isCancelled)
    }
}
