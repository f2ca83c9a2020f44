import CommonComponents
import ComponentKit
import Foundation
import ModuleHost
import ModuleHostTestSupport
import TestSupport
import Testing

@Suite("Hop limit", .timeLimit(.minutes(1)))
struct HopLimitTests {
    /// Two transform nodes sending to each other, their error ports to `errors`; `maxHops` as given.
    func cycle(maxHops: Int?) -> DesiredNodes {
        var a = definition(
            "a", "transform", edges: [edge("out", to: "b:in"), edge("error", to: "errors:in")], flow: "loop")
        var b = definition(
            "b", "transform", edges: [edge("out", to: "a:in"), edge("error", to: "errors:in")], flow: "loop")
        a.maxHops = maxHops
        b.maxHops = maxHops
        return DesiredNodes(generation: 1, nodes: [a, b, definition("errors", "debug", settings: ["keep": 100])])
    }

    @Test("a two-node transform cycle stops at the default hop limit of 256, with the refusal counted and reported")
    func twoNodeCycleStops() async throws {
        try await withRuntime(testModule) { runtime in
            let result = await runtime.sync(cycle(maxHops: nil))
            #expect(result.nodes.allSatisfy { $0.phase == .running })
            try await runtime.deliver(Message(id: "m", to: PortAddress(node: "a", port: "in"), payload: ["n": 1]))

            // a handles hops 0, 2, …, 256 and b 1, 3, …, 255: the 257th hop, from a, is refused,
            // so a's last message counts as errored, and a sends the report from its error port.
            try await eventually("the refusal reaches the error port") { await !runtime.debugMessages("errors").isEmpty }
            try await eventually("both nodes accounted for all they received") {
                runtime.counters("a")?.isBalanced == true && runtime.counters("b")?.isBalanced == true
            }
            let a = try #require(runtime.counters("a"))
            let b = try #require(runtime.counters("b"))
            #expect((a.received, a.delivered, a.errored, a.sent) == (129, 128, 1, 128 + 1))
            #expect((b.received, b.delivered, b.errored, b.sent) == (128, 128, 0, 128))
            #expect(runtime.report("a")?.phase == .running)

            let reports = await runtime.debugMessages("errors")
            #expect(reports.count == 1)
            let report = try #require(reports.first)
            #expect(report.payload["errorType"] == "HopLimitExceeded")
            #expect(report.payload["node"] == "a")
            #expect(report.payload["port"] == "in")
            #expect(report.payload["message"]?["hops"] == 256)
            #expect(report.payload["message"]?["from"] == "b:out")
            let text = try #require(report.payload["error"]?.stringValue)
            #expect(text.contains("exceeded the hop limit of 256 (flow loop) when sent from a:out"))
            #expect(text.contains("a cycle?"))
            // The report continues the chain, so a cycle through error ports stops too.
            #expect(report.hops == 257)
            // Nothing is queued or on its way: the runtime is idle.
            #expect(runtime.counters("errors")?.received == 1)
        }
    }

    @Test("a node's maxHops bounds the cycle; each message of a burst stops on its own")
    func customLimit() async throws {
        try await withRuntime(testModule) { runtime in
            _ = await runtime.sync(cycle(maxHops: 10))
            for index in 0..<20 {
                try await runtime.deliver(Message(to: PortAddress(node: "a", port: "in"), payload: .integer(index)))
            }
            try await eventually("20 refusals") { runtime.counters("a")?.errored == 20 }
            try await eventually("every message handled and every refusal reported") {
                runtime.counters("a")?.delivered == 20 * 5 && runtime.counters("b")?.delivered == 20 * 5
                    && runtime.counters("errors")?.delivered == 20
            }
            let reports = await runtime.debugMessages("errors")
            #expect(reports.count == 20)
            #expect(reports.allSatisfy { $0.payload["message"]?["hops"] == 10 })
            #expect(reports.allSatisfy { $0.payload["error"]?.stringValue?.contains("hop limit of 10") == true })
        }
    }

    @Test("without an error port the refusal is counted and logged; the node goes on handling messages")
    func unwiredErrorPort() async throws {
        try await withRuntime(testModule) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                {
                    var a = definition("a", "transform", edges: [edge("out", to: "a:in")])
                    a.maxHops = 5
                    return a
                }(),
            ]))
            try await runtime.deliver(Message(to: PortAddress(node: "a", port: "in"), payload: 1))
            try await eventually("the refusal") { runtime.counters("a")?.errored == 1 }
            try await runtime.deliver(Message(to: PortAddress(node: "a", port: "in"), payload: 2))
            try await eventually("the second refusal") { runtime.counters("a")?.errored == 2 }
            // Per message, inputs of hops 0…4 are handled and the one of hops 5 fails (its send
            // would be the 6th hop): counted, but not a failure that restarts the node.
            try await eventually("every message accounted for") { runtime.counters("a")?.isBalanced == true }
            let counters = try #require(runtime.counters("a"))
            #expect((counters.received, counters.delivered, counters.errored, counters.sent) == (12, 10, 2, 10))
            #expect(runtime.report("a")?.phase == .running)
            #expect(runtime.report("a")?.restarts == 0)
        }
    }

    @Test("a message that arrives with hops continues its count; a source's message starts at 0")
    func countsContinue() async throws {
        try await withRuntime(testModule) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("tick", "ticker", settings: ["interval": 1, "payload": "t"], edges: [edge("out", to: "sink:in")]),
                definition("pass", "forward", edges: [edge("out", to: "next:in")]),
                definition("next", "transform", edges: [edge("out", to: "sink:in")]),
                definition("sink", "debug", settings: ["keep": 1000]),
            ]))
            try await runtime.deliver(Message(id: "far", to: PortAddress(node: "pass", port: "in"), payload: "far", hops: 40))
            try await eventually("the message from afar and a tick") {
                let kept = await runtime.debugMessages("sink")
                return kept.contains { $0.payload == "far" } && kept.contains { $0.payload["payload"] == "t" }
            }
            let kept = await runtime.debugMessages("sink")
            #expect(kept.first { $0.payload == "far" }?.hops == 42)
            #expect(kept.first { $0.payload["payload"] == "t" }?.hops == 0)
        }
    }

    @Test("a message past the limit is refused however the component builds it, but within it is delivered")
    func boundary() async throws {
        try await withRuntime(testModule) { runtime in
            var pass = definition("pass", "picky", edges: [edge("out", to: "sink:in"), edge("error", to: "errors:in")])
            pass.maxHops = 3
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                pass, definition("sink", "debug", settings: ["keep": 10]), definition("errors", "debug", settings: ["keep": 10]),
            ]))
            // Picky forwards the message it got, hop count and all: the runtime still adds the hop.
            try await runtime.deliver(Message(id: "within", to: PortAddress(node: "pass", port: "in"), payload: 1, hops: 2))
            try await runtime.deliver(Message(id: "past", to: PortAddress(node: "pass", port: "in"), payload: 2, hops: 3))
            try await eventually("one delivered, one refused") {
                let delivered = await runtime.debugMessages("sink").count
                let refused = await runtime.debugMessages("errors").count
                return delivered == 1 && refused == 1
            }
            #expect(await runtime.debugMessages("sink").first?.hops == 3)
            #expect(await runtime.debugMessages("errors").first?.payload["message"]?["id"] == "past")
        }
    }
}
