import Foundation
import MessageStoreAPI

/// What one `NOTIFY` on ``channel`` says: which queues may have work (messages became
/// available) and which lost messages (room for senders held back by a backlog limit). Pure:
/// the payloads are built and read here, sent and received by the store.
///
/// A payload is compact JSON, `{"s":[["ns","node","port"]],"w":[…]}`, shorter than PostgreSQL's
/// limit of 8,000 bytes: a commit touching many queues sends several. A queue whose names alone
/// would not fit (names are not bounded by the store) is sent as ``everything``, which makes
/// every listener signal every queue it knows: a spurious wake-up costs a claim, a lost one a
/// stuck consumer.
enum DurableNotification {
    /// The channel every store of a database notifies and listens on.
    static let channel = "tinyflow_durable"
    /// The payload meaning "any queue may have changed".
    static let everything = "*"
    /// The most bytes a payload has (PostgreSQL refuses 8,000 and more).
    static let maxPayloadBytes = 7_900

    /// What a listener signals for a payload.
    enum Decoded: Equatable {
        /// These queues.
        case queues(work: Set<DurableQueue>, space: Set<DurableQueue>)
        /// Every queue the listener knows (``everything``, or a payload it cannot read).
        case everything
    }

    /// The payloads that announce `work` and `space`: none when both are empty.
    static func payloads(work: Set<DurableQueue>, space: Set<DurableQueue>, maxBytes: Int = maxPayloadBytes) -> [String] {
        var payloads: [String] = []
        var sendEverything = false
        var workParts: [String] = []
        var spaceParts: [String] = []
        var size = 0
        func flush() {
            guard !workParts.isEmpty || !spaceParts.isEmpty else { return }
            payloads.append(text(work: workParts, space: spaceParts))
            workParts = []
            spaceParts = []
            size = 0
        }
        // Sorted, so that the same changes always give the same payloads (PostgreSQL folds
        // identical notifications of one transaction into one).
        for (isWork, queues) in [(true, work), (false, space)] {
            for queue in queues.sorted() {
                let part = encode(queue)
                // Braces, keys, brackets and commas of a payload: at most 16 bytes beyond its parts.
                if part.utf8.count + 16 > maxBytes {
                    sendEverything = true
                    continue
                }
                if size + part.utf8.count + 16 > maxBytes { flush() }
                if isWork { workParts.append(part) } else { spaceParts.append(part) }
                size += part.utf8.count + 1
            }
        }
        flush()
        if sendEverything { payloads.append(everything) }
        return payloads
    }

    /// What `payload` announces.
    static func decode(_ payload: String) -> Decoded {
        guard payload != everything,
            let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any]
        else { return .everything }
        var work: Set<DurableQueue> = []
        var space: Set<DurableQueue> = []
        for (key, isWork) in [("w", true), ("s", false)] {
            guard let value = object[key] else { continue }
            guard let list = value as? [[String]] else { return .everything }
            for names in list {
                guard names.count == 3 else { return .everything }
                let queue = DurableQueue(namespace: names[0], node: names[1], port: names[2])
                if isWork { work.insert(queue) } else { space.insert(queue) }
            }
        }
        return .queues(work: work, space: space)
    }

    private static func encode(_ queue: DurableQueue) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [queue.namespace, queue.node, queue.port])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    private static func text(work: [String], space: [String]) -> String {
        var fields: [String] = []
        if !space.isEmpty { fields.append("\"s\":[\(space.joined(separator: ","))]") }
        if !work.isEmpty { fields.append("\"w\":[\(work.joined(separator: ","))]") }
        return "{\(fields.joined(separator: ","))}"
    }
}
