import AsyncPrimitives
import ModuleHostAPI
import Synchronization

/// The lifecycle of one node as the runtime drives it: the events that move
/// it (settings taken or rejected, failures, restart and stop requests, the
/// end of its tasks), the run loop that restarts `run` for new settings, and
/// the wait for the node to stop.
///
/// The storage of a ``NodeLifecycleStateMachine``: every operation takes the
/// lock once, asks the machine, and resumes the waiters it returns after
/// releasing the lock. Every event tells the host's status watchers, since
/// the phase or the restart count may have changed. One small object per
/// node; nothing runs while nothing happens.
final class NodeSupervisor: Sendable {
    typealias Machine = NodeLifecycleStateMachine<CheckedContinuation<Void, Never>>

    private let machine = Mutex(Machine())
    /// Told after every event, so status watchers wake only when there is news.
    private let statusChanges: ChangeNotifier

    /// A supervisor for a node that is starting.
    init(statusChanges: ChangeNotifier) {
        self.statusChanges = statusChanges
    }

    // MARK: Reading

    /// The phase the node reports and how often it was restarted, read together.
    var snapshot: (phase: NodePhase, restarts: Int) {
        machine.withLock { ($0.phase, $0.restarts) }
    }

    /// Where the node is in its life.
    var state: Machine.State { machine.withLock { $0.state } }

    /// Whether the node's tasks ended.
    var hasStopped: Bool { machine.withLock { $0.state == .stopped } }

    // MARK: Events

    /// The component took its settings, or has none to take.
    func settingsDelivered() { apply { $0.settingsDelivered() } }

    /// The component rejected its settings.
    func settingsRejected() { apply { $0.settingsRejected() } }

    /// The component's `run` failed: back off before running it again, or stop.
    func runFailed() -> Machine.RunFailureAction { apply { $0.runFailed() } }

    /// The handler failed `failureThreshold` times in a row; returns the
    /// number of the restart to make, or nil when the node is stopping.
    func failureThresholdReached() -> Int? { apply { $0.failureThresholdReached() } }

    /// A backoff ended (or was cut short).
    func backoffElapsed() { apply { $0.backoffElapsed() } }

    /// New settings: the run loop restarts `run`.
    func requestRestart() {
        apply { $0.restartRequested() }?.resume()
    }

    /// The node is to stop (its channels are finished): the run loop cancels `run` and ends.
    func requestStop() {
        for waiter in apply({ $0.stopRequested() }) { waiter.resume() }
    }

    /// Whether a stop was requested or the node's tasks ended.
    var isStopping: Bool { machine.withLock { $0.isStopping } }

    /// The node's tasks ended: whoever waits for the stop goes on.
    func drained() {
        for waiter in apply({ $0.drained() }) { waiter.resume() }
    }

    private func apply<Result>(_ event: (inout Machine) -> Result) -> Result {
        let result = machine.withLock { event(&$0) }
        statusChanges.notify()
        return result
    }

    // MARK: Supervision

    /// Runs `run` for the node's current settings until the node stops: a
    /// restart request cancels it and runs it again; a stop request, or the
    /// cancellation of the calling task, cancels it and returns.
    ///
    /// `run` is expected to return when cancelled. A `run` that returns on its
    /// own is not started again until the next restart request. A node stopped
    /// before its run loop began still has `run` started once, cancelled at
    /// once: a component that hands on what it holds when it stops (a batch)
    /// loses nothing its handler took.
    func superviseRun(_ run: @escaping @Sendable () async -> Void) async {
        var started = false
        while !Task.isCancelled {
            guard case .run(let epoch) = machine.withLock({ $0.nextRun() }) else {
                if !started { await withDiscardingTaskGroup { runs in runs.addTask { await run() }; runs.cancelAll() } }
                return
            }
            started = true
            await withDiscardingTaskGroup { runs in
                runs.addTask { await run() }
                await waitForRestart(after: epoch)
                runs.cancelAll()
            }
        }
    }

    /// Returns once a restart or stop was requested after `epoch` was handed
    /// out, or the task is cancelled.
    private func waitForRestart(after epoch: UInt64) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let action = machine.withLock {
                    $0.waitForRestart(after: epoch, waiter: continuation, isCancelled: Task.isCancelled)
                }
                if action == .resumeNow { continuation.resume() }
            }
        } onCancel: {
            machine.withLock { $0.cancelRestartWait() }?.resume()
        }
    }

    /// Waits `delay` — a backoff, a retry's wait — or less: until a stop is requested, or
    /// the task is cancelled. A node being stopped waits for nothing.
    ///
    /// - Returns: whether the whole delay passed.
    func wait(_ delay: Duration) async -> Bool {
        do {
            try await withTimeout(delay) { [self] in await waitUntilStopRequested() }
            return false
        } catch is TimeoutError {
            return true
        } catch {
            return false
        }
    }

    /// Returns once a stop was requested, or the task is cancelled.
    private func waitUntilStopRequested() async {
        await suspend(
            { $0.waitUntilStopRequested(id: $1, waiter: $2, isCancelled: $3) }, cancel: { $0.cancelStopRequestWait(id: $1) })
    }

    /// Returns once the node's tasks ended, or the task is cancelled.
    func waitUntilStopped() async {
        await suspend({ $0.waitUntilStopped(id: $1, waiter: $2, isCancelled: $3) }, cancel: { $0.cancelStopWait(id: $1) })
    }

    /// Suspends as one of the machine's id-keyed waiters: `wait` stores it (or says to go on
    /// at once), `cancel` hands it back when the task is cancelled while it waits.
    private func suspend(
        _ wait: (inout Machine, UInt64, CheckedContinuation<Void, Never>, Bool) -> Machine.WaitAction,
        cancel: @Sendable (inout Machine, UInt64) -> CheckedContinuation<Void, Never>?
    ) async {
        let id = machine.withLock { $0.makeStopWaiterID() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let action = machine.withLock { wait(&$0, id, continuation, Task.isCancelled) }
                if action == .resumeNow { continuation.resume() }
            }
        } onCancel: {
            machine.withLock { cancel(&$0, id) }?.resume()
        }
    }
}
