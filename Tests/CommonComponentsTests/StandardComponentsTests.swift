import CommonComponents
import ComponentKit
import Foundation
import ModuleHost
import ModuleHostTestSupport
import TestSupport
import Testing

@Suite("Standard components", .timeLimit(.minutes(2)))
struct StandardComponentsTests {
    let common = CommonModule.definition

    func send(_ runtime: ModuleRuntime, _ node: String, _ payload: JSONValue, port: String = "in") async throws {
        try await runtime.deliver(Message(to: PortAddress(node: node, port: port), payload: payload))
    }

    @Test("the common module's catalogue lists every standard component with a _settings port where configurable")
    func catalogue() {
        let names = common.catalogue.map(\.info.name)
        #expect(names == [
            "batch", "debug", "dedupe", "delay", "http-request", "http-response", "http-server", "kv", "rate-limit", "router",
            "signal", "split", "ticker", "transform",
        ])
        for component in common.catalogue {
            for port in component.ports where port.isSettings {
                #expect(port.name == "_settings")
                #expect(port.configurationSchema?["type"] == "object")
            }
        }
    }

    @Test("split sends each element of an array; a non-array goes to the error port")
    func split() async throws {
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("split", "split", edges: [edge("out", to: "sink:in"), edge("error", to: "errors:in")]),
                definition("sink", "debug", settings: ["log": false]),
                definition("errors", "debug", settings: ["log": false]),
            ]))
            try await send(runtime, "split", [1, "two", ["three": 3]])
            try await send(runtime, "split", ["not": "an array"])
            try await eventually("three elements and one error") {
                await runtime.debugMessages("sink").count == 3 && runtime.counters("errors")?.delivered == 1
            }
            #expect(await runtime.debugMessages("sink").map(\.payload) == [1, "two", ["three": 3]])
            #expect(await runtime.debugMessages("errors").first?.payload["error"] == "split expects an array payload, got object")
        }
    }

    @Test("batch emits by count, and by time window for a partial batch")
    func batch() async throws {
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("batch", "batch", settings: ["size": 3, "window": 50], edges: [edge("out", to: "sink:in")]),
                definition("sink", "debug", settings: ["log": false]),
            ]))
            for index in 1...4 { try await send(runtime, "batch", .integer(index)) }
            try await eventually("a full batch and a windowed one") { await runtime.debugMessages("sink").count == 2 }
            #expect(await runtime.debugMessages("sink").map(\.payload) == [["items": [1, 2, 3]], ["items": [4]]])
        }
    }

    @Test("batch flushes what it holds when the node stops")
    func batchFlushesOnStop() async throws {
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("batch", "batch", settings: ["size": 100, "window": 0], edges: [edge("out", to: "sink:in")]),
                definition("sink", "debug", settings: ["log": false]),
            ]))
            for index in 1...2 { try await send(runtime, "batch", .integer(index)) }
            try await eventually("both messages handled") { runtime.counters("batch")?.delivered == 2 }
            _ = await runtime.sync(DesiredNodes(generation: 2, nodes: [definition("sink", "debug", settings: ["log": false])]))
            try await eventually("the partial batch") { await runtime.debugMessages("sink").count == 1 }
            #expect(await runtime.debugMessages("sink").first?.payload == ["items": [1, 2]])
        }
    }

    @Test("delay forwards every message, in order, no sooner than its delay")
    func delay() async throws {
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("delay", "delay", settings: ["delay": 20], edges: [edge("out", to: "sink:in")]),
                definition("sink", "debug", settings: ["log": false]),
            ]))
            let started = ContinuousClock.now
            for index in 1...3 { try await send(runtime, "delay", .integer(index)) }
            try await eventually("three delayed messages") { await runtime.debugMessages("sink").count == 3 }
            #expect(ContinuousClock.now - started >= .milliseconds(60))
            #expect(await runtime.debugMessages("sink").map(\.payload) == [1, 2, 3])
        }
    }

    @Test("rate-limit paces messages instead of dropping them")
    func rateLimit() async throws {
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("limit", "rate-limit", settings: ["rate": 100, "burst": 2], edges: [edge("out", to: "sink:in")]),
                definition("sink", "debug", settings: ["keep": 100, "log": false]),
            ]))
            let started = ContinuousClock.now
            for index in 1...12 { try await send(runtime, "limit", .integer(index)) }
            try await eventually("all twelve messages") { await runtime.debugMessages("sink").count == 12 }
            #expect(ContinuousClock.now - started >= .milliseconds(95), "10 messages beyond the burst at 100/s")
            #expect(await runtime.debugMessages("sink").map(\.payload) == (1...12).map { .integer($0) })
        }
    }

    @Test("signal emits the payload it is sent")
    func signal() async throws {
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("button", "signal", edges: [edge("out", to: "sink:in")]),
                definition("sink", "debug", settings: ["log": false]),
            ]))
            try await send(runtime, "button", ["pressed": true], port: "trigger")
            try await eventually("the signal payload") { await !runtime.debugMessages("sink").isEmpty }
            #expect(await runtime.debugMessages("sink").first?.payload == ["pressed": true])
        }
    }
}
