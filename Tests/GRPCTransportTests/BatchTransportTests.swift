import AsyncPrimitives
import ComponentKit
import Foundation
@testable import GRPCTransport
import JSONSchemaKit
import ModuleHost
import Synchronization
import TestSupport
import Testing

@Suite("Batch sends across modules", .timeLimit(.minutes(3)))
struct BatchTransportTests {
    func waitUntilReady(_ transport: GRPCModuleTransport, replicas: Int = 1) async throws {
        try await eventually("\(replicas) replica streams open") {
            let phases = transport.replicaPhases
            return phases.count == replicas && phases.values.allSatisfy { $0 == .ready }
        }
    }

    /// Runs `body`, returning the batch error it threw, or `nil` if every message was accepted.
    func failures(_ body: () async throws(BatchSendError) -> Void) async -> BatchSendError? {
        do {
            try await body()
            return nil
        } catch {
            return error
        }
    }

    @Test("every message of concurrent batches arrives, in order per sender, and each batch returns once all are acked")
    func orderAndAcks() async throws {
        let sink = RecordingSink()
        try await withServer(sink: sink) { _, port in
            // Small frames and window, so batches span several frames and wait in line.
            let configuration = GRPCModuleTransport.Configuration(maximumBatchMessages: 16, maximumInFlightPerReplica: 64)
            try await GRPCModuleTransport.withTransport(configuration: configuration) { transport in
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                try await waitUntilReady(transport)
                try await withThrowingDiscardingTaskGroup { group in
                    for sender in 0..<6 {
                        group.addTask {
                            for round in 0..<10 {
                                let batch = (0..<50).map { message(from: "s\(sender)", .integer(round * 50 + $0)) }
                                try await transport.send(contentsOf: batch, toModule: "m")
                                // The batch returned: all of it was delivered.
                                let delivered = sink.received.withLock { received in
                                    received.filter { $0.from?.node == "s\(sender)" }.count
                                }
                                #expect(delivered == (round + 1) * 50)
                            }
                        }
                    }
                    // Lone sends share the stream with the batches.
                    group.addTask {
                        for index in 0..<100 { try await transport.send(message(from: "lone", .integer(index)), toModule: "m") }
                    }
                }
                let received = sink.received.withLock { $0 }
                #expect(received.count == 6 * 500 + 100)
                for sender in ["s0", "s1", "s2", "s3", "s4", "s5", "lone"] {
                    let sequence = received.filter { $0.from?.node == sender }.compactMap(\.payload.intValue)
                    #expect(sequence == Array(0..<(sender == "lone" ? 100 : 500)))
                }
                #expect(transport.replicaInFlight.values.allSatisfy { $0 == 0 })
            }
        }
    }

    @Test("messages the remote host rejects or that expired are named; all others are accepted")
    func partialFailure() async throws {
        let sink = RejectingSink()
        try await withServer(sink: sink) { _, port in
            try await GRPCModuleTransport.withTransport { transport in
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                try await waitUntilReady(transport)
                var batch = (0..<20).map { message(from: "s", .integer($0)) }
                batch[3].payload = "reject"
                batch[11].payload = "reject"
                batch[7].deadline = .distantPast
                let error = try #require(await failures { () async throws(BatchSendError) in
                    try await transport.send(contentsOf: batch, toModule: "m")
                })
                #expect(error.count == 20)
                #expect(error.failures.map(\.index) == [3, 7, 11])
                #expect(error.failures.map(\.messageID) == [batch[3].id, batch[7].id, batch[11].id])
                #expect(error.failures[0].error as? TransportError == .rejected(module: "m", reason: "refused"))
                #expect(error.failures[1].error as? TransportError == .deadlineExceeded(module: "m", messageID: batch[7].id))
                // Accepted + failed = sent: the 17 others arrived, in order.
                let arrived = sink.accepted.withLock { $0 }.compactMap(\.payload.intValue)
                #expect(arrived == (0..<20).filter { ![3, 7, 11].contains($0) })
            }
        }
    }

    @Test("a batch to a peer that is not there fails every message, at once or by its deadline, without hanging")
    func deadPeer() async throws {
        let port = try freePort()
        try await GRPCModuleTransport.withTransport { transport in
            await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
            let deadline = Date().addingTimeInterval(1)
            let batch = (0..<100).map { message(from: "s", .integer($0), deadline: deadline) }
            let started = ContinuousClock.now
            let error = try #require(await failures { () async throws(BatchSendError) in
                try await transport.send(contentsOf: batch, toModule: "m")
            })
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(error.count == 100)
            #expect(error.failures.map(\.index) == Array(0..<100))
            for failure in error.failures {
                switch failure.error as? TransportError {
                case .unavailable(let module, _)?, .deadlineExceeded(let module, _)?: #expect(module == "m")
                default: Issue.record("expected unavailable or deadlineExceeded, got \(failure.error)")
                }
            }
            // The window is released as the failures are handled, possibly just after the batch returned.
            try await eventually("the in-flight window is empty again", timeout: .seconds(5)) {
                transport.replicaInFlight.values.allSatisfy { $0 == 0 }
            }
        }
    }

    @Test("a server that goes away mid-batch fails the unacknowledged messages as unavailable and counts every message")
    func peerGoesAway() async throws {
        let gate = OneShotEvent()
        let sink = RecordingSink(gate: gate)
        try await GRPCModuleTransport.withTransport { transport in
            try await withServer(sink: sink) { server, port in
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                try await waitUntilReady(transport)
                let batch = (0..<40).map { message(from: "s", .integer($0)) }
                let error = try await within(.seconds(20)) { () async throws -> BatchSendError? in
                    try await withThrowingTaskGroup(of: BatchSendError?.self) { group in
                        group.addTask {
                            do throws(BatchSendError) {
                                try await transport.send(contentsOf: batch, toModule: "m")
                                return nil
                            } catch { return error }
                        }
                        try await eventually("the sink holds the first message") { sink.count == 1 }
                        server.beginGracefulShutdown()
                        return try await group.next() ?? nil
                    }
                }
                let failed = try #require(error)
                // The sink never finished a delivery, so nothing was acked: every message failed.
                #expect(failed.failures.map(\.index) == Array(0..<40))
                for failure in failed.failures {
                    guard case .unavailable(let module, _)? = failure.error as? TransportError else {
                        Issue.record("expected unavailable, got \(failure.error)")
                        continue
                    }
                    #expect(module == "m")
                }
                gate.signal()
            }
        }
    }

    @Test("a batch larger than the in-flight window keeps in-flight messages bounded and completes once the consumer moves")
    func backpressure() async throws {
        let gate = OneShotEvent()
        let sink = RecordingSink(gate: gate)
        let limit = 16
        try await withServer(sink: sink) { _, port in
            let configuration = GRPCModuleTransport.Configuration(maximumBatchMessages: 4, maximumInFlightPerReplica: limit)
            try await GRPCModuleTransport.withTransport(configuration: configuration) { transport in
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                try await waitUntilReady(transport)
                let completed = Shared(0)
                try await withThrowingDiscardingTaskGroup { group in
                    for sender in 0..<2 {
                        group.addTask {
                            let batch = (0..<100).map { message(from: "s\(sender)", .integer($0)) }
                            try await transport.send(contentsOf: batch, toModule: "m")
                            completed.withLock { $0 += 1 }
                        }
                    }
                    try await eventually("the sink holds a message") { sink.count == 1 }
                    try await eventually("the in-flight window fills") { transport.replicaInFlight.values.first == limit }
                    #expect(completed.value == 0)
                    #expect(sink.count == 1)
                    #expect(transport.replicaInFlight.values.allSatisfy { $0 <= limit })
                    gate.signal()
                }
                #expect(completed.value == 2)
                let received = sink.received.withLock { $0 }
                #expect(received.count == 200)
                for sender in ["s0", "s1"] {
                    #expect(received.filter { $0.from?.node == sender }.compactMap(\.payload.intValue) == Array(0..<100))
                }
            }
        }
    }

    @Test("cancelling a waiting batch fails its unacknowledged messages with CancellationError")
    func cancellation() async throws {
        let gate = OneShotEvent()
        let sink = RecordingSink(gate: gate)
        try await withServer(sink: sink) { _, port in
            try await GRPCModuleTransport.withTransport { transport in
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                try await waitUntilReady(transport)
                let batch = (0..<10).map { message(from: "s", .integer($0)) }
                let task = Task { () -> BatchSendError? in
                    do throws(BatchSendError) {
                        try await transport.send(contentsOf: batch, toModule: "m")
                        return nil
                    } catch { return error }
                }
                try await eventually("the sink holds the first message") { sink.count == 1 }
                task.cancel()
                let error = try #require(try await within(.seconds(10)) { await task.value })
                #expect(error.failures.map(\.index) == Array(0..<10))
                #expect(error.failures.allSatisfy { $0.error is CancellationError })
                gate.signal()
            }
        }
    }

    @Test("a batch to a module without replicas fails every message with noReplicas")
    func noReplicas() async throws {
        try await GRPCModuleTransport.withTransport { transport in
            let batch = (0..<3).map { message(from: "s", .integer($0)) }
            let error = try #require(await failures { () async throws(BatchSendError) in
                try await transport.send(contentsOf: batch, toModule: "http")
            })
            #expect(error.failures.map(\.index) == [0, 1, 2])
            #expect(error.failures.allSatisfy { $0.error as? TransportError == .noReplicas(module: "http") })
        }
    }
}

/// A sink that refuses messages whose payload is `"reject"` and records the others.
final class RejectingSink: MessageSink {
    let accepted = Mutex<[Message]>([])

    struct Refused: Error, CustomStringConvertible {
        var description: String { "refused" }
    }

    func deliver(_ message: Message) async throws {
        if message.payload == "reject" { throw Refused() }
        accepted.withLock { $0.append(message) }
    }

    func request(_ message: Message) async throws -> JSONValue { message.payload }
}
