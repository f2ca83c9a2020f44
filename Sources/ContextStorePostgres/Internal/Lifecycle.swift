import Synchronization

/// Whether the store's `run()` is serving: operations wait for it to start, fail once it
/// stopped, and `close()` ends it. One mutex, no I/O.
final class Lifecycle: Sendable {
    enum Phase {
        /// `run()` has not started; operations wait.
        case idle
        /// `run()` runs (`serving` once the pool runs); `stop` resumes it so it returns.
        case running(stop: CheckedContinuation<Void, Never>?, stopRequested: Bool, serving: Bool)
        /// `run()` returned, or `close()` was called: operations fail.
        case finished
    }

    private struct State {
        var phase = Phase.idle
        var nextWaiter: UInt64 = 0
        var startWaiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
        var finishWaiters: [CheckedContinuation<Void, Never>] = []
        /// Waiters of ``waitUntilFinished()``, by id (so a cancelled one can leave).
        var closeWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var runReturned = true
    }

    /// Why a waiting operation was woken without the store running.
    struct NotRunning: Error {}

    private let state = Mutex(State())

    /// Whether operations can proceed now (the cheap check every operation makes first).
    var isRunning: Bool {
        state.withLock { if case .running(_, _, serving: true) = $0.phase { true } else { false } }
    }

    /// Whether the store is closed for good.
    var isFinished: Bool {
        state.withLock { if case .finished = $0.phase { true } else { false } }
    }

    /// Marks `run()` as started; `false` if it started before or the store is closed.
    func start() -> Bool {
        state.withLock { state in
            guard case .idle = state.phase else { return false }
            state.phase = .running(stop: nil, stopRequested: false, serving: false)
            state.runReturned = false
            return true
        }
    }

    /// Marks the pool as running (called just before it starts) and wakes waiting operations.
    func serving() {
        let waiters: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            guard case .running(let stop, let stopRequested, false) = state.phase else { return [] }
            state.phase = .running(stop: stop, stopRequested: stopRequested, serving: true)
            defer { state.startWaiters = [:] }
            return Array(state.startWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Suspends `run()` until ``requestStop()`` (or the task is cancelled).
    func waitForStopRequest() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    guard case .running(nil, let stopRequested, let serving) = state.phase, !stopRequested else { return true }
                    state.phase = .running(stop: continuation, stopRequested: false, serving: serving)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            requestStop()
        }
    }

    /// Asks `run()` to return (from `close()` or cancellation); fails operations waiting for a start.
    func requestStop() {
        var closed: [UInt64: CheckedContinuation<Void, Never>] = [:]
        let (stop, waiters) = state.withLock { state -> (CheckedContinuation<Void, Never>?, [CheckedContinuation<Void, any Error>]) in
            let waiters = Array(state.startWaiters.values)
            state.startWaiters = [:]
            switch state.phase {
            case .idle:
                state.phase = .finished
                closed = state.closeWaiters
                state.closeWaiters = [:]
                return (nil, waiters)
            case .running(let stop, _, let serving):
                state.phase = .running(stop: nil, stopRequested: true, serving: serving)
                return (stop, waiters)
            case .finished:
                return (nil, waiters)
            }
        }
        stop?.resume()
        for waiter in waiters { waiter.resume(throwing: NotRunning()) }
        for waiter in closed.values { waiter.resume() }
    }

    /// Marks `run()` as returned and wakes everything waiting for that.
    func finish() {
        let (startWaiters, finishWaiters, closeWaiters) = state.withLock { state in
            state.phase = .finished
            state.runReturned = true
            defer {
                state.startWaiters = [:]
                state.finishWaiters = []
                state.closeWaiters = [:]
            }
            return (Array(state.startWaiters.values), state.finishWaiters, Array(state.closeWaiters.values))
        }
        for waiter in startWaiters { waiter.resume(throwing: NotRunning()) }
        for waiter in finishWaiters { waiter.resume() }
        for waiter in closeWaiters { waiter.resume() }
    }

    /// Returns once the store is finished for good (closed, or its `run()` returned), or when
    /// the waiting task is cancelled: what a service that lives only as long as the store waits for.
    func waitUntilFinished() async {
        let id: UInt64? = state.withLock { state in
            if case .finished = state.phase { return nil }
            state.nextWaiter += 1
            return state.nextWaiter
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    if case .finished = state.phase { return true }
                    state.closeWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.closeWaiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Returns once `run()` is not running (at once if it never started).
    func waitUntilRunReturned() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.runReturned { return true }
                state.finishWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Returns once `run()` has started; throws ``NotRunning`` if the store is closed, or
    /// `CancellationError` when the waiting task is cancelled (the operation's deadline).
    func waitUntilRunning() async throws {
        let id: UInt64? = try state.withLock { state throws(NotRunning) in
            switch state.phase {
            case .running(_, _, serving: true): return nil
            case .finished: throw NotRunning()
            case .idle, .running:
                state.nextWaiter += 1
                return state.nextWaiter
            }
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    switch state.phase {
                    case .running(_, _, serving: true): return .success(())
                    case .finished: return .failure(NotRunning())
                    case .idle, .running:
                        state.startWaiters[id] = continuation
                        return nil
                    }
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.startWaiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
