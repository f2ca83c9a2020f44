import CommonComponents
import Foundation
import ComponentKit
import Logging
import ModuleHost
import TestSupport
import Testing

/// Fails on messages whose payload has `"fail": true`, else passes them on.
struct Picky: Component {
    struct Refused: Error {}
    static let info = ComponentInfo(name: "picky", description: "Fails on demand.")
    static let ports: [PortDefinition] = [
        .input("in", message: JSONValue.self), .output("out", message: JSONValue.self), .error,
    ]
    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        if message.payload["fail"] == true { throw Refused() }
        try await output.send("out", message)
    }
}

@Suite("In-process flow runner")
struct FlowRunnerTests {
    let logger = Logger(label: "test")
    let modules = [
        CommonModule.definition,
        ModuleDefinition(name: "test", version: "1", components: [Picky.self]),
    ]

    func node(
        _ name: String, _ module: String, _ component: String, settings: JSONValue? = nil, edges: [Edge] = []
    ) -> TinyNode {
        TinyNode(
            metadata: ObjectMeta(name: name),
            spec: TinyNodeSpec(
                module: module, component: component,
                ports: settings.map { [PortConfiguration(port: "_settings", configuration: $0)] } ?? [],
                edges: edges))
    }

    @Test("a ticker's messages reach the debug node in order")
    func tickerToDebug() async throws {
        let runner = try FlowRunner(
            nodes: [
                node("tick", "common", "ticker", settings: ["interval": 1, "payload": "hi"],
                     edges: [Edge(id: "e", port: "out", to: "sink:in")]),
                node("sink", "common", "debug", settings: ["keep": 5, "log": false]),
            ],
            modules: modules, logger: logger)
        let running = Task { await runner.run() }
        try await eventually("five ticks at the debug node") { (runner.counters(of: "sink")?.delivered ?? 0) >= 5 }
        running.cancel()
        await running.value
        let debug = try #require(runner.component(of: "sink") as? Debug)
        let counts = await debug.recentMessages.compactMap { $0.payload["count"]?.intValue }
        #expect(counts.count == 5)
        #expect(counts == Array(counts.sorted()), "per-edge order is preserved")
        #expect(await debug.recentMessages.allSatisfy { $0.payload["payload"] == "hi" && $0.from?.description == "tick:out" })
        let sink = try #require(runner.counters(of: "sink"))
        #expect(sink.received == sink.delivered + sink.errored + sink.expired)
    }

    @Test("a handler error goes to the error port with the original message")
    func errorPort() async throws {
        let runner = try FlowRunner(
            nodes: [
                node("picky", "test", "picky", edges: [
                    Edge(id: "ok", port: "out", to: "good:in"), Edge(id: "err", port: "error", to: "bad:in"),
                ]),
                node("good", "common", "debug", settings: ["log": false]),
                node("bad", "common", "debug", settings: ["log": false]),
            ],
            modules: modules, logger: logger)
        try await runner.deliver(Message(payload: ["fail": false]), to: PortAddress(node: "picky", port: "in"))
        try await runner.deliver(Message(id: "m2", payload: ["fail": true]), to: PortAddress(node: "picky", port: "in"))
        let bad = try #require(runner.component(of: "bad") as? Debug)
        let report = try #require(await bad.recentMessages.first?.payload)
        #expect(report["node"] == "picky")
        #expect(report["port"] == "in")
        #expect(report["errorType"] == "Refused")
        #expect(report["message"]?["id"] == "m2")
        #expect(report["message"]?["payload"] == ["fail": true])
        #expect(runner.counters(of: "picky") == NodeCounters(received: 2, delivered: 1, errored: 1, expired: 0, sent: 2))
        #expect(runner.counters(of: "good")?.delivered == 1)
    }

    @Test("a message past its deadline is counted as expired, not delivered")
    func expiry() async throws {
        let runner = try FlowRunner(
            nodes: [node("sink", "common", "debug", settings: ["log": false])], modules: modules, logger: logger)
        try await runner.deliver(Message(payload: 1, deadline: .distantPast), to: PortAddress(node: "sink", port: "in"))
        let counters = try #require(runner.counters(of: "sink"))
        #expect(counters.expired == 1)
        #expect(counters.delivered == 0)
        #expect(counters.received == counters.delivered + counters.errored + counters.expired)
    }

    @Test("invalid nodes are all rejected with TinyNode field paths")
    func rejections() {
        #expect {
            _ = try FlowRunner(
                nodes: [
                    node("a", "common", "ticker", settings: ["interval": 0], edges: [Edge(id: "e", port: "out", to: "ghost:in")]),
                    node("b", "nowhere", "ticker"),
                    node("c", "common", "teleporter"),
                ],
                modules: modules, logger: logger)
        } throws: { error in
            guard let rejection = error as? FlowRejection else { return false }
            return rejection.rejections.map(\.description) == [
                #"TinyNode "a": spec.ports[0].configuration.interval: expected integer >= 1, got 0; spec.edges[0].to: no node "ghost""#,
                #"TinyNode "b": spec.module: no module "nowhere" (modules: common, test)"#,
                #"TinyNode "c": spec.component: module "common" has no component "teleporter" (components: debug, ticker)"#,
            ]
        }
    }
}
