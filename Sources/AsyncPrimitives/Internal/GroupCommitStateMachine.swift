/// The whole state of a ``GroupCommit``, with no locks and no I/O: which submission leads
/// the batch being gathered or committed, and which wait for the next one.
///
/// At most one batch is committed at a time. A submission that finds nothing being committed
/// leads at once (no waiting for company: an idle store commits each call as it comes).
/// Submissions that arrive meanwhile queue up; when the batch is done, the first queued
/// submission leads the next one. A leader takes its batch when it is ready to commit
/// (``takeBatch()``): its own submission and the queue, at most `maxBatch` submissions in
/// arrival order — so whatever queued while it was being resumed rides along. Under load,
/// calls share transactions; alone, a call costs one transaction as before.
///
/// Generic over the token that stands for a waiting submission, so tests drive it with plain
/// values. Invariants (``checkInvariants()``, after every step in the tests):
/// - `queued` is empty unless a batch is committing: nothing waits while nobody commits.
/// - A leader that has not taken its batch exists only while committing.
/// - No batch is larger than `maxBatch`; submissions are handed out in arrival order, each once.
struct GroupCommitStateMachine<Item, Waiter> {
    /// A submission: what to commit and who waits for its outcome.
    struct Entry {
        var item: Item
        var waiter: Waiter
    }

    /// What `submit` tells the submitter.
    enum SubmitAction {
        /// Nothing was committing: the submitter leads; it takes its batch (``takeBatch()``) now.
        case lead
        /// A batch is committing: the submitter waits to be resumed (with its outcome, or
        /// to lead the next batch).
        case wait
    }

    /// What `batchFinished` tells the leader that finished.
    enum FinishAction {
        /// Nothing queued: the machine is idle again.
        case idle
        /// Resume this waiter to lead the next batch (it is committing from now on).
        case handOver(Waiter)
    }

    /// The most submissions one batch takes.
    let maxBatch: Int
    private(set) var isCommitting = false
    /// The leader's own submission, until it takes its batch.
    private(set) var leading: Entry?
    private(set) var queued: [Entry] = []

    init(maxBatch: Int) {
        precondition(maxBatch >= 1, "a batch takes at least one submission")
        self.maxBatch = maxBatch
    }

    /// A submission arrives.
    mutating func submit(_ item: Item, waiter: Waiter) -> SubmitAction {
        let entry = Entry(item: item, waiter: waiter)
        guard isCommitting else {
            isCommitting = true
            leading = entry
            return .lead
        }
        queued.append(entry)
        return .wait
    }

    /// The leader is ready to commit: its batch, its own submission first, then the queue
    /// in arrival order, at most `maxBatch` in all.
    mutating func takeBatch() -> [Entry] {
        precondition(isCommitting, "a batch taken while none was committing")
        guard let leading else { preconditionFailure("a batch taken twice") }
        self.leading = nil
        let count = min(maxBatch - 1, queued.count)
        defer { queued.removeFirst(count) }
        return [leading] + queued.prefix(count)
    }

    /// The batch being committed is done (its submissions resumed by its leader).
    mutating func batchFinished() -> FinishAction {
        precondition(isCommitting && leading == nil, "a batch finished while none was committing")
        guard !queued.isEmpty else {
            isCommitting = false
            return .idle
        }
        let next = queued.removeFirst()
        leading = next
        return .handOver(next.waiter)
    }

    /// Traps when an invariant does not hold (tests call it after every step).
    func checkInvariants() {
        precondition(isCommitting || queued.isEmpty, "submissions queued while nothing commits")
        precondition(isCommitting || leading == nil, "a leader while nothing commits")
    }
}

extension GroupCommitStateMachine.Entry: Sendable where Item: Sendable, Waiter: Sendable {}
