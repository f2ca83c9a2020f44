/// The whole state of a ``GroupCommit``, with no locks and no I/O: which submission leads
/// the batch being committed, and which wait for the next one.
///
/// At most one batch is committed at a time. A submission that finds nothing being committed
/// leads a batch of itself at once (no waiting for company: an idle store commits each call
/// as it comes). Submissions that arrive while a batch commits queue up; when the batch is
/// done, the first queued submission leads the next batch, which takes the queue (at most
/// `maxBatch` submissions, in arrival order). Under load, calls share transactions; alone,
/// a call costs one transaction as before.
///
/// Generic over the token that stands for a waiting submission, so tests drive it with plain
/// values. Invariants (``checkInvariants()``, after every step in the tests):
/// - `queued` is empty unless a batch is committing: nothing waits while nobody commits.
/// - No batch is larger than `maxBatch`; submissions are handed out in arrival order, each once.
struct GroupCommitStateMachine<Item, Waiter> {
    /// A submission: what to commit and who waits for its outcome.
    struct Entry {
        var item: Item
        var waiter: Waiter
    }

    /// What `submit` tells the submitter.
    enum SubmitAction {
        /// Nothing was committing: the submitter leads a batch of itself, now.
        case lead([Entry])
        /// A batch is committing: the submitter waits to be resumed (with its outcome, or
        /// with a batch to lead).
        case wait
    }

    /// What `batchFinished` tells the leader that finished.
    enum FinishAction {
        /// Nothing queued: the machine is idle again.
        case idle
        /// Resume `batch[0].waiter` to lead `batch` (it is committing from now on).
        case handOver([Entry])
    }

    /// The most submissions one batch takes.
    let maxBatch: Int
    private(set) var isCommitting = false
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
            return .lead([entry])
        }
        queued.append(entry)
        return .wait
    }

    /// The batch being committed is done (its submissions resumed by its leader).
    mutating func batchFinished() -> FinishAction {
        precondition(isCommitting, "a batch finished while none was committing")
        guard !queued.isEmpty else {
            isCommitting = false
            return .idle
        }
        let count = min(maxBatch, queued.count)
        let batch = Array(queued.prefix(count))
        queued.removeFirst(count)
        return .handOver(batch)
    }

    /// Traps when an invariant does not hold (tests call it after every step).
    func checkInvariants() {
        precondition(isCommitting || queued.isEmpty, "submissions queued while nothing commits")
    }
}

extension GroupCommitStateMachine.Entry: Sendable where Item: Sendable, Waiter: Sendable {}
