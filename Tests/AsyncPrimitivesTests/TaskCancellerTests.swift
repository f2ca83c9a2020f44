import Testing
import TestSupport

@testable import AsyncPrimitives

@Suite("TaskCancellerStateMachine: which tasks a cancel reaches")
struct TaskCancellerStateMachineTests {
    typealias Machine = TaskCancellerStateMachine<String>

    @Test("a cancel hands out every task inside, once; a task that left is not among them")
    func cancelReachesTasksInside() {
        var machine = Machine()
        guard case .entered(let first) = machine.enter("first"), case .entered(let second) = machine.enter("second"),
            case .entered(let third) = machine.enter("third")
        else {
            Issue.record("tasks enter a canceller that was not cancelled")
            return
        }
        #expect(Set([first, second, third]).count == 3)
        machine.leave(second)
        #expect(Set(machine.cancel()) == ["first", "third"])
        #expect(machine.cancel() == [], "a second cancel has nobody left to cancel")
        machine.leave(first)
        #expect(machine.checkInvariants())
    }

    @Test("after a cancel, every task that enters is to cancel itself at once")
    func laterTasksCancelAtOnce() {
        var machine = Machine()
        #expect(machine.cancel() == [])
        #expect(machine.enter("late") == .cancelNow)
        #expect(machine.tasks.isEmpty)
        #expect(machine.checkInvariants())
    }
}

@Suite("TaskCanceller", .timeLimit(.minutes(1)))
struct TaskCancellerTests {
    @Test("cancel() cancels a task waiting inside it, and only that one")
    func cancelsTheTaskInside() async throws {
        let canceller = TaskCanceller()
        let entered = OneShotEvent()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await canceller.run {
                    entered.signal()
                    do {
                        try await Task.sleep(for: .seconds(60))
                        return false
                    } catch is CancellationError {
                        return true
                    }
                }
            }
            await entered.wait()
            canceller.cancel()
            let cancelledInside = try await group.next()
            #expect(cancelledInside == true, "the sleep inside was cancelled")
            #expect(!Task.isCancelled, "the task that called cancel() is not")
        }
    }

    @Test("a task entering a cancelled canceller starts cancelled; a task that left is not cancelled later")
    func enteringAfterCancel() async {
        let before = TaskCanceller()
        await before.run { #expect(!Task.isCancelled) }
        before.cancel()
        #expect(!Task.isCancelled, "it had left")
        let startedCancelled = await Task { await before.run { Task.isCancelled } }.value
        #expect(startedCancelled)
        #expect(before.isCancelled)
    }
}
