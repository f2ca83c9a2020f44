import Testing

@testable import BoundedChannels

/// The state machine driven step by step with plain tokens: producers are `Int`s, the
/// consumer is a `String`. No tasks, no locks.
typealias Machine = BoundedChannelStateMachine<Int, Int, String>

@Suite("BoundedChannel state machine")
struct BoundedChannelStateMachineTests {
    /// Receives up to `maxCount` elements and returns them with the producers to resume.
    private func receive(_ machine: inout Machine, upTo maxCount: Int) -> (batch: [Int], resumed: [Int])? {
        var batch: [Int] = []
        switch machine.receive(into: &batch, upTo: maxCount) {
        case .received(let resumed):
            #expect(!batch.isEmpty)
            return (batch, resumed)
        case .empty, .finished:
            #expect(batch.isEmpty)
            return nil
        }
    }

    private func expectEnqueued(_ action: Machine.SendAction, wake: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .enqueued(let woken) = action else {
            Issue.record("expected .enqueued, got \(action)", sourceLocation: sourceLocation)
            return
        }
        #expect(woken == wake, sourceLocation: sourceLocation)
    }

    private func producerID(_ action: Machine.SendAction, sourceLocation: SourceLocation = #_sourceLocation) -> UInt64? {
        guard case .full(let id) = action else {
            Issue.record("expected .full, got \(action)", sourceLocation: sourceLocation)
            return nil
        }
        return id
    }

    @Test("sends are accepted up to the capacity, then the channel reports full")
    func capacity() {
        var machine = Machine(capacity: 3, lowWatermark: 1)
        for value in 1...3 { expectEnqueued(machine.send(value)) }
        #expect(producerID(machine.send(4)) != nil)
        #expect(machine.count == 3)
        #expect(machine.checkInvariants())
    }

    @Test("a receive takes at most the requested number of elements, in order")
    func batchReceive() throws {
        var machine = Machine(capacity: 8, lowWatermark: 2)
        for value in 1...5 { expectEnqueued(machine.send(value)) }
        #expect(try #require(receive(&machine, upTo: 2)).batch == [1, 2])
        #expect(try #require(receive(&machine, upTo: 10)).batch == [3, 4, 5])
        #expect(receive(&machine, upTo: 10) == nil)
        #expect(machine.checkInvariants())
    }

    @Test("the consumer is woken only on the empty to non-empty transition")
    func wakeOnlyWhenEmpty() {
        var machine = Machine(capacity: 4, lowWatermark: 1)
        var batch: [Int] = []
        guard case .empty = machine.receive(into: &batch, upTo: 4) else {
            Issue.record("an empty channel has nothing to receive")
            return
        }
        let step1 = machine.suspendConsumer("consumer", isCancelled: false)
        #expect(step1 == .suspended)
        expectEnqueued(machine.send(1), wake: "consumer")
        expectEnqueued(machine.send(2), wake: nil)
        #expect(machine.checkInvariants())
    }

    @Test("a consumer does not park when elements arrived, the channel finished or it is cancelled")
    func consumerResumesNow() {
        var machine = Machine(capacity: 2, lowWatermark: 0)
        let step2 = machine.suspendConsumer("c", isCancelled: true)
        #expect(step2 == .resumeNow)
        _ = machine.send(1)
        let step3 = machine.suspendConsumer("c", isCancelled: false)
        #expect(step3 == .resumeNow)
        var finished = Machine(capacity: 2, lowWatermark: 0)
        _ = finished.finish()
        let step4 = finished.suspendConsumer("c", isCancelled: false)
        #expect(step4 == .resumeNow)
        #expect(machine.checkInvariants() && finished.checkInvariants())
    }

    @Test("suspended producers are let in only at the low watermark, in FIFO order, and resumed together")
    func lowWatermark() throws {
        var machine = Machine(capacity: 4, lowWatermark: 1)
        for value in 1...4 { _ = machine.send(value) }
        let first = try #require(producerID(machine.send(5)))
        guard case .suspended(nil) = machine.suspendProducer(id: first, pending: [5], token: 10, isCancelled: false) else {
            Issue.record("a producer that finds the channel full suspends")
            return
        }
        // A later producer queues behind the suspended one even though it only sends one element.
        let second = try #require(producerID(machine.send(6)))
        guard case .suspended(nil) = machine.suspendProducer(id: second, pending: [6, 7], token: 11, isCancelled: false) else {
            Issue.record("a producer queues behind a suspended one")
            return
        }
        #expect(machine.suspendedProducers.count == 2)

        // 4 → 2 elements: above the watermark, nobody is let in.
        var step = try #require(receive(&machine, upTo: 2))
        #expect(step.batch == [1, 2] && step.resumed.isEmpty && machine.count == 2)
        // 2 → 1 element: at the watermark, both producers fit and are resumed in one go.
        step = try #require(receive(&machine, upTo: 1))
        #expect(step.batch == [3] && step.resumed == [10, 11])
        #expect(machine.count == 4 && machine.suspendedProducers.isEmpty)
        #expect(try #require(receive(&machine, upTo: 10)).batch == [4, 5, 6, 7])
        #expect(machine.checkInvariants())
    }

    @Test("a batch larger than the room is accepted in parts and its producer resumes after the last part")
    func largeBatch() throws {
        var machine = Machine(capacity: 3, lowWatermark: 0)
        var elements: ArraySlice = [1, 2, 3, 4, 5, 6, 7]
        let (action, wake) = machine.send(contentsOf: &elements)
        #expect(wake == nil)
        let id = try #require(producerID(action))
        #expect(Array(elements) == [4, 5, 6, 7])
        _ = machine.suspendProducer(id: id, pending: elements, token: 1, isCancelled: false)
        var step = try #require(receive(&machine, upTo: 10))
        #expect(step.batch == [1, 2, 3] && step.resumed.isEmpty)
        #expect(machine.suspendedProducers.first?.pending == [7])
        step = try #require(receive(&machine, upTo: 10))
        #expect(step.batch == [4, 5, 6] && step.resumed == [1])
        #expect(try #require(receive(&machine, upTo: 10)).batch == [7])
        #expect(machine.checkInvariants())
    }

    @Test("a batch that fills an empty channel wakes the waiting consumer even if its producer must wait")
    func partialBatchWakesConsumer() throws {
        var machine = Machine(capacity: 2, lowWatermark: 0)
        let step5 = machine.suspendConsumer("c", isCancelled: false)
        #expect(step5 == .suspended)
        var elements: ArraySlice = [1, 2, 3]
        let (action, wake) = machine.send(contentsOf: &elements)
        #expect(wake == "c")
        #expect(producerID(action) != nil)
        #expect(machine.waitingConsumer == nil)
    }

    @Test("a producer that finds room when it comes to suspend is accepted at once")
    func roomBeforeSuspending() throws {
        var machine = Machine(capacity: 1, lowWatermark: 0)
        _ = machine.send(1)
        let id = try #require(producerID(machine.send(2)))
        _ = receive(&machine, upTo: 1)
        guard case .resume(.accepted, nil) = machine.suspendProducer(id: id, pending: [2], token: 1, isCancelled: false) else {
            Issue.record("the producer should have been accepted")
            return
        }
        #expect(try #require(receive(&machine, upTo: 1)).batch == [2])
    }

    @Test("a producer cancelled before it suspends is not queued and gets its elements back")
    func cancelledBeforeSuspending() throws {
        var machine = Machine(capacity: 1, lowWatermark: 0)
        _ = machine.send(1)
        let id = try #require(producerID(machine.send(2)))
        guard case .resume(.cancelled(let unsent), nil) = machine.suspendProducer(id: id, pending: [2], token: 1, isCancelled: true) else {
            Issue.record("a cancelled producer must not suspend")
            return
        }
        #expect(unsent == [2])
        #expect(machine.suspendedProducers.isEmpty)
        let step6 = machine.cancelProducer(id: id)
        #expect(step6 == nil)
    }

    @Test("cancelling a suspended producer removes it and hands back its unsent elements")
    func cancelSuspendedProducer() throws {
        var machine = Machine(capacity: 1, lowWatermark: 0)
        _ = machine.send(1)
        let a = try #require(producerID(machine.send(2)))
        _ = machine.suspendProducer(id: a, pending: [2, 3], token: 1, isCancelled: false)
        let b = try #require(producerID(machine.send(4)))
        _ = machine.suspendProducer(id: b, pending: [4], token: 2, isCancelled: false)
        let step7 = machine.cancelProducer(id: a)
        let cancelled = try #require(step7)
        #expect(cancelled.token == 1 && cancelled.unsent == [2, 3])
        let step8 = machine.cancelProducer(id: a)
        #expect(step8 == nil)
        let step = try #require(receive(&machine, upTo: 1))
        #expect(step.batch == [1] && step.resumed == [2])
        #expect(try #require(receive(&machine, upTo: 1)).batch == [4])
        #expect(machine.checkInvariants())
    }

    @Test("finish refuses new elements, returns waiting producers with their elements and lets the consumer drain")
    func finish() throws {
        var machine = Machine(capacity: 2, lowWatermark: 0)
        _ = machine.send(1)
        _ = machine.send(2)
        let id = try #require(producerID(machine.send(3)))
        _ = machine.suspendProducer(id: id, pending: [3], token: 7, isCancelled: false)
        let action = machine.finish()
        #expect(action.consumer == nil)
        #expect(action.producers.map(\.token) == [7] && action.producers.map { Array($0.unsent) } == [[3]])
        guard case .finished = machine.send(4) else {
            Issue.record("a finished channel refuses elements")
            return
        }
        var batch: ArraySlice = [5]
        let step9 = machine.send(contentsOf: &batch).action.isFinished
        #expect(step9)
        guard case .resume(.finished(let unsent), nil) = machine.suspendProducer(id: 99, pending: [6], token: 8, isCancelled: false) else {
            Issue.record("a producer must not suspend on a finished channel")
            return
        }
        #expect(unsent == [6])
        #expect(try #require(receive(&machine, upTo: 10)).batch == [1, 2])
        var rest: [Int] = []
        guard case .finished = machine.receive(into: &rest, upTo: 1) else {
            Issue.record("a drained finished channel ends")
            return
        }
        let step10 = machine.finish().producers.isEmpty
        #expect(step10)
        #expect(machine.checkInvariants())
    }

    @Test("finish wakes a waiting consumer")
    func finishWakesConsumer() {
        var machine = Machine(capacity: 2, lowWatermark: 0)
        let step11 = machine.suspendConsumer("c", isCancelled: false)
        #expect(step11 == .suspended)
        let step12 = machine.finish().consumer
        #expect(step12 == "c")
        #expect(machine.checkInvariants())
    }

    @Test("cancelling the consumer takes it out")
    func cancelConsumer() {
        var machine = Machine(capacity: 2, lowWatermark: 0)
        let step13 = machine.cancelConsumer()
        #expect(step13 == nil)
        let step14 = machine.suspendConsumer("c", isCancelled: false)
        #expect(step14 == .suspended)
        let step15 = machine.cancelConsumer()
        #expect(step15 == "c")
        #expect(machine.waitingConsumer == nil)
    }

    @Test(
        "random operations never break the invariants or lose, duplicate or reorder an element",
        arguments: [(1, 0), (2, 1), (5, 2), (16, 0), (16, 15)]
    )
    func randomWalk(capacity: Int, lowWatermark: Int) throws {
        var generator = SplitMix64(seed: UInt64(capacity * 31 + lowWatermark))
        var machine = Machine(capacity: capacity, lowWatermark: lowWatermark)
        // Producer p sends p * 1_000_000 + n for n = 0, 1, 2, …; suspended ones hold a token = p.
        let producers = 4
        var nextValue = Array(repeating: 0, count: producers)
        var suspended = Set<Int>()
        var idOf: [Int: UInt64] = [:]
        var lastSeen = Array(repeating: -1, count: producers)
        var received = 0
        var returned = 0

        for _ in 0..<5_000 {
            let p = Int(generator.next() % UInt64(producers))
            let choice = generator.next() % 5
            if choice < 2, !suspended.contains(p) {
                let n = Int(generator.next() % 4) + 1
                let values = (0..<n).map { p * 1_000_000 + nextValue[p] + $0 }
                nextValue[p] += n
                var pending = values[...]
                let (action, _) = machine.send(contentsOf: &pending)
                switch action {
                case .enqueued: break
                case .full(let id):
                    if case .suspended = machine.suspendProducer(id: id, pending: pending, token: p, isCancelled: false) {
                        suspended.insert(p)
                        idOf[p] = id
                    }
                case .finished: Issue.record("never finished here")
                }
            } else if choice == 2, suspended.contains(p) {
                // Cancelled: the values it had not handed over leave this producer's stream.
                let cancelled = machine.cancelProducer(id: idOf[p]!)
                let (token, unsent) = try #require(cancelled)
                #expect(token == p)
                suspended.remove(p)
                returned += unsent.count
            } else {
                var batch: [Int] = []
                if case .received(let resumed) = machine.receive(into: &batch, upTo: Int(generator.next() % 6) + 1) {
                    for token in resumed { suspended.remove(token) }
                    for value in batch {
                        let producer = value / 1_000_000
                        #expect(value % 1_000_000 > lastSeen[producer], "per-producer order")
                        lastSeen[producer] = value % 1_000_000
                    }
                    received += batch.count
                }
            }
            #expect(machine.checkInvariants())
            #expect(Set(machine.suspendedProducers.map(\.token)) == suspended)
        }
        let pendingInProducers = machine.suspendedProducers.reduce(0) { $0 + $1.pending.count }
        // Every value produced was received, is in the buffer, is held by a suspended
        // producer, or was handed back on cancellation.
        let produced = nextValue.reduce(0, +)
        #expect(received + machine.count + pendingInProducers + returned == produced)
        #expect(received > 0 && returned > 0)
    }
}

extension BoundedChannelStateMachine.SendAction {
    var isFinished: Bool {
        if case .finished = self { return true }
        return false
    }
}

/// A small deterministic random number generator, so the random walk is reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
