public import MessageStoreAPI

/// One operation on the dead letters (or the durable queues) of a namespace through a module
/// host's control API: how `tinyflow dlq` lists, replays and purges dead letters, and how the
/// operator drops a deleted node's queues, without holding the store's credentials themselves.
///
/// ``nodes`` and ``ids`` narrow the operation; every criterion given must hold, and none given
/// means the whole namespace.
public struct DeadLetterRequest: Codable, Sendable, Hashable {
    /// What to do.
    public enum Operation: String, Codable, Sendable, Hashable, CaseIterable {
        /// Read the dead letters selected, oldest first, at most ``DeadLetterRequest/limit``.
        case list
        /// Put the dead letters selected back into their queues, attempts reset.
        case replay
        /// Remove the dead letters selected.
        case purge
        /// Remove every stored message and dead letter of ``DeadLetterRequest/nodes``' queues:
        /// the nodes were deleted. Needs the nodes; takes no ids.
        case deleteQueues
    }

    /// How many dead letters `list` returns when the request gives no limit.
    public static let defaultLimit = 100
    /// The most dead letters one `list` returns.
    public static let maximumLimit = 1_000

    /// What to do.
    public var operation: Operation
    /// The namespace whose dead letters (or queues) the request concerns.
    public var namespace: String
    /// Only those of these nodes (a flow's nodes, or one), if given; an empty list selects nothing.
    public var nodes: [String]?
    /// Only these dead letters, if given.
    public var ids: [Int64]?
    /// `list`: at most this many (1 to ``maximumLimit``; absent: ``defaultLimit``).
    public var limit: Int?

    /// A request.
    public init(_ operation: Operation, namespace: String, nodes: [String]? = nil, ids: [Int64]? = nil, limit: Int? = nil) {
        self.operation = operation
        self.namespace = namespace
        self.nodes = nodes
        self.ids = ids
        self.limit = limit
    }

    /// The dead letters the request selects, as the store's filter.
    public var filter: DeadLetterFilter {
        DeadLetterFilter(namespace: namespace, nodes: nodes.map(Set.init), ids: ids.map(Set.init))
    }

    /// How many dead letters `list` returns at most.
    public var effectiveLimit: Int { limit ?? Self.defaultLimit }

    /// Throws ``DeadLetterAccessError/invalidRequest(field:reason:)`` naming the field that
    /// does not fit the operation; a module host checks this before touching its store.
    public func validate() throws(DeadLetterAccessError) {
        func invalid(_ field: String, _ reason: String) -> DeadLetterAccessError {
            .invalidRequest(field: field, reason: reason)
        }
        if namespace.isEmpty { throw invalid("namespace", "is empty") }
        if let nodes, nodes.contains(where: \.isEmpty) { throw invalid("nodes", "contains an empty node name") }
        if let limit, !(1...Self.maximumLimit).contains(limit) {
            throw invalid("limit", "is \(limit); it must be between 1 and \(Self.maximumLimit)")
        }
        if operation == .deleteQueues {
            guard let nodes, !nodes.isEmpty else { throw invalid("nodes", "deleteQueues needs the deleted nodes' names") }
            if ids != nil { throw invalid("ids", "deleteQueues removes whole queues: it takes no ids") }
        }
    }
}

/// What a ``DeadLetterRequest`` found or did.
public struct DeadLetterResponse: Codable, Sendable, Hashable {
    /// The dead letters (`list`), oldest first.
    public var deadLetters: [DeadLetter]?
    /// How many were replayed (`replay`) or removed (`purge`: dead letters; `deleteQueues`:
    /// stored messages and dead letters).
    public var count: Int?

    /// A response.
    public init(deadLetters: [DeadLetter]? = nil, count: Int? = nil) {
        self.deadLetters = deadLetters
        self.count = count
    }
}

/// Why a module host refused a ``DeadLetterRequest`` before its store was asked. The store's
/// own failures are ``MessageStoreError``s.
public enum DeadLetterAccessError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The host keeps no stored messages (it runs with `--context-store memory`, so it has no
    /// durable edges): there are no dead letters and no queues to act on.
    case noMessageStore
    /// A field of the request does not fit its operation.
    case invalidRequest(field: String, reason: String)
    /// The host serves another namespace: it acts on its own namespace's messages only.
    case namespaceNotServed(namespace: String, served: String)

    /// One line naming what is wrong.
    public var description: String {
        switch self {
        case .noMessageStore:
            "this module host has no message store (durable edges need a SQLite or PostgreSQL context store): it keeps no durable messages or dead letters"
        case .invalidRequest(let field, let reason): "dead-letter request field \(field) \(reason)"
        case .namespaceNotServed(let namespace, let served):
            "this module host serves the dead letters of namespace \(served), not of \(namespace)"
        }
    }
}

extension MessageStore {
    /// Carries out `request` on this store after ``DeadLetterRequest/validate()``: what a
    /// module host does for its control API. A request whose nodes or ids are an empty list
    /// selects nothing and is answered without asking the store.
    public func perform(_ request: DeadLetterRequest) async throws -> DeadLetterResponse {
        try request.validate()
        if request.nodes?.isEmpty == true || request.ids?.isEmpty == true {
            return request.operation == .list ? DeadLetterResponse(deadLetters: []) : DeadLetterResponse(count: 0)
        }
        switch request.operation {
        case .list:
            return DeadLetterResponse(deadLetters: try await deadLetters(request.filter, limit: request.effectiveLimit))
        case .replay:
            return DeadLetterResponse(count: try await replay(request.filter))
        case .purge:
            return DeadLetterResponse(count: try await purge(request.filter))
        case .deleteQueues:
            var removed = 0
            for node in Set(request.nodes ?? []).sorted() {
                removed += try await deleteQueues(namespace: request.namespace, node: node)
            }
            return DeadLetterResponse(count: removed)
        }
    }
}
