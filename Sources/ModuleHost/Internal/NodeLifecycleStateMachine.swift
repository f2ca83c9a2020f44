import ModuleHostAPI

/// The lifecycle of one node, with no locks and no I/O: where the node is
/// between start and stop, how often it was restarted, and which tasks wait
/// for a restart or for the node to stop.
///
/// ```
/// starting ──settings taken──▶ running ──run failed / failure threshold──▶ backingOff
///    │                          ▲   ▲ ◀─────────── backoff elapsed ─────────────┘
///    │ settings rejected        │   └──────── settings taken ────┐
///    └─────────────────────────▶ failed ─────────────────────────┘
///
/// starting, running, backingOff, failed ──stop requested──▶ draining ──drained──▶ stopped
/// ```
///
/// (`failed` and `backingOff` also go to `backingOff` on a run failure or the
/// failure threshold, and to `failed` on rejected settings; `drained` without
/// a stop request — the host's tasks were cancelled — goes straight to
/// `stopped`. The tests hold the whole table: every event in every state.)
///
/// ``NodeSupervisor`` holds it in a `Mutex` and resumes the waiters the
/// events return *after* releasing the lock; the machine is generic over the
/// token that stands for a suspended task, so tests drive it with plain
/// values. It replaces three one-shot events and a phase field whose
/// separate reads let a stop slip between two of them (the "rare hung run"):
/// here the run loop asks one question under one lock — "run, or stop?" —
/// and a restart or stop request that comes after that question wakes it.
///
/// Invariants (``checkInvariants()``):
/// - the run loop waits (``runWaiter``) only while the node is not stopping:
///   a stop request resumes it;
/// - tasks wait for a stop request (``stopRequestWaiters``: a backoff or a retry's wait,
///   which a stop cuts short) only while the node is not stopping;
/// - tasks wait for the stop (``stopWaiters``) only until the node is stopped.
struct NodeLifecycleStateMachine<Waiter> {
    /// Where the node is in its life.
    enum State: Hashable, CaseIterable, Sendable {
        /// Accepted and taking messages; its settings are not delivered yet.
        case starting
        /// Its settings were taken; it handles messages (and runs, if it is a `RunningComponent`).
        case running
        /// Its handler failed `failureThreshold` times in a row, or its `run` failed:
        /// it waits out a backoff before a fresh start.
        case backingOff
        /// Its component rejected the settings.
        case failed
        /// Its channels accept nothing more; it handles what they hold, then its tasks end.
        case draining
        /// Its tasks ended.
        case stopped
    }

    /// Where the node is.
    private(set) var state: State = .starting
    /// How often the node was restarted after failures (its `run`, or a fresh instance after repeated handler failures).
    private(set) var restarts = 0
    /// Counts restart requests: the run loop runs `run` for one epoch and starts it again when the epoch moves on.
    private(set) var runEpoch: UInt64 = 0
    /// The run loop, while it waits for a restart or stop request.
    private(set) var runWaiter: Waiter?
    /// Tasks waiting for the node to stop, by the id ``makeStopWaiterID()`` gave them.
    private(set) var stopWaiters: [UInt64: Waiter] = [:]
    /// Tasks waiting for a stop request, by the id ``makeStopWaiterID()`` gave them.
    private(set) var stopRequestWaiters: [UInt64: Waiter] = [:]
    private var nextStopWaiterID: UInt64 = 0

    init() {}

    /// Whether a stop was requested or the node's tasks ended.
    var isStopping: Bool { state == .draining || state == .stopped }

    /// The phase the node reports. A node reports `Running` from the moment it
    /// is accepted (its channels take messages at once, handled as soon as its
    /// settings are in), as the host always did; a rejection of its settings
    /// turns it `Failed`.
    var phase: NodePhase {
        switch state {
        case .starting, .running: .running
        case .backingOff: .backingOff
        case .failed: .failed
        case .draining: .draining
        case .stopped: .stopped
        }
    }

    // MARK: Settings

    /// The component took its settings (or has none to take).
    ///
    /// A starting node runs; a failed one runs again (new settings were
    /// accepted); a node backing off stays so until the backoff elapsed.
    mutating func settingsDelivered() {
        switch state {
        case .starting, .failed: state = .running
        case .running, .backingOff, .draining, .stopped: break
        }
    }

    /// The component rejected its settings: the node has failed, unless it is stopping anyway.
    mutating func settingsRejected() {
        switch state {
        case .starting, .running, .backingOff, .failed: state = .failed
        case .draining, .stopped: break
        }
    }

    // MARK: Failures and restarts

    /// What the run loop does after `run` failed.
    enum RunFailureAction: Hashable {
        /// Wait out the backoff before restart number `restart` (from 1), then call ``backoffElapsed()``.
        case backOff(restart: Int)
        /// The node is stopping: do not run again.
        case stop
    }

    /// The component's `run` failed (not by cancellation).
    /// The same transition as ``failureThresholdReached()``: back off before a restart,
    /// unless the node is stopping.
    mutating func runFailed() -> RunFailureAction {
        failureThresholdReached().map { .backOff(restart: $0) } ?? .stop
    }

    /// The node's handler failed `failureThreshold` times in a row.
    ///
    /// - Returns: the number of the restart (from 1) to make after a backoff —
    ///   a fresh component instance with its settings, then ``backoffElapsed()`` —
    ///   or nil when the node is stopping: a draining node is not restarted,
    ///   it handles what it holds with the instance it has.
    mutating func failureThresholdReached() -> Int? {
        switch state {
        case .starting, .running, .backingOff, .failed:
            state = .backingOff
            restarts += 1
            return restarts
        case .draining, .stopped:
            return nil
        }
    }

    /// A backoff ended, run to its end or cut short (the run it delayed was
    /// restarted or stopped): a node backing off runs again. A node whose
    /// settings were rejected meanwhile stays failed.
    mutating func backoffElapsed() {
        switch state {
        case .backingOff: state = .running
        case .starting, .running, .failed, .draining, .stopped: break
        }
    }

    // MARK: Requests

    /// New settings: `run` restarts for them. Returns the run loop to resume, if it waits.
    mutating func restartRequested() -> Waiter? {
        switch state {
        case .starting, .running, .backingOff, .failed:
            runEpoch &+= 1
            defer { runWaiter = nil }
            return runWaiter
        case .draining, .stopped:
            return nil
        }
    }

    /// The node is to stop (its channels were finished): it drains. Returns the
    /// waiters to resume: the run loop, if it waits, so that it cancels `run` and ends,
    /// and the tasks waiting for a stop request (a backoff, a retry's wait).
    mutating func stopRequested() -> [Waiter] {
        switch state {
        case .starting, .running, .backingOff, .failed:
            state = .draining
            return takeStopRequestWaiters()
        case .draining, .stopped:
            return []
        }
    }

    /// The run loop and the tasks waiting for a stop request, taken out to resume.
    private mutating func takeStopRequestWaiters() -> [Waiter] {
        var woken = Array(stopRequestWaiters.values)
        stopRequestWaiters = [:]
        if let runWaiter {
            woken.append(runWaiter)
            self.runWaiter = nil
        }
        return woken
    }

    /// The node's tasks ended: drained after a stop request, never started, or
    /// cancelled with the host's task tree. Returns every waiter to resume.
    mutating func drained() -> [Waiter] {
        guard state != .stopped else { return [] }
        state = .stopped
        var woken = Array(stopWaiters.values)
        stopWaiters = [:]
        woken.append(contentsOf: takeStopRequestWaiters())
        return woken
    }

    // MARK: The run loop

    /// What the run loop does next.
    enum RunDecision: Hashable {
        /// Run `run` for this epoch, until ``waitForRestart(after:waiter:isCancelled:)`` returns.
        case run(epoch: UInt64)
        /// The node is stopping: end the run loop.
        case stop
    }

    /// The run loop's one question, asked under the lock: run, or stop?
    func nextRun() -> RunDecision {
        isStopping ? .stop : .run(epoch: runEpoch)
    }

    /// What a task that is about to wait must do.
    enum WaitAction: Hashable {
        /// It was stored; a later event (or its cancellation) resumes it.
        case suspended
        /// What it waits for already happened (or it is cancelled): resume it now.
        case resumeNow
    }

    /// The run loop waits while `run` of `epoch` runs: until a restart request
    /// moves the epoch on or a stop is requested. `isCancelled` is the task's
    /// flag read under the same lock.
    mutating func waitForRestart(after epoch: UInt64, waiter: Waiter, isCancelled: Bool) -> WaitAction {
        if isCancelled || isStopping || epoch != runEpoch { return .resumeNow }
        precondition(runWaiter == nil, "a node has one run loop")
        runWaiter = waiter
        return .suspended
    }

    /// The waiting run loop was cancelled: returns it to resume, if it still waits.
    mutating func cancelRestartWait() -> Waiter? {
        defer { runWaiter = nil }
        return runWaiter
    }

    // MARK: Waiting for the stop

    /// An id for a task that is about to wait for the stop, or for a stop request.
    mutating func makeStopWaiterID() -> UInt64 {
        nextStopWaiterID += 1
        return nextStopWaiterID
    }

    /// A task waits until the node's tasks ended.
    mutating func waitUntilStopped(id: UInt64, waiter: Waiter, isCancelled: Bool) -> WaitAction {
        if isCancelled || state == .stopped { return .resumeNow }
        stopWaiters[id] = waiter
        return .suspended
    }

    /// The task `id` waiting for the stop was cancelled: returns it to resume, if it still waits.
    mutating func cancelStopWait(id: UInt64) -> Waiter? {
        stopWaiters.removeValue(forKey: id)
    }

    /// A task waits until a stop is requested (it waits out a backoff that a stop cuts short).
    mutating func waitUntilStopRequested(id: UInt64, waiter: Waiter, isCancelled: Bool) -> WaitAction {
        if isCancelled || isStopping { return .resumeNow }
        stopRequestWaiters[id] = waiter
        return .suspended
    }

    /// The task `id` waiting for a stop request no longer waits (its time was up, or it was
    /// cancelled): returns it to resume, if it still waits.
    mutating func cancelStopRequestWait(id: UInt64) -> Waiter? {
        stopRequestWaiters.removeValue(forKey: id)
    }

    /// Whether the invariants hold; for tests.
    func checkInvariants() -> Bool {
        (runWaiter == nil || !isStopping) && (stopRequestWaiters.isEmpty || !isStopping)
            && (stopWaiters.isEmpty || state != .stopped)
    }
}

extension NodeLifecycleStateMachine: Sendable where Waiter: Sendable {}
extension NodeLifecycleStateMachine.RunFailureAction: Sendable {}
extension NodeLifecycleStateMachine.RunDecision: Sendable {}
extension NodeLifecycleStateMachine.WaitAction: Sendable {}
