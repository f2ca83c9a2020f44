import CommonComponents
import ComponentKit
import Foundation
import ModuleHost
import Synchronization
import ModuleHostTestSupport
import TestSupport
import Testing

/// A transport that records what it is asked to send and refuses messages whose payload is `"reject"`.
/// With `batches: false` it leaves `send(contentsOf:toModule:)` to the protocol's default.
final class RecordingTransport: Transport {
    struct Refused: Error, CustomStringConvertible {
        var description: String { "refused" }
    }

    /// Every accepted message with its module, in order.
    let accepted = Mutex<[(module: String, message: Message)]>([])
    /// The sizes of the batches the runtime handed over, in order.
    let batchSizes = Mutex<[Int]>([])

    func send(_ message: Message, toModule module: String) async throws {
        if message.payload == "reject" { throw Refused() }
        accepted.withLock { $0.append((module, message)) }
    }

    func request(_ message: Message, toModule module: String) async throws -> JSONValue {
        ["echo": message.payload]
    }

    func updateAddresses(_ addresses: [String: [String]]) async {}

    var messages: [Message] { accepted.withLock { $0.map(\.message) } }
}

/// Uses its own batch send: one call per batch.
final class BatchingTransport: Transport {
    let inner = RecordingTransport()

    func send(_ message: Message, toModule module: String) async throws { try await inner.send(message, toModule: module) }

    func send(contentsOf messages: [Message], toModule module: String) async throws(BatchSendError) {
        inner.batchSizes.withLock { $0.append(messages.count) }
        var failures: [BatchSendError.Failure] = []
        for (index, message) in messages.enumerated() {
            do { try await inner.send(message, toModule: module) } catch {
                failures.append(BatchSendError.Failure(index: index, messageID: message.id, error: error))
            }
        }
        if !failures.isEmpty { throw BatchSendError(count: messages.count, failures: failures) }
    }

    func request(_ message: Message, toModule module: String) async throws -> JSONValue {
        try await inner.request(message, toModule: module)
    }

    func updateAddresses(_ addresses: [String: [String]]) async {}
}

@Suite("Batch sends from a node", .timeLimit(.minutes(2)))
struct BatchSendTests {
    static let remote = ["far": "other"]

    @Test("a split node's elements reach a remote module as one batch, in order, addressed and counted")
    func splitToRemote() async throws {
        let transport = BatchingTransport()
        try await withRuntime(testModule, transport: transport) { runtime in
            let result = await runtime.sync(DesiredNodes(
                generation: 1,
                nodes: [definition("split", "split", edges: [edge("out", to: "far:in"), edge("out", to: "near:in")]),
                        definition("near", "debug", settings: ["log": false, "keep": 100])],
                remoteNodes: Self.remote))
            #expect(result.nodes.allSatisfy { $0.phase == .running })
            let elements = (0..<50).map { JSONValue.integer($0) }
            try await runtime.deliver(Message(to: PortAddress(node: "split", port: "in"), payload: .array(elements)))
            try await eventually("the split handled its message") { runtime.counters("split")?.delivered == 1 }
            #expect(transport.inner.batchSizes.withLock { $0 } == [50])
            let sent = transport.inner.messages
            #expect(sent.map(\.payload) == elements)
            #expect(sent.allSatisfy { $0.to == PortAddress(node: "far", port: "in") })
            #expect(sent.allSatisfy { $0.from == PortAddress(node: "split", port: "out") })
            // The local edge of the same port got the batch too, in order.
            try await eventually("the local edge got every element") { runtime.counters("near")?.delivered == 50 }
            #expect(await runtime.debugMessages("near").map(\.payload) == elements)
            let counters = try #require(runtime.counters("split"))
            #expect((counters.received, counters.delivered, counters.sent) == (1, 1, 50))
            #expect(counters.isBalanced)
        }
    }

    @Test("messages of a batch that the transport refuses are named in the error sent to the error port", arguments: [true, false])
    func refusedMembers(ownBatchSend: Bool) async throws {
        let recording: RecordingTransport
        let transport: any Transport
        if ownBatchSend {
            let batching = BatchingTransport()
            (recording, transport) = (batching.inner, batching)
        } else {
            recording = RecordingTransport()
            transport = recording
        }
        try await withRuntime(testModule, transport: transport) { runtime in
            _ = await runtime.sync(DesiredNodes(
                generation: 1,
                nodes: [definition("split", "split", edges: [edge("out", to: "far:in"), edge("error", to: "errors:in")]),
                        definition("errors", "debug", settings: ["log": false])],
                remoteNodes: Self.remote))
            let split = PortAddress(node: "split", port: "in")
            try await runtime.deliver(Message(to: split, payload: [1, "reject", 3, "reject", 5]))
            try await runtime.deliver(Message(to: split, payload: [6, 7]))
            try await eventually("both split messages handled") {
                let counters = runtime.counters("split")
                return (counters?.delivered ?? 0) + (counters?.errored ?? 0) == 2
            }
            // The refused elements did not stop the others.
            #expect(recording.messages.map(\.payload) == [1, 3, 5, 6, 7])
            try await eventually("the error report") { await !runtime.debugMessages("errors").isEmpty }
            let report = try #require(await runtime.debugMessages("errors").first?.payload)
            #expect(report["errorType"] == "BatchSendError")
            let text = try #require(report["error"]?.stringValue)
            #expect(text.hasPrefix("2 of 5 messages were not accepted"))
            #expect(text.contains("(#1): refused") && text.contains("(#3): refused"))
            let counters = try #require(runtime.counters("split"))
            #expect((counters.received, counters.delivered, counters.errored) == (2, 1, 1))
            #expect(counters.isBalanced)
        }
    }

    @Test("output.send(_:contentsOf:) of a component without a runtime sends one at a time and names failures")
    func defaultOutputBatch() async throws {
        let output = CollectingOutput()
        let error = await #expect(throws: BatchSendError.self) {
            try await output.send("out", contentsOf: [Message(payload: 1), Message(payload: "reject"), Message(payload: 3)])
        }
        #expect(error?.failures.map(\.index) == [1])
        #expect(output.sent.withLock { $0 }.map(\.payload) == [1, 3])
    }
}

/// An `Output` that only implements the single-message requirements.
final class CollectingOutput: Output {
    let sent = Mutex<[Message]>([])
    func send(_ port: String, _ message: Message) async throws {
        if message.payload == "reject" { throw RecordingTransport.Refused() }
        sent.withLock { $0.append(message) }
    }
    func request(_ port: String, _ message: Message) async throws -> JSONValue { .null }
    func reply(_ payload: JSONValue) async throws {}
}
