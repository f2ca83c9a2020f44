@testable import MessageStoreAPI
import Testing

private let queue = DurableQueue(namespace: "default", node: "counter", port: "in")
private let otherQueue = DurableQueue(namespace: "default", node: "logger", port: "in")

/// ``QueueSignals``: waiters wake on a signal given after the generation they read, never miss
/// one given before they parked, and return on cancellation or at their deadline.
@Suite("Queue signals", .timeLimit(.minutes(1)))
struct QueueSignalsTests {
    @Test("a signal changes its own key's generation and no other key's")
    func generations() {
        let signals = QueueSignals()
        let keys: [QueueSignals.Key] = [.work(queue), .space(queue), .work(otherQueue), .space(otherQueue)]
        let before = keys.map(signals.generation)
        signals.signal(.work(queue))
        let afterOne = keys.map(signals.generation)
        #expect(afterOne[0] != before[0])
        #expect(Array(afterOne[1...]) == Array(before[1...]))
        signals.signal([.work(queue), .space(otherQueue)])
        let afterTwo = keys.map(signals.generation)
        #expect(afterTwo[0] != afterOne[0] && afterTwo[3] != afterOne[3])
        #expect(afterTwo[1] == before[1] && afterTwo[2] == before[2])
    }

    @Test("a signal given between reading the generation and waiting is not lost: the wait returns at once")
    func signalBeforeWaitIsNotLost() async {
        let signals = QueueSignals()
        let seen = signals.generation(.work(queue))
        signals.signal(.work(queue))
        await signals.wait(for: .work(queue), after: seen)
        #expect(signals.generation(.work(queue)) != seen)
    }

    @Test("a waiter wakes when its key is signalled, before its deadline")
    func waiterWakesOnSignal() async {
        let signals = QueueSignals()
        let seen = signals.generation(.space(queue))
        let deadline = ContinuousClock.now + .seconds(30)
        let waiter = Task { await signals.wait(for: .space(queue), after: seen, until: deadline) }
        signals.signal(.space(queue))
        await waiter.value
        #expect(ContinuousClock.now < deadline)
    }

    @Test("a signal of another key does not end a wait: the deadline does")
    func otherKeysDoNotWake() async {
        let signals = QueueSignals()
        let seen = signals.generation(.work(queue))
        let deadline = ContinuousClock.now + .milliseconds(100)
        signals.signal([.space(queue), .work(otherQueue)])
        await signals.wait(for: .work(queue), after: seen, until: deadline)
        #expect(ContinuousClock.now >= deadline)
        #expect(signals.generation(.work(queue)) == seen)
    }

    @Test("cancelling a waiting task resumes it without a signal and leaves nothing behind")
    func cancellationResumes() async {
        let signals = QueueSignals()
        let seen = signals.generation(.work(queue))
        let waiter = Task { await signals.wait(for: .work(queue), after: seen) }
        waiter.cancel()
        await waiter.value
        #expect(signals.generation(.work(queue)) == seen)
        #expect(signals.isIdle, "the cancelled waiter is not kept")
    }

    @Test("a wait by a task cancelled before it began returns at once and leaves nothing behind")
    func alreadyCancelledWait() async {
        let signals = QueueSignals()
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await signals.wait(for: .work(queue), after: signals.generation(.work(queue)))
        }
        await waiter.value
        #expect(signals.isIdle)
    }

    @Test("a wait with a deadline returns at the deadline when nothing is signalled")
    func deadlineReturns() async {
        let signals = QueueSignals()
        let seen = signals.generation(.work(queue))
        let deadline = ContinuousClock.now + .milliseconds(50)
        await signals.wait(for: .work(queue), after: seen, until: deadline)
        #expect(ContinuousClock.now >= deadline)
        #expect(signals.generation(.work(queue)) == seen)
        #expect(signals.isIdle, "the waiter is gone once the wait returned")
    }

    @Test("forget wakes the queue's waiters — parked already or about to — and keeps nothing of it")
    func forgetWakesAndEmpties() async {
        let signals = QueueSignals()
        signals.signal([.work(queue), .space(queue), .work(otherQueue)])
        let seen = signals.generation(.work(queue))
        let otherSeen = signals.generation(.work(otherQueue))
        // Whether the waiter parks before or after the forgetting, it returns.
        let waiter = Task { await signals.wait(for: .work(queue), after: seen) }
        signals.forget(queue)
        await waiter.value
        #expect(signals.generation(.work(queue)) != seen)
        #expect(signals.generation(.work(otherQueue)) == otherSeen)
        signals.forget(otherQueue)
        #expect(signals.isIdle)
    }
}

/// ``QueueSignalsStateMachine`` without tasks or locks: every interleaving of parking,
/// signalling, forgetting and cancelling, step by step.
@Suite("Queue signals state machine")
struct QueueSignalsStateMachineTests {
    typealias Machine = QueueSignalsStateMachine<String, String>

    @Test("a waiter parks while its key is at the generation it saw, and a signal hands it back, once")
    func parkThenSignal() {
        var machine = Machine()
        let seen = machine.generation("a")
        let parked = machine.park("waiter", id: machine.reserve(), for: "a", after: seen)
        #expect(parked)
        #expect(machine.signal("b") == [])
        #expect(machine.generation("a") == seen)
        #expect(machine.signal("a") == ["waiter"])
        #expect(machine.generation("a") != seen)
        #expect(machine.signal("a") == [])
    }

    @Test("a waiter that saw an older generation does not park: it was signalled meanwhile")
    func signalledBeforeParking() {
        var machine = Machine()
        let seen = machine.generation("a")
        let id = machine.reserve()
        #expect(machine.signal("a") == [])
        let parked = machine.park("waiter", id: id, for: "a", after: seen)
        #expect(!parked)
        #expect(machine.signal("a") == [], "a refused waiter is not kept")
    }

    @Test("a signal hands back every waiter of its key and none of another key's")
    func signalWakesAllOfItsKey() {
        var machine = Machine()
        var parked: [Bool] = []
        for name in ["a1", "a2", "a3"] { parked.append(machine.park(name, id: machine.reserve(), for: "a", after: 0)) }
        parked.append(machine.park("b1", id: machine.reserve(), for: "b", after: 0))
        #expect(parked == [true, true, true, true])
        #expect(machine.signal("a").sorted() == ["a1", "a2", "a3"])
        #expect(machine.signal("b") == ["b1"])
    }

    @Test("a waiter cancelled after parking is handed back by the cancellation and not by a later signal")
    func cancelAfterParking() {
        var machine = Machine()
        let id = machine.reserve()
        let parked = machine.park("waiter", id: id, for: "a", after: 0)
        #expect(parked)
        #expect(machine.cancel(id, for: "a") == "waiter")
        #expect(machine.cancel(id, for: "a") == nil)
        #expect(machine.signal("a") == [])
    }

    @Test("a cancellation that comes before the parking makes the parking refuse, and is then forgotten")
    func cancelBeforeParking() {
        var machine = Machine()
        let id = machine.reserve()
        #expect(machine.cancel(id, for: "a") == nil)
        let parked = machine.park("waiter", id: id, for: "a", after: 0)
        #expect(!parked)
        #expect(machine.isEmpty, "the cancelled id is not remembered once its parking refused")
    }

    @Test("a cancellation after the waiter was signalled finds nothing and leaves nothing behind")
    func cancelAfterSignal() {
        var machine = Machine()
        let id = machine.reserve()
        let parked = machine.park("waiter", id: id, for: "a", after: 0)
        #expect(parked)
        #expect(machine.signal("a") == ["waiter"])
        #expect(machine.cancel(id, for: "a") == nil)
        _ = machine.forget("a")
        #expect(machine.isEmpty)
    }

    @Test("forget hands back the key's waiters and drops its entry; with every key forgotten the machine is empty")
    func forgetEmpties() {
        var machine = Machine()
        _ = machine.signal("a")
        _ = machine.signal("b")
        let seenA = machine.generation("a")
        let seenB = machine.generation("b")
        let parked = machine.park("waiter", id: machine.reserve(), for: "a", after: seenA)
        #expect(parked)
        #expect(!machine.isEmpty)
        #expect(machine.forget("a") == ["waiter"])
        #expect(machine.generation("a") != seenA)
        #expect(machine.generation("b") == seenB)
        #expect(!machine.isEmpty)
        #expect(machine.forget("b") == [])
        #expect(machine.isEmpty)
    }

    @Test("a waiter that read a generation before its key was forgotten does not park after, however often the key was signalled since")
    func noWakeUpLostAcrossForget() {
        var machine = Machine()
        // Read before any signal, then the key is signalled and forgotten.
        let fresh = machine.generation("a")
        _ = machine.signal("a")
        _ = machine.forget("a")
        let parkedFresh = machine.park("fresh", id: machine.reserve(), for: "a", after: fresh)
        #expect(!parkedFresh)

        // Read after a signal; forgotten, then signalled as many times again.
        _ = machine.signal("a")
        let seen = machine.generation("a")
        _ = machine.forget("a")
        _ = machine.signal("a")
        let parkedSeen = machine.park("seen", id: machine.reserve(), for: "a", after: seen)
        #expect(!parkedSeen)

        // Read after the forgetting: parks until the next signal.
        _ = machine.forget("a")
        let current = machine.generation("a")
        let parkedCurrent = machine.park("current", id: machine.reserve(), for: "a", after: current)
        #expect(parkedCurrent)
        #expect(machine.signal("a") == ["current"])
    }

    @Test("generations never come back: a key forgotten and signalled again gets new ones")
    func generationsNeverRepeat() {
        var machine = Machine()
        var seen: Set<UInt64> = [machine.generation("a")]
        for step in 0..<20 {
            if step % 3 == 2 { _ = machine.forget("a") } else { _ = machine.signal(step % 2 == 0 ? "a" : "b") }
            let generation = machine.generation("a")
            if step % 2 == 0 || step % 3 == 2 { #expect(seen.insert(generation).inserted, "step \(step)") }
        }
    }
}
