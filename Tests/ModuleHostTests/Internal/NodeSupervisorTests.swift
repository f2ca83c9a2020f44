import AsyncPrimitives
import Synchronization
import TestSupport
import Testing

@testable import ModuleHost

@Suite("Node supervisor", .timeLimit(.minutes(1)))
struct NodeSupervisorTests {
    /// A `run` that counts its starts and ends, and waits until it is cancelled.
    private final class Runs: Sendable {
        let started = Mutex(0)
        let ended = Mutex(0)

        func run() async {
            started.withLock { $0 += 1 }
            try? await Task.sleep(for: .seconds(3600))
            ended.withLock { $0 += 1 }
        }
    }

    @Test("a restart request cancels run and runs it again; a stop request ends the run loop")
    func restartThenStop() async throws {
        let supervisor = NodeSupervisor(statusChanges: ChangeNotifier())
        supervisor.settingsDelivered()
        let runs = Runs()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await supervisor.superviseRun { await runs.run() } }
            try await eventually("run started") { runs.started.withLock { $0 } == 1 }
            supervisor.requestRestart()
            try await eventually("run started again") { runs.started.withLock { $0 } == 2 }
            #expect(runs.ended.withLock { $0 } == 1)
            supervisor.requestStop()
            try await group.waitForAll()
        }
        #expect(runs.ended.withLock { $0 } == 2)
        #expect(supervisor.state == .draining)
    }

    @Test("a stop requested at any moment of the run loop's start ends it: no stop is missed")
    func stopIsNeverMissed() async {
        // The stop races the run loop's first question and its first wait; a missed stop hangs here.
        for _ in 0..<500 {
            let supervisor = NodeSupervisor(statusChanges: ChangeNotifier())
            await withDiscardingTaskGroup { group in
                group.addTask { await supervisor.superviseRun { try? await Task.sleep(for: .seconds(3600)) } }
                group.addTask { supervisor.requestRestart() }
                group.addTask { supervisor.requestStop() }
            }
        }
    }

    @Test("a run loop that starts after the stop runs run once, cancelled from the start: it can hand on what the node holds")
    func stoppedBeforeStart() async {
        let supervisor = NodeSupervisor(statusChanges: ChangeNotifier())
        supervisor.requestStop()
        let runs = Runs()
        // Would sleep an hour if it were not cancelled.
        await supervisor.superviseRun { await runs.run() }
        #expect(runs.started.withLock { $0 } == 1)
        #expect(runs.ended.withLock { $0 } == 1)
    }

    @Test("cancelling the task of the run loop cancels run and ends the loop")
    func cancellationEndsRunLoop() async throws {
        let supervisor = NodeSupervisor(statusChanges: ChangeNotifier())
        let runs = Runs()
        let loop = Task { await supervisor.superviseRun { await runs.run() } }
        try await eventually("run started") { runs.started.withLock { $0 } == 1 }
        loop.cancel()
        await loop.value
        #expect(runs.started.withLock { $0 } == 1)
        #expect(runs.ended.withLock { $0 } == 1)
    }

    @Test("waiting for the stop returns once the node's tasks ended, at once if they already did")
    func waitUntilStopped() async throws {
        let supervisor = NodeSupervisor(statusChanges: ChangeNotifier())
        supervisor.requestStop()
        let runs = Runs()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await supervisor.waitUntilStopped()
                runs.ended.withLock { $0 += 1 }
            }
            try await Task.sleep(for: .milliseconds(20))
            #expect(runs.ended.withLock { $0 } == 0, "still draining")
            supervisor.drained()
            try await group.waitForAll()
        }
        #expect(supervisor.hasStopped)
        await supervisor.waitUntilStopped()
    }

    @Test("every event tells the status watchers")
    func eventsNotify() async {
        let changes = ChangeNotifier()
        let subscription = changes.subscribe()
        defer { subscription.cancel() }
        await subscription.next()
        let supervisor = NodeSupervisor(statusChanges: changes)
        supervisor.settingsDelivered()
        await subscription.next()
        #expect(supervisor.snapshot.phase == .running)
        _ = supervisor.runFailed()
        await subscription.next()
        #expect(supervisor.snapshot.phase == .backingOff)
        #expect(supervisor.snapshot.restarts == 1)
    }
}
