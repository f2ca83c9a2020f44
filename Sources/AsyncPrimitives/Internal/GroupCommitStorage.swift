import Synchronization

/// The lock and the continuations of a ``GroupCommit``: holds a ``GroupCommitStateMachine``
/// in a mutex and resumes the continuations it hands back, after releasing the lock.
final class GroupCommitStorage<Item: Sendable, Outcome: Sendable>: Sendable {
    /// What a suspended submission is resumed with.
    enum Role: Sendable {
        /// Lead a batch: take it (``takeBatch()``), commit it, resume the others.
        case lead
        /// Another submission's batch committed this one: its outcome.
        case done(Result<Outcome, any Error>)
    }

    typealias Waiter = CheckedContinuation<Role, Never>
    typealias Machine = GroupCommitStateMachine<Item, Waiter>

    private let state: Mutex<Machine>

    init(maxBatch: Int) {
        state = Mutex(Machine(maxBatch: maxBatch))
    }

    /// Queues `item`; returns at once to lead when nothing commits, else when another
    /// submission's leader resumes it. Not cancellable: the wait lasts as long as the
    /// batches ahead take to commit, each bounded by the committer's own timeout.
    func submit(_ item: Item) async -> Role {
        await withCheckedContinuation { (continuation: Waiter) in
            let action = state.withLock { $0.submit(item, waiter: continuation) }
            switch action {
            case .lead: continuation.resume(returning: .lead)
            case .wait: break
            }
        }
    }

    /// The leader's batch: its own submission first, then what queued, in arrival order.
    func takeBatch() -> [Machine.Entry] {
        state.withLock { $0.takeBatch() }
    }

    /// How many submissions wait for the next batch.
    var queuedCount: Int { state.withLock { $0.queued.count } }

    /// The batch being committed is done: resumes the leader of the next one, if any.
    func batchFinished() {
        let action = state.withLock { $0.batchFinished() }
        switch action {
        case .idle: break
        case .handOver(let leader): leader.resume(returning: .lead)
        }
    }
}
