import Synchronization

/// Holds the work queue's state machine behind a lock, the continuations of
/// waiting workers, and the timer that promotes delayed keys.
final class WorkQueueStorage<Key: Hashable & Sendable>: Sendable {
    private struct State {
        var machine: WorkQueueStateMachine<Key>
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Key?, Never>)] = []
        var nextWaiterID: UInt64 = 0
        var timer: (deadline: ContinuousClock.Instant, task: Task<Void, Never>)?
    }

    private let state: Mutex<State>
    private let onDepthChange: @Sendable (Int) -> Void

    init(machine: WorkQueueStateMachine<Key>, onDepthChange: @escaping @Sendable (Int) -> Void) {
        state = Mutex(State(machine: machine))
        self.onDepthChange = onDepthChange
    }

    /// Applies `change` to the machine, then hands ready keys to waiting workers and re-arms the timer.
    @discardableResult
    func update<R>(_ change: (inout WorkQueueStateMachine<Key>, ContinuousClock.Instant) -> R) -> R {
        let now = ContinuousClock.now
        let (result, handOff, depth) = state.withLock { state in
            let result = change(&state.machine, now)
            state.machine.promoteDue(now: now)
            var handOff: [(CheckedContinuation<Key?, Never>, Key?)] = []
            while !state.waiters.isEmpty, let key = state.machine.next() {
                handOff.append((state.waiters.removeFirst().continuation, key))
            }
            if state.machine.isShutDown {
                handOff += state.waiters.map { ($0.continuation, nil) }
                state.waiters = []
                state.timer?.task.cancel()
                state.timer = nil
            } else {
                armTimer(&state, now: now)
            }
            return (result, handOff, state.machine.depth)
        }
        for (continuation, key) in handOff { continuation.resume(returning: key) }
        onDepthChange(depth)
        return result
    }

    private func armTimer(_ state: inout State, now: ContinuousClock.Instant) {
        guard let deadline = state.machine.nextDeadline else {
            state.timer?.task.cancel()
            state.timer = nil
            return
        }
        if let timer = state.timer, timer.deadline <= deadline { return }
        state.timer?.task.cancel()
        let task = Task { [weak self] in
            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }
            self?.timerFired(deadline)
        }
        state.timer = (deadline, task)
    }

    private func timerFired(_ deadline: ContinuousClock.Instant) {
        clearTimer(deadline)
        update { _, _ in () }
    }

    /// Clears the fired timer so `update` arms the next one.
    private func clearTimer(_ deadline: ContinuousClock.Instant) {
        state.withLock { state in
            if state.timer?.deadline == deadline { state.timer = nil }
        }
    }

    /// Waits for the next key; nil once the queue is shut down or the waiting task is cancelled.
    func next() async -> Key? {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Key?, Never>) in
                let now = ContinuousClock.now
                let immediate: Key?? = state.withLock { state in
                    state.machine.promoteDue(now: now)
                    if let key = state.machine.next() { return .some(key) }
                    if state.machine.isShutDown || Task.isCancelled { return .some(nil) }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Key?, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Reads the machine.
    func read<R>(_ body: (WorkQueueStateMachine<Key>) -> R) -> R { state.withLock { body($0.machine) } }
}
