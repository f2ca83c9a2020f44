import CRDModels
import ComponentKit
import KubernetesClient
import KubernetesModels
import MessageStoreAPI
import ModuleHost
@testable import Operator
import Synchronization
import TestSupport
import Testing

/// Passes every call through to the real hosts except `DeadLetters`, which it records and
/// answers itself: as a host without a message store, as a store that is down, or as one
/// that deleted `count` messages.
final class DeadLetterAnswers: ModuleHostConnector {
    enum Answer: Sendable {
        case noMessageStore
        case storeDown
        case deleted(Int)
    }

    let base: any ModuleHostConnector
    private let state: Mutex<(answer: Answer, requests: [DeadLetterRequest])>

    init(_ base: any ModuleHostConnector, answer: Answer) {
        self.base = base
        self.state = Mutex((answer, []))
    }

    /// The requests received, in order.
    var requests: [DeadLetterRequest] { state.withLock { $0.requests } }

    /// Answers later requests with `answer`.
    func answer(_ answer: Answer) { state.withLock { $0.answer = answer } }

    func connection(to address: String) async throws -> any ModuleHostConnection {
        Answering(base: try await base.connection(to: address), answers: self)
    }

    func shutdown() async { await base.shutdown() }

    fileprivate func receive(_ request: DeadLetterRequest) throws -> DeadLetterResponse {
        let answer = state.withLock { state in
            state.requests.append(request)
            return state.answer
        }
        switch answer {
        case .noMessageStore: throw DeadLetterAccessError.noMessageStore
        case .storeDown: throw MessageStoreError.unavailable(store: "fake", reason: "the database is down")
        case .deleted(let count): return DeadLetterResponse(count: count)
        }
    }

    private struct Answering: ModuleHostConnection {
        let base: any ModuleHostConnection
        let answers: DeadLetterAnswers

        func catalogue() async throws -> ModuleCatalogue { try await base.catalogue() }
        func sync(_ desired: DesiredNodes) async throws -> SyncResult { try await base.sync(desired) }
        func watchStatus(interval: Duration, _ body: @escaping @Sendable ([NodeStatusReport]) async throws -> Void) async throws {
            try await base.watchStatus(interval: interval, body)
        }
        func recentMessages(node: String) async throws -> [Message]? { try await base.recentMessages(node: node) }
        func deliver(_ message: Message) async throws { try await base.deliver(message) }
        func context(_ request: ContextRequest) async throws -> ContextResponse { try await base.context(request) }
        func deadLetters(_ request: DeadLetterRequest) async throws -> DeadLetterResponse { try answers.receive(request) }
    }
}

@Suite("A deleted node's stored messages and dead letters go with it", .timeLimit(.minutes(3)))
struct QueueCleanupTests {
    @Test("deleting a node asks its host to delete the node's durable queues; a host with no message store lets it go")
    func queuesGoWithTheNode() async throws {
        let answers = Mutex<DeadLetterAnswers?>(nil)
        try await withOperator(hosts: { base in
            let wrapped = DeadLetterAnswers(base, answer: .noMessageStore)
            answers.withLock { $0 = wrapped }
            return wrapped
        }) { harness in
            let answers = try #require(answers.withLock { $0 })
            _ = try await harness.nodes.create(node("counter", "kv", settings: ["key": "n"]))
            try await harness.waitUntilReady(["counter"])

            _ = try await harness.nodes.delete("counter")
            try await eventually("the node gone", timeout: .seconds(15)) { try await harness.nodes.getOptional("counter") == nil }
            #expect(answers.requests == [DeadLetterRequest(.deleteQueues, namespace: "default", nodes: ["counter"])])
        }
    }

    @Test("while the message store cannot be reached the node keeps its finalizer; once it answers the node goes")
    func unreachableStoreHoldsTheFinalizer() async throws {
        let answers = Mutex<DeadLetterAnswers?>(nil)
        try await withOperator(hosts: { base in
            let wrapped = DeadLetterAnswers(base, answer: .storeDown)
            answers.withLock { $0 = wrapped }
            return wrapped
        }) { harness in
            let answers = try #require(answers.withLock { $0 })
            _ = try await harness.nodes.create(node("counter", "kv", settings: ["key": "n"]))
            try await harness.waitUntilReady(["counter"])

            _ = try await harness.nodes.delete("counter")
            try await eventually("the deletion retried", timeout: .seconds(15)) { answers.requests.count >= 2 }
            let held = try await harness.nodes.getOptional("counter")
            #expect(held?.metadata.finalizers == [TinyflowOperator.nodeFinalizer])

            answers.answer(.deleted(3))
            try await eventually("the node gone", timeout: .seconds(30)) { try await harness.nodes.getOptional("counter") == nil }
            #expect(Set(answers.requests) == [DeadLetterRequest(.deleteQueues, namespace: "default", nodes: ["counter"])])
        }
    }
}
