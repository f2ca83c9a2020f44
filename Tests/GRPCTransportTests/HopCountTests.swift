import ComponentKit
import Foundation
@testable import GRPCTransport
import JSONSchemaKit
import Logging
import ModuleHost
import Synchronization
import TestSupport
import Testing

/// Passes each message on as a fresh message (a transform without a template).
private struct Pass: Component {
    static let info = ComponentInfo(name: "pass", description: "Passes messages on.")
    static let ports: [PortDefinition] = [
        .input("in", message: JSONValue.self), .output("out", message: JSONValue.self), .error,
    ]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        try await output.send("out", Message(payload: message.payload))
    }
}

/// Keeps what it receives.
private actor Keep: Component, RecentMessagesProviding {
    static let info = ComponentInfo(name: "keep", description: "Keeps messages.")
    static let ports: [PortDefinition] = [.input("in", message: JSONValue.self)]
    private var kept: [Message] = []
    init() {}
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        kept.append(message)
    }
    func recentMessages() -> [Message] { kept }
}

/// A module of the two test components.
private func hopModule(_ name: String) -> ModuleDefinition {
    ModuleDefinition(name: name, version: "1", components: [Pass.self, Keep.self])
}

/// Runs a module runtime reaching other modules through `transport`, served on a loopback port, while `body` runs.
private func withServedRuntime<R: Sendable>(
    _ module: ModuleDefinition, transport: GRPCModuleTransport, _ body: (ModuleRuntime, Int) async throws -> R
) async throws -> R {
    let runtime = ModuleRuntime(module: module, transport: transport, logger: Logger(label: "test"))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await runtime.run() }
        do {
            let result = try await withServer(control: runtime, sink: runtime) { _, port in try await body(runtime, port) }
            await runtime.shutdown()
            return result
        } catch {
            await runtime.shutdown()
            throw error
        }
    }
}

@Suite("Hop counts across modules", .timeLimit(.minutes(1)))
struct HopCountTests {
    @Test("a message's hop count survives a Deliver frame")
    func roundTrip() throws {
        let messages = [
            Message(id: "a", payload: 1, hops: 1), Message(id: "b", payload: 2, hops: 255),
            Message(id: "c", payload: 3, traceparent: "00-t", hops: 1_000_000), Message(id: "d", payload: 4),
        ]
        var writer = ByteWriter()
        for (index, message) in messages.enumerated() {
            encodeEntry(sequence: UInt64(index), kind: .send, body: encodeMessageBody(message), into: &writer)
        }
        let decoded = try DeliveryBatchDeserializer().deserialize(writer.bytes)
        #expect(decoded.map(\.message) == messages)
        #expect(decoded.map(\.message.hops) == [1, 255, 1_000_000, 0])
    }

    @Test("a frame written before messages counted hops decodes with 0 hops, and a message without hops is written as then")
    func oldFormat() throws {
        // [sequence 7][kind send][flags: to][id "x"][to "n" "in"][priority 0][payload "hi"], as hosts wrote it before.
        let old: [UInt8] = [7, 0, 2, 1, 0x78, 1, 0x6E, 2, 0x69, 0x6E, 0, 5, 2, 0x68, 0x69]
        let entries = try DeliveryBatchDeserializer().deserialize(old)
        let message = try #require(entries.first?.message)
        #expect(message == Message(id: "x", to: PortAddress(node: "n", port: "in"), payload: "hi"))
        #expect(message.hops == 0)
        var writer = ByteWriter()
        encodeEntry(sequence: 7, kind: .send, body: encodeMessageBody(message), into: &writer)
        #expect(writer.bytes == old)
    }

    @Test("every truncation of a frame with hops is rejected")
    func truncated() {
        var writer = ByteWriter()
        encodeEntry(sequence: 1, kind: .send, body: encodeMessageBody(Message(id: "h", payload: ["k": 1], hops: 300)), into: &writer)
        for length in 1..<writer.bytes.count {
            #expect(throws: (any Error).self) { _ = try DeliveryBatchDeserializer().deserialize(Array(writer.bytes.prefix(length))) }
        }
    }

    @Test("a cycle across two module hosts keeps its count on every hop and stops at the hop limit")
    func crossModuleCycle() async throws {
        try await GRPCModuleTransport.withTransport { transportA in
            try await GRPCModuleTransport.withTransport { transportB in
                try await withServedRuntime(hopModule("ma"), transport: transportA) { runtimeA, portA in
                    try await withServedRuntime(hopModule("mb"), transport: transportB) { runtimeB, portB in
                        let a = NodeDefinition(
                            name: "a", component: "pass", edges: [
                                Edge(id: "ab", port: "out", to: "b:in"), Edge(id: "ae", port: "error", to: "errors:in"),
                            ], flow: "loop", maxHops: 20)
                        let b = NodeDefinition(
                            name: "b", component: "pass", edges: [Edge(id: "ba", port: "out", to: "a:in")], flow: "loop", maxHops: 20)
                        _ = await runtimeA.sync(DesiredNodes(
                            generation: 1, nodes: [a, NodeDefinition(name: "errors", component: "keep")], remoteNodes: ["b": "mb"],
                            moduleAddresses: ["mb": ["127.0.0.1:\(portB)"]]))
                        _ = await runtimeB.sync(DesiredNodes(
                            generation: 1, nodes: [b], remoteNodes: ["a": "ma"], moduleAddresses: ["ma": ["127.0.0.1:\(portA)"]]))

                        try await runtimeA.deliver(Message(id: "start", to: PortAddress(node: "a", port: "in"), payload: "round"))
                        // a handles hops 0, 2, …, 20 and b 1, 3, …, 19 — each count carried across
                        // the wire —; a's send of the 21st hop is refused and reported.
                        try await eventually("the refusal is reported") {
                            await !(runtimeA.recentMessages(node: "errors") ?? []).isEmpty
                        }
                        let counters = { (runtime: ModuleRuntime, node: String) in
                            runtime.statusReports().first { $0.name == node }?.counters
                        }
                        // b's last handler returns once a's host acknowledged its message.
                        try await eventually("a and b accounted for all they received") {
                            counters(runtimeA, "a")?.isBalanced == true && counters(runtimeB, "b")?.isBalanced == true
                        }
                        let atA = try #require(counters(runtimeA, "a"))
                        let atB = try #require(counters(runtimeB, "b"))
                        #expect((atA.received, atA.delivered, atA.errored) == (11, 10, 1))
                        #expect((atB.received, atB.delivered, atB.errored, atB.sent) == (10, 10, 0, 10))
                        let report = try #require(await runtimeA.recentMessages(node: "errors")?.first)
                        #expect(report.payload["errorType"] == "HopLimitExceeded")
                        #expect(report.payload["message"]?["hops"] == 20)
                        #expect(report.payload["message"]?["from"] == "b:out")
                        #expect(report.payload["error"]?.stringValue?.contains("hop limit of 20 (flow loop)") == true)
                    }
                }
            }
        }
    }
}
