import Synchronization

/// Lets one party cancel tasks it did not start and holds no handle of: each runs its work
/// inside the canceller (``run(_:)``), and ``cancel()`` cancels whichever tasks are inside
/// then, and every task that enters later, at once.
///
/// What a structured task tree lacks for a member that must be stopped alone: a child task
/// of a task group is cancelled only with the whole group. A module host's node runs as one
/// child among thousands; when the node must stop by a deadline, its tasks are cancelled
/// through its canceller and the others run on. No extra task, no allocation while nothing
/// is cancelled; one lock per ``run(_:)``.
package final class TaskCanceller: Sendable {
    private let state = Mutex(TaskCancellerStateMachine<RunningTask>())

    /// A canceller with no task inside, not cancelled.
    package init() {}

    /// Whether ``cancel()`` was called.
    package var isCancelled: Bool { state.withLock { $0.isCancelled } }

    /// Runs `body` in the current task, which ``cancel()`` cancels if called before `body`
    /// returns (or already was: then `body` starts cancelled).
    package func run<Result>(_ body: () async throws -> Result) async rethrows -> Result {
        let id = withUnsafeCurrentTask { task -> UInt64? in
            guard let task else { return nil }
            let action = state.withLock { $0.enter(RunningTask(task)) }
            switch action {
            case .entered(let id): return id
            case .cancelNow:
                task.cancel()
                return nil
            }
        }
        defer { if let id { state.withLock { $0.leave(id) } } }
        return try await body()
    }

    /// Cancels the tasks inside now and every task that enters later.
    package func cancel() {
        // Under the lock: a task leaves under it too, before `run` returns, so each one
        // cancelled here is still running (its parent keeps it until it ends).
        state.withLock { machine in
            for task in machine.cancel() { task.cancel() }
        }
    }
}

/// A task inside a ``TaskCanceller``.
///
/// `@unchecked Sendable`: `UnsafeCurrentTask` is not `Sendable` because it must not outlive
/// its task. This one is kept only between the task's entering and leaving the canceller,
/// both inside ``TaskCanceller/run(_:)`` and under the canceller's lock, and used only to
/// cancel it under that same lock (cancelling a task is thread-safe): the task is alive
/// whenever it is used.
private struct RunningTask: @unchecked Sendable {
    let task: UnsafeCurrentTask

    init(_ task: UnsafeCurrentTask) { self.task = task }

    func cancel() { task.cancel() }
}
