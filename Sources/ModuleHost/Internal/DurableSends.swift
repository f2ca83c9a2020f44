import ComponentKit
import Foundation
import MessageStoreAPI

extension Router {
    /// Stores `messages` for a durable edge. While a durable message is handled they wait in
    /// its ``DurableHandling`` and are stored with its settlement (exactly once); otherwise
    /// they are stored now, and the call returns once they are committed — after waiting
    /// for room while the target's queue is full (backpressure), at most until the earliest
    /// deadline among them.
    func store(_ messages: some Collection<Message>, along route: DurableRoute, sender: String) async throws {
        guard let messageStore else { throw DeliveryError.noDurableStore(node: sender) }
        let pending = messages.map { PendingMessage(queue: route.queue, edge: route.edge, message: $0) }
        guard !pending.isEmpty else { return }
        if let handling = DeliveryContext.current?.durable {
            handling.add(pending, maxBacklog: route.maxBacklog)
            return
        }
        try await Self.enqueue(pending, maxBacklog: route.maxBacklog, into: messageStore)
    }

    /// Stores `pending` (all for one queue), waiting while the queue holds `maxBacklog`
    /// messages: woken when this process's consumers make room (and every process's, on
    /// PostgreSQL), and looking again at least once a second, since consumers in other
    /// processes sharing an SQLite file make room unseen. Past the earliest deadline among
    /// the messages it gives up with ``MessageStoreError/backlogFull(queue:limit:)``.
    static func enqueue(_ pending: [PendingMessage], maxBacklog: Int, into store: any MessageStore) async throws {
        guard let queue = pending.first?.queue else { return }
        let deadline = pending.compactMap(\.message.deadline).min()
        while true {
            let seen = store.signals.generation(.space(queue))
            do {
                try await store.enqueue(pending, maxBacklog: maxBacklog)
                return
            } catch MessageStoreError.backlogFull(let full, let limit) {
                let remaining = deadline.map { $0.timeIntervalSinceNow } ?? .infinity
                guard remaining > 0 else { throw MessageStoreError.backlogFull(queue: full, limit: limit) }
                await store.signals.wait(for: .space(queue), after: seen, until: .now + .seconds(min(remaining, 1)))
                try Task.checkCancellation()
            }
        }
    }
}
