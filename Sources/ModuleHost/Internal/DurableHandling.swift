import CRDModels
import ContextStoreAPI
import MessageStoreAPI
import Synchronization

/// What the handlers of one claimed batch of durable messages did that takes effect only
/// when the batch is settled: their context writes (a ``ContextTransaction``) and the
/// messages they sent on durable edges. Each message's handler starts at a checkpoint, so
/// the effects of one that fails are taken back without its neighbours'.
final class DurableHandling: Sendable {
    /// The batch's context writes.
    let context: ContextTransaction
    private let sends = Mutex<(messages: [PendingMessage], maxBacklog: Int)>(([], Int.max))

    /// Effects over `contextStore`, none yet.
    init(contextStore: any ContextStore) {
        context = ContextTransaction(base: contextStore)
    }

    /// Keeps `messages`, sent on a durable edge whose target queue may hold `maxBacklog`, to
    /// store with the settlement.
    func add(_ messages: some Sequence<PendingMessage>, maxBacklog: Int) {
        sends.withLock { sends in
            sends.messages.append(contentsOf: messages)
            sends.maxBacklog = min(sends.maxBacklog, maxBacklog)
        }
    }

    /// The messages sent on durable edges so far.
    var pendingMessages: [PendingMessage] { sends.withLock { $0.messages } }

    /// The backlog limit the settlement stores them under: the smallest of their edges'.
    var maxBacklog: Int { sends.withLock { $0.maxBacklog == .max ? Edge.defaultMaxBacklog : $0.maxBacklog } }

    /// The effects as they are now.
    struct Checkpoint: Sendable {
        fileprivate let context: ContextTransaction.Checkpoint
        fileprivate let sent: Int
    }

    /// Marks the effects as they are now.
    func checkpoint() -> Checkpoint {
        Checkpoint(context: context.checkpoint(), sent: sends.withLock { $0.messages.count })
    }

    /// Takes back every effect since `checkpoint`.
    func rollback(to checkpoint: Checkpoint) {
        context.rollback(to: checkpoint.context)
        sends.withLock { $0.messages.removeSubrange(min(checkpoint.sent, $0.messages.count)...) }
    }
}
