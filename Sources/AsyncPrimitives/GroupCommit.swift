/// Commits concurrent submissions in shared transactions (group commit): while one batch
/// commits, the submissions that arrive queue up, and the next transaction takes them all.
/// Each submission still learns its own outcome (one may be refused while the others of its
/// batch commit).
///
/// The SQLite and PostgreSQL message stores' enqueues use it: many senders on durable edges cost a
/// transaction (its WAL writes and file locks) per batch instead of per message.
/// The policy is ``GroupCommitStateMachine``'s; the lock and continuations are
/// ``GroupCommitStorage``'s.
package struct GroupCommit<Item: Sendable, Outcome: Sendable>: Sendable {
    /// Commits a batch; returns one outcome per item, in order, or throws when the whole batch failed.
    package typealias Commit = @Sendable ([Item]) async throws -> [Result<Outcome, any Error>]

    private let storage: GroupCommitStorage<Item, Outcome>
    private let gathers: Bool

    /// A group commit taking at most `maxBatch` submissions per transaction.
    ///
    /// With `gathering`, a leader yields once before it takes its batch, so that the tasks
    /// ready to submit (senders its previous batch just resumed) join it: for a commit that
    /// runs on the leader's thread without suspending (SQLite's), during which nothing else
    /// of the pool may get to submit. A commit that waits for I/O gathers without it.
    package init(maxBatch: Int, gathering: Bool = false) {
        storage = GroupCommitStorage(maxBatch: maxBatch)
        gathers = gathering
    }

    /// How many submissions wait for the batch being committed to finish (for tests).
    package var queuedCount: Int { storage.queuedCount }

    /// Commits `item`, alone or with others' items, with `commit` (every submitter passes the
    /// same function: whoever leads a batch runs it). Returns or throws this item's outcome.
    package func submit(_ item: Item, committing commit: @escaping Commit) async throws -> Outcome {
        switch await storage.submit(item) {
        case .done(let result):
            return try result.get()
        case .lead:
            if gathers { await Task.yield() }
            let batch = storage.takeBatch()
            let items = batch.map(\.item)
            // In a task of its own, not a child of the leader: the leader being cancelled must
            // not fail the submissions of others riding in its batch. The commit is bounded
            // (a store's operation timeout), so this task never outlives it by much.
            let results = await Task {
                do {
                    let results = try await commit(items)
                    guard results.count == items.count else {
                        return items.map { _ in Result<Outcome, any Error>.failure(GroupCommitMismatch()) }
                    }
                    return results
                } catch {
                    return items.map { _ in Result<Outcome, any Error>.failure(error) }
                }
            }.value
            storage.batchFinished()
            for (entry, result) in zip(batch, results).dropFirst() {
                entry.waiter.resume(returning: .done(result))
            }
            return try results[0].get()
        }
    }
}

/// A commit function returned a different number of outcomes than it was given items (a bug).
package struct GroupCommitMismatch: Error, CustomStringConvertible {
    package var description: String { "internal error: a group commit returned outcomes for other items than it was given" }
}
