import Synchronization
import Testing

@testable import AsyncPrimitives

@Suite("ChangeNotifierStateMachine: who has a change to take")
struct ChangeNotifierStateMachineTests {
    typealias Machine = ChangeNotifierStateMachine<String>

    @Test("a new subscriber takes the current state at once, then waits")
    func newSubscriberStartsPending() {
        var machine = Machine()
        let id = machine.subscribe()
        #expect(machine.take(id, waiter: "a") == .proceed)
        #expect(machine.take(id, waiter: "a") == .suspend)
        machine.checkInvariants()
    }

    @Test("a change wakes the waiting subscriber once; further changes coalesce")
    func changesCoalesce() {
        var machine = Machine()
        let id = machine.subscribe()
        _ = machine.take(id, waiter: "a")
        #expect(machine.take(id, waiter: "a") == .suspend)
        #expect(!machine.everyoneTold)
        #expect(machine.changed() == ["a"])
        #expect(machine.everyoneTold)
        #expect(machine.changed() == [])
        machine.consume(id)
        machine.checkInvariants()
        #expect(machine.take(id, waiter: "a") == .suspend)
    }

    @Test("a change made while nobody waits is kept for the next look")
    func changeWithoutWaiterIsKept() {
        var machine = Machine()
        let id = machine.subscribe()
        _ = machine.take(id, waiter: "a")
        #expect(machine.changed() == [])
        #expect(machine.take(id, waiter: "a") == .proceed)
        machine.checkInvariants()
    }

    @Test("every subscriber is told; everyoneTold holds only when all have a change")
    func broadcast() {
        var machine = Machine()
        let first = machine.subscribe()
        let second = machine.subscribe()
        #expect(machine.everyoneTold)
        _ = machine.take(first, waiter: "first")
        #expect(!machine.everyoneTold)
        _ = machine.take(second, waiter: "second")
        #expect(machine.take(first, waiter: "first") == .suspend)
        // The waiting subscriber is woken; the other one keeps the change for its next look.
        #expect(machine.changed() == ["first"])
        #expect(machine.everyoneTold)
        machine.consume(first)
        #expect(machine.take(second, waiter: "second") == .proceed)
        #expect(machine.take(second, waiter: "second") == .suspend)
        #expect(machine.take(first, waiter: "first") == .suspend)
        #expect(machine.changed().sorted() == ["first", "second"])
        machine.checkInvariants()
    }

    @Test("cancelling or unsubscribing hands back the waiter")
    func cancelAndUnsubscribe() {
        var machine = Machine()
        let id = machine.subscribe()
        _ = machine.take(id, waiter: "a")
        _ = machine.take(id, waiter: "a")
        #expect(machine.cancel(id) == "a")
        #expect(machine.cancel(id) == nil)
        _ = machine.take(id, waiter: "b")
        #expect(machine.unsubscribe(id) == "b")
        #expect(machine.everyoneTold)
        #expect(machine.changed() == [])
    }
}

/// A value shared by the tasks of a test.
private final class Shared: Sendable {
    let value = Mutex(0)
}

@Suite("ChangeNotifier: waiting for changes", .timeLimit(.minutes(1)))
struct ChangeNotifierTests {
    @Test("a waiting subscriber wakes on notify and sees the change")
    func wakesOnNotify() async {
        let notifier = ChangeNotifier()
        let shared = Shared()
        let subscription = notifier.subscribe()
        await subscription.next()
        async let seen: Int = {
            await subscription.next()
            return shared.value.withLock { $0 }
        }()
        shared.value.withLock { $0 = 42 }
        notifier.notify()
        #expect(await seen == 42)
        subscription.cancel()
    }

    @Test("no update is missed: the last value a subscriber reads is the last one written")
    func noMissedUpdate() async {
        let notifier = ChangeNotifier()
        let shared = Shared()
        let subscription = notifier.subscribe()
        let total = 20_000
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for index in 1...total {
                    shared.value.withLock { $0 = index }
                    notifier.notify()
                    if index % 1000 == 0 { await Task.yield() }
                }
            }
            group.addTask {
                // Ends only once it has read the final value: a missed change would hang (time limit).
                while true {
                    await subscription.next()
                    if shared.value.withLock({ $0 }) == total { return }
                }
            }
        }
        #expect(shared.value.withLock { $0 } == total)
        subscription.cancel()
    }

    @Test("cancelling a waiting subscriber's task ends its wait")
    func cancellation() async {
        let notifier = ChangeNotifier()
        let subscription = notifier.subscribe()
        await subscription.next()
        let waiter = Task { await subscription.next() }
        waiter.cancel()
        await waiter.value
        subscription.cancel()
    }
}
