import ComponentKit
import Foundation
import JSONSchemaKit
import MessageStoreAPI

/// A ``PendingMessage`` ready to insert: its message encoded (and checked against the size
/// limit), its order columns taken from the message.
struct StoredMessage: Sendable {
    var queue: DurableQueue
    var edge: DurableEdge
    var body: String
    var priority: Int64
    var deadline: Date?
    var availableAt: Date?

    /// Encodes `pending`'s message; throws ``MessageStoreError/messageTooLarge(queue:messageID:bytes:limit:)``
    /// past `limits`.
    init(_ pending: PendingMessage, limits: MessageStoreLimits) throws(MessageStoreError) {
        let body = try MessageBody.encode(pending.message, queue: pending.queue)
        let bytes = body.utf8.count
        if bytes > limits.maxMessageBytes {
            throw .messageTooLarge(queue: pending.queue, messageID: pending.message.id, bytes: bytes, limit: limits.maxMessageBytes)
        }
        queue = pending.queue
        edge = pending.edge
        self.body = body
        priority = Int64(pending.message.priority)
        deadline = pending.message.deadline
        availableAt = pending.availableAt
    }
}

/// Stored messages as JSON text (``MessageBody``, shared with SQLite), with this store's errors.
extension MessageBody {
    /// The message's JSON; ``MessageStoreError/corrupt(id:reason:)`` for a payload with a NaN or
    /// infinite number (it has no id in the store yet, hence 0).
    static func encode(_ message: Message, queue: DurableQueue) throws(MessageStoreError) -> String {
        do {
            return try encode(message)
        } catch {
            throw .corrupt(id: 0, reason: "message \(message.id) for durable queue \(queue) cannot be encoded as JSON: \(error)")
        }
    }

    /// The message stored as `text` under `id`; ``MessageStoreError/corrupt(id:reason:)`` if it is not one.
    static func decode(_ text: String, id: Int64) throws(MessageStoreError) -> Message {
        do {
            return try decode(Data(text.utf8))
        } catch {
            throw .corrupt(id: id, reason: "\(error)")
        }
    }
}
