/// Why a message-store operation failed. Messages name the queue or message, never a payload.
public enum MessageStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Leases no longer held (they expired and the messages may have been claimed again):
    /// nothing of the settlement was applied.
    case leaseLost([Lease])
    /// The queue holds its limit of messages: the sender waits or gives up.
    case backlogFull(queue: DurableQueue, limit: Int)
    /// A message is larger, encoded, than a stored message may be.
    case messageTooLarge(queue: DurableQueue, messageID: String, bytes: Int, limit: Int)
    /// A stored message could not be read back (the store was written by something else).
    case corrupt(id: Int64, reason: String)
    /// The backend cannot be reached or refused the operation; `reason` says why (never credentials).
    case unavailable(store: String, reason: String)

    /// One line naming what failed and why.
    public var description: String {
        switch self {
        case .leaseLost(let leases):
            "the lease\(leases.count == 1 ? "" : "s") on message\(leases.count == 1 ? "" : "s") \(leases.map { String($0.id) }.joined(separator: ", ")) expired before settling"
        case .backlogFull(let queue, let limit): "durable queue \(queue) holds its limit of \(limit) messages"
        case .messageTooLarge(let queue, let id, let bytes, let limit):
            "message \(id) for durable queue \(queue) is \(bytes) bytes encoded, at most \(limit) allowed"
        case .corrupt(let id, let reason): "stored message \(id) is unreadable: \(reason)"
        case .unavailable(let store, let reason): "message store \(store) is unavailable: \(reason)"
        }
    }
}
