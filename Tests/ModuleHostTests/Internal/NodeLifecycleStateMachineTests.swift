import ModuleHostAPI
import Testing

@testable import ModuleHost

/// The lifecycle machine driven step by step with plain tokens: waiters are `String`s. No tasks, no locks.
typealias LifecycleMachine = NodeLifecycleStateMachine<String>
typealias LifecycleState = LifecycleMachine.State

/// Every event the machine takes.
enum LifecycleEvent: String, CaseIterable, CustomTestStringConvertible {
    case settingsDelivered, settingsRejected, runFailed, failureThresholdReached, backoffElapsed
    case restartRequested, stopRequested, drained

    var testDescription: String { rawValue }
}

/// What an event does in a state: the state after it, whether it counts a restart, and what it tells the caller.
private struct Expected: CustomStringConvertible {
    enum Outcome: Hashable {
        /// Nothing for the caller beyond the new state.
        case none
        /// `runFailed`: back off before this restart, or stop.
        case backOff, stop
        /// `failureThresholdReached`: restart after a backoff, or not (nil).
        case restart, noRestart
        /// `restartRequested`: the run loop's epoch moved on.
        case newEpoch
    }

    var state: LifecycleState
    var countsRestart = false
    var outcome: Outcome = .none

    var description: String { "\(state) restart: \(countsRestart) outcome: \(outcome)" }
}

/// The whole transition table: every event in every state.
private let table: [LifecycleState: [LifecycleEvent: Expected]] = {
    /// What every state that is not stopping does alike.
    func live(_ state: LifecycleState, settingsDelivered: LifecycleState, backoffElapsed: LifecycleState) -> [LifecycleEvent: Expected] {
        [
            .settingsDelivered: Expected(state: settingsDelivered),
            .settingsRejected: Expected(state: .failed),
            .runFailed: Expected(state: .backingOff, countsRestart: true, outcome: .backOff),
            .failureThresholdReached: Expected(state: .backingOff, countsRestart: true, outcome: .restart),
            .backoffElapsed: Expected(state: backoffElapsed),
            .restartRequested: Expected(state: state, outcome: .newEpoch),
            .stopRequested: Expected(state: .draining),
            .drained: Expected(state: .stopped),
        ]
    }
    /// What a stopping state does: nothing but end.
    func stopping(_ state: LifecycleState) -> [LifecycleEvent: Expected] {
        [
            .settingsDelivered: Expected(state: state),
            .settingsRejected: Expected(state: state),
            .runFailed: Expected(state: state, outcome: .stop),
            .failureThresholdReached: Expected(state: state, outcome: .noRestart),
            .backoffElapsed: Expected(state: state),
            .restartRequested: Expected(state: state),
            .stopRequested: Expected(state: state),
            .drained: Expected(state: .stopped),
        ]
    }
    return [
        .starting: live(.starting, settingsDelivered: .running, backoffElapsed: .starting),
        .running: live(.running, settingsDelivered: .running, backoffElapsed: .running),
        .backingOff: live(.backingOff, settingsDelivered: .backingOff, backoffElapsed: .running),
        .failed: live(.failed, settingsDelivered: .running, backoffElapsed: .failed),
        .draining: stopping(.draining),
        .stopped: stopping(.stopped),
    ]
}()

/// A machine brought to `state` by the events that lead there.
private func machine(in state: LifecycleState) -> LifecycleMachine {
    var machine = LifecycleMachine()
    switch state {
    case .starting: break
    case .running: machine.settingsDelivered()
    case .backingOff:
        machine.settingsDelivered()
        _ = machine.runFailed()
    case .failed: machine.settingsRejected()
    case .draining: _ = machine.stopRequested()
    case .stopped: _ = machine.drained()
    }
    #expect(machine.state == state)
    #expect(machine.checkInvariants())
    return machine
}

/// Applies `event`; returns what it told the caller, as an ``Expected/Outcome``.
private func apply(_ event: LifecycleEvent, to machine: inout LifecycleMachine) -> Expected.Outcome {
    let epoch = machine.runEpoch
    switch event {
    case .settingsDelivered: machine.settingsDelivered()
    case .settingsRejected: machine.settingsRejected()
    case .runFailed:
        switch machine.runFailed() {
        case .backOff(let restart):
            #expect(restart == machine.restarts)
            return .backOff
        case .stop: return .stop
        }
    case .failureThresholdReached:
        guard let restart = machine.failureThresholdReached() else { return .noRestart }
        #expect(restart == machine.restarts)
        return .restart
    case .backoffElapsed: machine.backoffElapsed()
    case .restartRequested: _ = machine.restartRequested()
    case .stopRequested: _ = machine.stopRequested()
    case .drained: _ = machine.drained()
    }
    return machine.runEpoch != epoch ? .newEpoch : .none
}

@Suite("Node lifecycle state machine")
struct NodeLifecycleStateMachineTests {
    @Test("the transition table covers every event in every state")
    func tableIsComplete() {
        for state in LifecycleState.allCases {
            #expect(Set(table[state]?.keys.map(\.self) ?? []) == Set(LifecycleEvent.allCases), "\(state)")
        }
    }

    @Test("every event in every state moves the node as the table says", arguments: LifecycleState.allCases, LifecycleEvent.allCases)
    func transition(from state: LifecycleState, on event: LifecycleEvent) throws {
        let expected = try #require(table[state]?[event])
        var machine = machine(in: state)
        let restartsBefore = machine.restarts
        let outcome = apply(event, to: &machine)
        #expect(machine.state == expected.state)
        #expect(outcome == expected.outcome)
        #expect(machine.restarts == restartsBefore + (expected.countsRestart ? 1 : 0))
        #expect(machine.checkInvariants())
    }

    @Test("every event in every state wakes exactly the waiters it should", arguments: LifecycleState.allCases, LifecycleEvent.allCases)
    func wakeUps(from state: LifecycleState, on event: LifecycleEvent) {
        var machine = machine(in: state)
        // The run loop waits while the node is not stopping; a task waits for the stop until it is stopped.
        let runLoopWaits = machine.waitForRestart(after: machine.runEpoch, waiter: "run loop", isCancelled: false) == .suspended
        #expect(runLoopWaits == !machine.isStopping)
        let id = machine.makeStopWaiterID()
        let stopWaits = machine.waitUntilStopped(id: id, waiter: "stopper", isCancelled: false) == .suspended
        #expect(stopWaits == (state != .stopped))
        // A backoff waits for a stop request while the node is not stopping.
        let backoffID = machine.makeStopWaiterID()
        let backoffWaits = machine.waitUntilStopRequested(id: backoffID, waiter: "backoff", isCancelled: false) == .suspended
        #expect(backoffWaits == !machine.isStopping)

        var woken: [String] = []
        switch event {
        case .restartRequested: woken = machine.restartRequested().map { [$0] } ?? []
        case .stopRequested: woken = machine.stopRequested()
        case .drained: woken = machine.drained()
        default: _ = apply(event, to: &machine)
        }
        var expected: Set<String> = []
        if runLoopWaits && [.restartRequested, .stopRequested, .drained].contains(event) { expected.insert("run loop") }
        if stopWaits && event == .drained { expected.insert("stopper") }
        if backoffWaits && [.stopRequested, .drained].contains(event) { expected.insert("backoff") }
        #expect(Set(woken) == expected)
        #expect(machine.checkInvariants())
    }

    @Test("a node reports Running from the moment it is accepted, and the phase of every other state by its name")
    func phases() {
        let phases = LifecycleState.allCases.map { machine(in: $0).phase }
        #expect(phases == [.running, .running, .backingOff, .failed, .draining, .stopped])
    }

    @Test("a stop requested between the run loop's question and its wait is not missed")
    func stopBetweenQuestionAndWait() {
        var machine = machine(in: .running)
        guard case .run(let epoch) = machine.nextRun() else {
            Issue.record("a running node runs")
            return
        }
        #expect(machine.stopRequested() == [], "nobody waits yet")
        #expect(machine.waitForRestart(after: epoch, waiter: "run loop", isCancelled: false) == .resumeNow)
        #expect(machine.nextRun() == .stop)
        #expect(machine.checkInvariants())
    }

    @Test("a restart requested between the run loop's question and its wait starts the run again")
    func restartBetweenQuestionAndWait() {
        var machine = machine(in: .running)
        guard case .run(let epoch) = machine.nextRun() else {
            Issue.record("a running node runs")
            return
        }
        #expect(machine.restartRequested() == nil)
        #expect(machine.waitForRestart(after: epoch, waiter: "run loop", isCancelled: false) == .resumeNow)
        #expect(machine.nextRun() == .run(epoch: epoch + 1))
    }

    @Test("the waiting run loop is woken by a restart request, then waits on the new epoch")
    func restartWakesRunLoop() {
        var machine = machine(in: .running)
        #expect(machine.waitForRestart(after: 0, waiter: "run loop", isCancelled: false) == .suspended)
        #expect(machine.restartRequested() == "run loop")
        #expect(machine.runWaiter == nil)
        #expect(machine.nextRun() == .run(epoch: 1))
        #expect(machine.waitForRestart(after: 1, waiter: "run loop", isCancelled: false) == .suspended)
        #expect(machine.stopRequested() == ["run loop"])
        #expect(machine.nextRun() == .stop)
        #expect(machine.checkInvariants())
    }

    @Test("a cancelled run loop does not wait, and one cancelled while waiting is handed back once")
    func cancelledRunLoop() {
        var machine = machine(in: .running)
        #expect(machine.waitForRestart(after: 0, waiter: "run loop", isCancelled: true) == .resumeNow)
        #expect(machine.waitForRestart(after: 0, waiter: "run loop", isCancelled: false) == .suspended)
        #expect(machine.cancelRestartWait() == "run loop")
        #expect(machine.cancelRestartWait() == nil)
        #expect(machine.restartRequested() == nil)
    }

    @Test("every task waiting for the stop is woken when the node drained; later ones do not wait")
    func stopWaiters() {
        var machine = machine(in: .running)
        _ = machine.stopRequested()
        let first = machine.makeStopWaiterID()
        let second = machine.makeStopWaiterID()
        #expect(first != second)
        #expect(machine.waitUntilStopped(id: first, waiter: "first", isCancelled: false) == .suspended)
        #expect(machine.waitUntilStopped(id: second, waiter: "second", isCancelled: false) == .suspended)
        #expect(Set(machine.drained()) == ["first", "second"])
        #expect(machine.drained() == [], "draining twice wakes nobody twice")
        #expect(machine.waitUntilStopped(id: machine.makeStopWaiterID(), waiter: "late", isCancelled: false) == .resumeNow)
        #expect(machine.checkInvariants())
    }

    @Test("a task that stops waiting for the stop is handed back once and not woken again")
    func cancelledStopWaiter() {
        var machine = machine(in: .draining)
        let id = machine.makeStopWaiterID()
        #expect(machine.waitUntilStopped(id: id, waiter: "stopper", isCancelled: true) == .resumeNow)
        #expect(machine.waitUntilStopped(id: id, waiter: "stopper", isCancelled: false) == .suspended)
        #expect(machine.cancelStopWait(id: id) == "stopper")
        #expect(machine.cancelStopWait(id: id) == nil)
        #expect(machine.drained() == [])
    }

    @Test("a stop request ends every wait for it — backoffs, retries' waits — once; a wait that ended on its own is not woken")
    func stopRequestWaiters() {
        var machine = machine(in: .backingOff)
        let backoff = machine.makeStopWaiterID()
        let retry = machine.makeStopWaiterID()
        let elapsed = machine.makeStopWaiterID()
        #expect(machine.waitUntilStopRequested(id: backoff, waiter: "backoff", isCancelled: false) == .suspended)
        #expect(machine.waitUntilStopRequested(id: retry, waiter: "retry", isCancelled: false) == .suspended)
        #expect(machine.waitUntilStopRequested(id: elapsed, waiter: "elapsed", isCancelled: false) == .suspended)
        #expect(machine.cancelStopRequestWait(id: elapsed) == "elapsed", "its time was up")
        #expect(machine.cancelStopRequestWait(id: elapsed) == nil)
        #expect(machine.waitUntilStopRequested(id: machine.makeStopWaiterID(), waiter: "cancelled", isCancelled: true) == .resumeNow)
        #expect(Set(machine.stopRequested()) == ["backoff", "retry"])
        #expect(machine.stopRequested() == [], "a second request wakes nobody")
        #expect(machine.waitUntilStopRequested(id: machine.makeStopWaiterID(), waiter: "late", isCancelled: false) == .resumeNow)
        #expect(machine.checkInvariants())
    }

    @Test("a restart after repeated handler failures: backing off, settings taken again, running once the backoff elapsed")
    func handlerRestart() {
        var machine = machine(in: .running)
        #expect(machine.failureThresholdReached() == 1)
        #expect(machine.phase == .backingOff)
        machine.settingsDelivered()
        #expect(machine.phase == .backingOff, "the fresh instance took its settings; the backoff is not over")
        machine.backoffElapsed()
        #expect(machine.phase == .running)
        #expect(machine.failureThresholdReached() == 2, "restarts add up")
    }

    @Test("settings rejected during a backoff leave the node failed after it")
    func rejectedDuringBackoff() {
        var machine = machine(in: .running)
        _ = machine.failureThresholdReached()
        machine.settingsRejected()
        machine.backoffElapsed()
        #expect(machine.phase == .failed)
        machine.settingsDelivered()
        #expect(machine.phase == .running, "accepted settings bring it back")
    }

    @Test("a draining node is neither restarted nor run again, and counts no restart")
    func drainingNodeIsNotRestarted() {
        var machine = machine(in: .running)
        _ = machine.stopRequested()
        #expect(machine.runFailed() == .stop)
        #expect(machine.failureThresholdReached() == nil)
        #expect(machine.restarts == 0)
        #expect(machine.nextRun() == .stop)
        #expect(machine.phase == .draining)
    }
}
