import AsyncPrimitives
import ComponentKit
import Foundation
@testable import GRPCTransport
import JSONSchemaKit
import ModuleHost
import Synchronization
import TestSupport
import Testing

@Suite("Cross-module transport over loopback", .timeLimit(.minutes(3)))
struct TransportTests {
    /// Waits until every replica of the transport has an open stream.
    func waitUntilReady(_ transport: GRPCModuleTransport, replicas: Int) async throws {
        try await eventually("\(replicas) replica streams open") {
            let phases = transport.replicaPhases
            return phases.count == replicas && phases.values.allSatisfy { $0 == .ready }
        }
    }

    @Test("messages reach the sink in per-sender order and every send is acked")
    func orderAndAcks() async throws {
        let sink = RecordingSink()
        try await withServer(sink: sink) { _, port in
            try await GRPCModuleTransport.withTransport { transport in
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                try await withThrowingDiscardingTaskGroup { group in
                    for sender in 0..<8 {
                        group.addTask {
                            for index in 0..<300 {
                                try await transport.send(message(from: "s\(sender)", .integer(index)), toModule: "m")
                            }
                        }
                    }
                }
                // Every send returned, so every message was acked after delivery.
                let received = sink.received.withLock { $0 }
                #expect(received.count == 8 * 300)
                for sender in 0..<8 {
                    let sequence = received.filter { $0.from?.node == "s\(sender)" }.compactMap(\.payload.intValue)
                    #expect(sequence == Array(0..<300))
                }
                #expect(received.first?.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            }
        }
    }

    @Test("a request returns the reply of the remote chain, and a failing chain's error")
    func requestReply() async throws {
        try await withServer(sink: RecordingSink()) { _, port in
            try await GRPCModuleTransport.withTransport { transport in
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                let reply = try await transport.request(message(from: "http", ["q": 1]), toModule: "m")
                #expect(reply == ["echo": ["q": 1]])
                let replies = try await withThrowingTaskGroup(of: JSONValue.self) { group in
                    for index in 0..<50 {
                        group.addTask { try await transport.request(message(from: "r", .integer(index)), toModule: "m") }
                    }
                    var replies: [JSONValue] = []
                    for try await reply in group { replies.append(reply) }
                    return replies
                }
                #expect(Set(replies.compactMap { $0["echo"]?.intValue }) == Set(0..<50))
                await #expect(throws: TransportError.rejected(module: "m", reason: "the chain failed")) {
                    _ = try await transport.request(message(from: "http", ["fail": true]), toModule: "m")
                }
            }
        }
    }

    @Test("a slow consumer slows the senders and keeps in-flight messages bounded")
    func slowConsumer() async throws {
        let gate = OneShotEvent()
        let sink = RecordingSink(gate: gate)
        let limit = 16
        try await withServer(sink: sink) { _, port in
            let configuration = GRPCModuleTransport.Configuration(maximumBatchMessages: 4, maximumInFlightPerReplica: limit)
            try await GRPCModuleTransport.withTransport(configuration: configuration) { transport in
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                try await waitUntilReady(transport, replicas: 1)
                let completed = Shared(0)
                try await withThrowingDiscardingTaskGroup { group in
                    for sender in 0..<100 {
                        group.addTask {
                            try await transport.send(message(from: "s\(sender)", .integer(sender)), toModule: "m")
                            completed.withLock { $0 += 1 }
                        }
                    }
                    // The sink holds the first message; nothing is acked and at most `limit` are in flight.
                    try await eventually("the sink holds a message") { sink.count == 1 }
                    try await eventually("the in-flight window fills") {
                        transport.replicaInFlight.values.first == limit
                    }
                    #expect(completed.value == 0)
                    #expect(sink.count == 1)
                    #expect(transport.replicaInFlight.values.allSatisfy { $0 <= limit })
                    gate.signal()
                }
                #expect(completed.value == 100)
                #expect(sink.count == 100)
            }
        }
    }

    @Test("a message whose deadline passes while the peer does not answer fails with deadlineExceeded")
    func deadline() async throws {
        let gate = OneShotEvent()
        try await withServer(sink: RecordingSink(gate: gate)) { _, port in
            try await GRPCModuleTransport.withTransport { transport in
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                let slow = message(from: "s", 1, deadline: Date().addingTimeInterval(0.2))
                let started = ContinuousClock.now
                let error = await #expect(throws: TransportError.self) {
                    try await transport.send(slow, toModule: "m")
                }
                #expect(error == .deadlineExceeded(module: "m", messageID: slow.id))
                #expect(ContinuousClock.now - started < .seconds(5), "the deadline (0.2 s) ends the send, not a hang")
                await #expect(throws: TransportError.deadlineExceeded(module: "m", messageID: "late")) {
                    var late = message(from: "s", 1, deadline: Date().addingTimeInterval(-1))
                    late.id = "late"
                    try await transport.send(late, toModule: "m")
                }
                gate.signal()
            }
        }
    }

    @Test("messages to a module without known replicas fail with noReplicas")
    func noReplicas() async throws {
        _ = try await GRPCModuleTransport.withTransport { transport in
            await #expect(throws: TransportError.noReplicas(module: "http")) {
                try await transport.send(message(from: "s", 1), toModule: "http")
            }
        }
    }

    @Test("messages are spread over the module's replicas")
    func spread() async throws {
        let first = RecordingSink()
        let second = RecordingSink()
        try await withServer(sink: first) { _, firstPort in
            try await withServer(sink: second) { _, secondPort in
                try await GRPCModuleTransport.withTransport { transport in
                    await transport.updateAddresses(["m": ["127.0.0.1:\(firstPort)", "127.0.0.1:\(secondPort)"]])
                    try await waitUntilReady(transport, replicas: 2)
                    for index in 0..<100 { try await transport.send(message(from: "s", .integer(index)), toModule: "m") }
                    #expect(first.count == 50)
                    #expect(second.count == 50)

                    // Removing a replica closes its stream; everything goes to the other one.
                    await transport.updateAddresses(["m": ["127.0.0.1:\(secondPort)"]])
                    for index in 0..<10 { try await transport.send(message(from: "s", .integer(index)), toModule: "m") }
                    #expect(first.count == 50)
                    #expect(second.count == 60)
                }
            }
        }
    }

    @Test("a server shutdown fails pending sends as unavailable, and a restarted server gets messages again")
    func reconnect() async throws {
        let gate = OneShotEvent()
        let blocked = RecordingSink(gate: gate)
        let configuration = GRPCModuleTransport.Configuration(initialBackoff: .milliseconds(20), maximumBackoff: .milliseconds(200))
        try await GRPCModuleTransport.withTransport(configuration: configuration) { transport in
            let port = try await withServer(sink: blocked) { server, port in
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                try await waitUntilReady(transport, replicas: 1)
                let failures = try await withThrowingTaskGroup(of: (any Error)?.self) { group in
                    for sender in 0..<5 {
                        group.addTask {
                            do {
                                try await transport.send(message(from: "s\(sender)", 1), toModule: "m")
                                return nil
                            } catch { return error }
                        }
                    }
                    try await eventually("the sink holds a message") { blocked.count == 1 }
                    server.beginGracefulShutdown()
                    var failures: [(any Error)?] = []
                    for try await failure in group { failures.append(failure) }
                    return failures
                }
                for failure in failures {
                    guard case .unavailable(let module, _)? = failure as? TransportError else {
                        Issue.record("expected unavailable, got \(String(describing: failure))")
                        continue
                    }
                    #expect(module == "m")
                }
                return port
            }
            // The server is gone: sends fail fast instead of hanging.
            try await eventually("sends fail fast while the server is down") {
                do {
                    try await within(.seconds(2)) { try await transport.send(message(from: "s", 1), toModule: "m") }
                    return false
                } catch let error as TransportError {
                    if case .unavailable = error { return true }
                    return false
                }
            }
            // A new server on the same port gets messages again once the transport reconnected.
            let fresh = RecordingSink()
            try await withServer(port: port, sink: fresh) { _, _ in
                try await eventually("the transport reconnects") {
                    (try? await transport.send(message(from: "s", "again"), toModule: "m")) != nil
                }
                try await transport.send(message(from: "s", "more"), toModule: "m")
                #expect(fresh.received.withLock { $0.last?.payload } == "more")
            }
        }
    }

    @Test("a server whose task is cancelled (a crash) fails pending sends as unavailable instead of hanging")
    func killed() async throws {
        let gate = OneShotEvent()
        let sink = RecordingSink(gate: gate)
        let server = ModuleHostServer(host: "127.0.0.1", port: 0, control: FakeControl(), sink: sink)
        try await GRPCModuleTransport.withTransport { transport in
            let serverTask = Task { try await server.run() }
            let port = try await server.boundPort
            await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
            try await waitUntilReady(transport, replicas: 1)
            let failure = try await within(.seconds(10)) {
                try await withThrowingTaskGroup(of: (any Error)?.self) { group in
                    group.addTask {
                        do {
                            try await transport.send(message(from: "s", 1), toModule: "m")
                            return nil
                        } catch { return error }
                    }
                    try await eventually("the sink holds the message") { sink.count == 1 }
                    serverTask.cancel()
                    return try await group.next() ?? nil
                }
            }
            guard case .unavailable(let module, _)? = failure as? TransportError else {
                Issue.record("expected unavailable, got \(String(describing: failure))")
                return
            }
            #expect(module == "m")
            _ = try? await serverTask.value
            gate.signal()
        }
    }
}
