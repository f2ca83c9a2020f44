/// The whole state of a ``TaskCanceller``, with no locks and no I/O: the tasks inside it
/// now, and whether it was cancelled.
///
/// Generic over the reference that stands for a running task, so tests drive it with plain
/// values. Invariant (``checkInvariants()``): a cancelled canceller holds no task — every
/// task inside it when it was cancelled was handed out to be cancelled, and every later one
/// is cancelled as it enters.
struct TaskCancellerStateMachine<Task> {
    /// The tasks inside, by the id ``enter(_:)`` gave them.
    private(set) var tasks: [UInt64: Task] = [:]
    /// Whether ``cancel()`` was called.
    private(set) var isCancelled = false
    private var nextID: UInt64 = 0

    init() {}

    /// What a task entering must do.
    enum EnterAction: Equatable {
        /// It is inside under this id; ``leave(_:)`` it when done.
        case entered(id: UInt64)
        /// The canceller was cancelled already: cancel the task now; it holds no id.
        case cancelNow
    }

    /// A task enters.
    mutating func enter(_ task: Task) -> EnterAction {
        guard !isCancelled else { return .cancelNow }
        nextID += 1
        tasks[nextID] = task
        return .entered(id: nextID)
    }

    /// The task `id` leaves: it can no longer be cancelled through this canceller.
    mutating func leave(_ id: UInt64) {
        tasks[id] = nil
    }

    /// Cancels: returns the tasks inside to cancel, and makes every later one cancel as it enters.
    mutating func cancel() -> [Task] {
        isCancelled = true
        defer { tasks = [:] }
        return Array(tasks.values)
    }

    /// Whether the invariant holds; for tests.
    func checkInvariants() -> Bool { !isCancelled || tasks.isEmpty }
}
