import ComponentKit

/// The hop rule, in one place and without side effects: how many hops a message
/// has made when it is sent, and what becomes of one past its flow's limit.
///
/// A message sent while a node handles a message continues that message's
/// chain: it has made one hop more than the handled one (however the component
/// built it). A message sent outside any handler (a source's `run`, settings)
/// starts a chain, with the count it carries (0 for a fresh message). A count
/// never goes down, and saturates instead of wrapping, so no frame from a peer
/// can reset it.
enum HopLimit {
    /// What the runtime does with a message about to be sent.
    enum Verdict: Equatable {
        /// Within the limit: deliver it.
        case deliver
        /// The first hop past the limit: refuse it — except the one report of a
        /// failure (a refusal, say) that the node sends from its error port.
        case refuseAndReport
        /// Further past the limit (a report travelling on): refuse it; the
        /// failure it would have reported goes to the node's rate-limited log.
        case refuse
    }

    /// The hops of a message sent while handling a message that made `handled` hops.
    @inline(__always)
    static func hops(after handled: Int) -> Int {
        handled < Int.max ? max(handled, 0) + 1 : Int.max
    }

    /// The hops a message that carries `carried` leaves with, sent with a
    /// chain count of `chain` (``hops(after:)`` of the handled message, or 0
    /// outside a handler).
    @inline(__always)
    static func sent(carried: Int, chain: Int) -> Int {
        max(carried, chain)
    }

    /// Whether `error` is a send refused at the hop limit (alone, or every
    /// failure of a batch): the component did nothing wrong, so it is neither
    /// retried nor counted towards a restart of the node.
    static func isRefusal(_ error: any Error) -> Bool {
        if error is HopLimitExceeded { return true }
        if let batch = error as? BatchSendError {
            return !batch.failures.isEmpty && batch.failures.allSatisfy { $0.error is HopLimitExceeded }
        }
        return false
    }

    /// What to do with a message that has made `hops` hops, under `limit`.
    @inline(__always)
    static func verdict(hops: Int, limit: Int) -> Verdict {
        if hops <= limit { return .deliver }
        return hops == limit + 1 ? .refuseAndReport : .refuse
    }
}

/// Why the runtime refused to send a message: it had made more hops than its
/// flow allows (`maxHops`), which is how a cycle of nodes is stopped.
struct HopLimitExceeded: Error, Sendable, Hashable, CustomStringConvertible {
    /// The refused message.
    var messageID: String
    /// The hops it would have made.
    var hops: Int
    /// The limit of the sending node's flow.
    var limit: Int
    /// The sending node's flow, if it is in one.
    var flow: String?
    /// The sending node and output port.
    var from: PortAddress

    var description: String {
        let flow = self.flow.map { "flow \($0)" } ?? "no flow"
        return "message \(messageID) exceeded the hop limit of \(limit) (\(flow)) when sent from \(from): "
            + "a cycle? It was not delivered. Break the cycle, or raise the TinyFlow's spec.maxHops "
            + "if the chain of nodes is meant to be this long."
    }
}
