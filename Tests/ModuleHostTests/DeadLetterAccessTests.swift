import ComponentKit
import Foundation
import Logging
import MessageStoreAPI
import ModuleHost
import Synchronization
import Testing

/// A message store that answers dead-letter calls from a fixed list and records what it was
/// asked; the queue calls are not used here.
private final class RecordingMessageStore: MessageStore {
    enum Call: Hashable {
        case deadLetters(DeadLetterFilter, limit: Int)
        case replay(DeadLetterFilter)
        case purge(DeadLetterFilter)
        case deleteQueues(namespace: String, node: String)
    }

    let limits = MessageStoreLimits()
    let signals = QueueSignals()
    let stored: [DeadLetter]
    private let recorded = Mutex<[Call]>([])

    init(stored: [DeadLetter] = []) { self.stored = stored }

    var calls: [Call] { recorded.withLock { $0 } }

    private func selected(_ filter: DeadLetterFilter) -> [DeadLetter] {
        stored.filter { letter in
            letter.queue.namespace == filter.namespace && filter.nodes.map { $0.contains(letter.queue.node) } != false
                && filter.ids.map { $0.contains(letter.id) } != false
        }
    }

    func deadLetters(_ filter: DeadLetterFilter, limit: Int) async throws -> [DeadLetter] {
        recorded.withLock { $0.append(.deadLetters(filter, limit: limit)) }
        return Array(selected(filter).prefix(limit))
    }

    func replay(_ filter: DeadLetterFilter) async throws -> Int {
        recorded.withLock { $0.append(.replay(filter)) }
        return selected(filter).count
    }

    func purge(_ filter: DeadLetterFilter) async throws -> Int {
        recorded.withLock { $0.append(.purge(filter)) }
        return selected(filter).count
    }

    func deleteQueues(namespace: String, node: String) async throws -> Int {
        recorded.withLock { $0.append(.deleteQueues(namespace: namespace, node: node)) }
        return stored.filter { $0.queue.namespace == namespace && $0.queue.node == node }.count
    }

    struct Unused: Error {}
    func enqueue(_ messages: [PendingMessage], maxBacklog: Int) async throws { throw Unused() }
    func claim(from queue: DurableQueue, limit: Int, leaseDuration: Duration) async throws -> Claim { throw Unused() }
    func extend(_ leases: [MessageStoreAPI.Lease], leaseDuration: Duration) async throws -> [MessageStoreAPI.Lease] { throw Unused() }
    func settle(_ settlement: Settlement, maxBacklog: Int) async throws { throw Unused() }
    func backlog(of queue: DurableQueue) async throws -> Int { throw Unused() }
    func queuesHoldingMessages(_ queues: [DurableQueue]) async throws -> Set<DurableQueue> { throw Unused() }
    func nextAvailableTime(of queue: DurableQueue) async throws -> Date? { throw Unused() }
    func checkAvailability() async throws {}
    func close() async {}
}

/// A dead letter `id` of `node`'s `in` port in `namespace`.
private func deadLetter(_ id: Int64, node: String, namespace: String = "shop") -> DeadLetter {
    DeadLetter(
        id: id, queue: DurableQueue(namespace: namespace, node: node, port: "in"), edge: DurableEdge(node: "ticker", edge: "to-\(node)"),
        message: Message(id: "m\(id)", to: PortAddress(node: node, port: "in"), payload: ["n": .integer(Int(id))]),
        attempts: 5, reason: .attemptsExhausted, lastError: "boom", enqueuedAt: Date(timeIntervalSince1970: 1_700_000_000),
        deadLetteredAt: Date(timeIntervalSince1970: 1_700_000_060))
}

@Suite("Dead letters through the module host's control API", .timeLimit(.minutes(1)))
struct DeadLetterAccessTests {
    @Test(
        "a request that does not fit its operation is refused naming the field",
        arguments: [
            (DeadLetterRequest(.list, namespace: ""), "namespace"),
            (DeadLetterRequest(.list, namespace: "shop", limit: 0), "limit"),
            (DeadLetterRequest(.list, namespace: "shop", limit: 1_001), "limit"),
            (DeadLetterRequest(.purge, namespace: "shop", nodes: ["a", ""]), "nodes"),
            (DeadLetterRequest(.deleteQueues, namespace: "shop"), "nodes"),
            (DeadLetterRequest(.deleteQueues, namespace: "shop", nodes: []), "nodes"),
            (DeadLetterRequest(.deleteQueues, namespace: "shop", nodes: ["a"], ids: [1]), "ids"),
        ])
    func invalidRequests(request: DeadLetterRequest, field: String) {
        #expect {
            try request.validate()
        } throws: { error in
            guard case .invalidRequest(let named, _)? = error as? DeadLetterAccessError else { return false }
            return named == field && "\(error)".contains("field \(field) ")
        }
    }

    @Test("a request without a limit lists 100; 1 and 1,000 are the bounds")
    func limits() throws {
        #expect(DeadLetterRequest(.list, namespace: "shop").effectiveLimit == 100)
        try DeadLetterRequest(.list, namespace: "shop", limit: 1).validate()
        try DeadLetterRequest(.list, namespace: "shop", limit: 1_000).validate()
        try DeadLetterRequest(.deleteQueues, namespace: "shop", nodes: ["counter"]).validate()
    }

    @Test("requests and responses keep every field through their JSON encoding, and a request without optional fields decodes")
    func encoding() throws {
        let request = DeadLetterRequest(.replay, namespace: "shop", nodes: ["a", "b"], ids: [3, 4], limit: 7)
        #expect(try JSONDecoder().decode(DeadLetterRequest.self, from: JSONEncoder().encode(request)) == request)
        let minimal = try JSONDecoder().decode(DeadLetterRequest.self, from: Data(#"{"operation":"purge","namespace":"shop"}"#.utf8))
        #expect(minimal == DeadLetterRequest(.purge, namespace: "shop"))
        #expect(minimal.filter == DeadLetterFilter(namespace: "shop"))
        #expect(request.filter == DeadLetterFilter(namespace: "shop", nodes: ["a", "b"], ids: [3, 4]))

        let response = DeadLetterResponse(deadLetters: [deadLetter(1, node: "a")], count: 1)
        #expect(try JSONDecoder().decode(DeadLetterResponse.self, from: JSONEncoder().encode(response)) == response)
    }

    @Test("a store carries out list, replay, purge and deleteQueues with the request's filter")
    func performOnAStore() async throws {
        let store = RecordingMessageStore(stored: [deadLetter(1, node: "a"), deadLetter(2, node: "b"), deadLetter(3, node: "a")])
        let listed = try await store.perform(DeadLetterRequest(.list, namespace: "shop", nodes: ["a"], limit: 1))
        #expect(listed.deadLetters == [deadLetter(1, node: "a")])
        #expect(try await store.perform(DeadLetterRequest(.replay, namespace: "shop", ids: [2, 3])).count == 2)
        #expect(try await store.perform(DeadLetterRequest(.purge, namespace: "shop")).count == 3)
        #expect(try await store.perform(DeadLetterRequest(.deleteQueues, namespace: "shop", nodes: ["b", "a", "a"])).count == 3)
        #expect(store.calls == [
            .deadLetters(DeadLetterFilter(namespace: "shop", nodes: ["a"]), limit: 1),
            .replay(DeadLetterFilter(namespace: "shop", ids: [2, 3])),
            .purge(DeadLetterFilter(namespace: "shop")),
            .deleteQueues(namespace: "shop", node: "a"),
            .deleteQueues(namespace: "shop", node: "b"),
        ])
    }

    @Test("an empty list of nodes or ids selects nothing, and the store is not asked")
    func emptySelections() async throws {
        let store = RecordingMessageStore(stored: [deadLetter(1, node: "a")])
        #expect(try await store.perform(DeadLetterRequest(.list, namespace: "shop", nodes: [])).deadLetters == [])
        #expect(try await store.perform(DeadLetterRequest(.purge, namespace: "shop", ids: [])).count == 0)
        #expect(store.calls.isEmpty)
    }

    @Test("an invalid request never reaches the store")
    func invalidRequestsStayAway() async throws {
        let store = RecordingMessageStore()
        await #expect(throws: DeadLetterAccessError.self) {
            try await store.perform(DeadLetterRequest(.list, namespace: "shop", limit: 5_000))
        }
        #expect(store.calls.isEmpty)
    }

    @Test("a runtime without a message store answers that it has none; with one it carries the request out")
    func runtime() async throws {
        let logger = Logger(label: "test")
        let memory = ModuleRuntime(module: ModuleDefinition(name: "m", version: "1", components: []), logger: logger)
        await #expect(throws: DeadLetterAccessError.noMessageStore) {
            try await memory.deadLetters(DeadLetterRequest(.list, namespace: "shop"))
        }
        #expect("\(DeadLetterAccessError.noMessageStore)".contains("no message store"))

        let store = RecordingMessageStore(stored: [deadLetter(1, node: "a")])
        let durable = ModuleRuntime(
            module: ModuleDefinition(name: "m", version: "1", components: []), messageStore: store, logger: logger)
        let response = try await LocalModuleHostConnection(runtime: durable).deadLetters(DeadLetterRequest(.list, namespace: "shop"))
        #expect(response.deadLetters == [deadLetter(1, node: "a")])
    }
}
