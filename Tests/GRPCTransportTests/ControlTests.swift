import ComponentKit
import Foundation
import GRPCCore
@testable import GRPCTransport
import JSONSchemaKit
import MessageStoreAPI
import ModuleHost
import Synchronization
import Testing

@Suite("Control API over loopback", .timeLimit(.minutes(3)))
struct ControlTests {
    @Test("Catalogue, SyncNodes and RecentMessages round-trip through the control")
    func unaryCalls() async throws {
        let debugMessage = message(from: "ticker", ["tick": 3], deadline: Date(timeIntervalSince1970: 1_900_000_000.5))
        let control = FakeControl(recent: ["debug": [debugMessage]])
        try await withServer(control: control, sink: RecordingSink()) { _, port in
            try await ModuleHostClient.withClient(address: "127.0.0.1:\(port)") { client in
                let catalogue = try await client.catalogue()
                #expect(catalogue.module == "common")
                #expect(catalogue.version == "1.2.3")

                let desired = DesiredNodes(
                    generation: 7,
                    nodes: [NodeDefinition(name: "t1", component: "ticker", edges: [])],
                    remoteNodes: ["h1": "http"], moduleAddresses: ["http": ["10.0.0.1:50051"]])
                let result = try await client.sync(desired)
                #expect(result == SyncResult(generation: 7, nodes: [NodeSyncResult(name: "t1", phase: .running)]))
                #expect(control.syncs.withLock { $0 } == [desired])

                #expect(try await client.recentMessages(node: "debug") == [debugMessage])
                #expect(try await client.recentMessages(node: "unknown") == nil)
            }
        }
    }

    @Test("Context carries the request to the host's store; a store failure arrives as UNAVAILABLE with its reason")
    func context() async throws {
        let control = FakeControl()
        try await withServer(control: control, sink: RecordingSink()) { _, port in
            try await ModuleHostClient.withClient(address: "127.0.0.1:\(port)") { client in
                let scope = ContextScope.flow(namespace: "shop", flow: "orders")
                let response = try await client.context(ContextRequest(.get, scope: scope, key: "count"))
                #expect(response.value == "flow shop/orders count")
                #expect(control.contextRequests.withLock { $0 } == [ContextRequest(.get, scope: scope, key: "count")])

                let error = await #expect(throws: RPCError.self) {
                    try await client.context(ContextRequest(.set, scope: scope, key: "down", value: 1))
                }
                #expect(error?.code == .unavailable)
                #expect(error?.message == "context store fake is unavailable: the database is down")
            }
        }
    }

    @Test("DeadLetters carries the request to the host and its dead letters back, the message and times intact")
    func deadLetters() async throws {
        let stored = DeadLetter(
            id: 42, queue: DurableQueue(namespace: "shop", node: "counter", port: "in"),
            edge: DurableEdge(node: "ticker", edge: "to-counter"),
            message: message(from: "ticker", ["tick": 3], deadline: Date(timeIntervalSince1970: 1_900_000_000.25)),
            attempts: 5, reason: .attemptsExhausted, lastError: "division by zero",
            enqueuedAt: Date(timeIntervalSince1970: 1_800_000_000.125), deadLetteredAt: Date(timeIntervalSince1970: 1_800_000_009.5))
        let control = FakeControl(deadLetters: [stored])
        try await withServer(control: control, sink: RecordingSink()) { _, port in
            try await ModuleHostClient.withClient(address: "127.0.0.1:\(port)") { client in
                let list = DeadLetterRequest(.list, namespace: "shop", nodes: ["counter"], limit: 10)
                let listed = try await client.deadLetters(list)
                #expect(listed == DeadLetterResponse(deadLetters: [stored]))
                let replay = DeadLetterRequest(.replay, namespace: "shop", ids: [42, 43])
                let replayed = try await client.deadLetters(replay)
                #expect(replayed.count == 2)
                #expect(control.deadLetterRequests.withLock { $0 } == [list, replay])
            }
        }
    }

    @Test("DeadLetters failures: a host without a message store, an unreachable store and an invalid request each arrive as what they are")
    func deadLetterFailures() async throws {
        try await withServer(control: FakeControl(), sink: RecordingSink()) { _, port in
            try await ModuleHostClient.withClient(address: "127.0.0.1:\(port)") { client in
                await #expect(throws: DeadLetterAccessError.noMessageStore) {
                    try await client.deadLetters(DeadLetterRequest(.purge, namespace: "memory"))
                }
                let down = await #expect(throws: RPCError.self) {
                    try await client.deadLetters(DeadLetterRequest(.list, namespace: "down"))
                }
                #expect(down?.code == .unavailable)
                #expect(down?.message == "message store fake is unavailable: the database is down")
                let invalid = await #expect(throws: RPCError.self) {
                    try await client.deadLetters(DeadLetterRequest(.list, namespace: "shop", limit: 5_000))
                }
                #expect(invalid?.code == .invalidArgument)
                #expect(invalid?.message.contains("field limit") == true)
            }
        }
    }

    @Test("WatchNodeStatus streams reports at no shorter interval than the server's minimum")
    func watch() async throws {
        let report = NodeStatusReport(name: "t1", generation: 1, phase: .running)
        let control = FakeControl(reports: [report])
        try await withServer(control: control, sink: RecordingSink()) { _, port in
            try await ModuleHostClient.withClient(address: "127.0.0.1:\(port)") { client in
                struct Enough: Error {}
                let rounds = Shared<[Int]>([])
                await #expect(throws: Enough.self) {
                    try await client.watchStatus(interval: .milliseconds(1)) { reports in
                        let count = rounds.withLock { rounds in
                            rounds.append(contentsOf: reports.map(\.restarts))
                            return rounds.count
                        }
                        if count == 3 { throw Enough() }
                    }
                }
                #expect(rounds.value == [0, 1, 2])
                // The client asked for 1 ms; the server's minimum (50 ms) applies.
                #expect(control.watchIntervals.withLock { $0 } == [.milliseconds(50)])

                _ = try? await within(.seconds(5)) {
                    try await client.watchStatus(interval: .milliseconds(200)) { _ in throw Enough() }
                }
                #expect(control.watchIntervals.withLock { $0.last } == .milliseconds(200))
            }
        }
    }

    @Test("unary calls to a host that does not answer fail within their deadline")
    func unaryDeadline() async throws {
        // Nothing listens on this port (a server bound it and went away).
        let port = try await withServer(sink: RecordingSink()) { _, port in port }
        _ = try await ModuleHostClient.withClient(address: "127.0.0.1:\(port)", callTimeout: .milliseconds(300)) { client in
            let started = ContinuousClock.now
            await #expect(throws: RPCError.self) { _ = try await client.catalogue() }
            // The deadline is 300 ms; the bound leaves room for a loaded machine, not for a hang.
            #expect(ContinuousClock.now - started < .seconds(3))
        }
    }
}
