import CommonComponents
import ComponentKit
import ModuleHost
import ModuleHostTestSupport
import TestSupport
import Testing

@Suite("transform and router", .timeLimit(.minutes(2)))
struct ExpressionComponentsTests {
    let common = CommonModule.definition

    @Test("transform builds each output payload from a template")
    func transform() async throws {
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("t", "transform", settings: ["template": ["greeting": "hello {{ upper($.payload.name) }}", "n": "{{ $.payload.n * 2 }}"]],
                           edges: [edge("out", to: "sink:in")]),
                definition("sink", "debug", settings: ["log": false]),
            ]))
            try await runtime.deliver(Message(to: PortAddress(node: "t", port: "in"), payload: ["name": "ada", "n": 21]))
            try await eventually("the transformed message") { await !runtime.debugMessages("sink").isEmpty }
            #expect(await runtime.debugMessages("sink").first?.payload == ["greeting": "hello ADA", "n": 42])
        }
    }

    @Test("router sends each message to the first matching route, else to otherwise")
    func router() async throws {
        try await withRuntime(common) { runtime in
            let routes: JSONValue = [
                ["port": "route-1", "when": "$.payload.t > 30"],
                ["port": "route-2", "when": "$.payload.t > 10"],
            ]
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("r", "router", settings: ["routes": routes], edges: [
                    edge("route-1", to: "hot:in"), edge("route-2", to: "warm:in"), edge("otherwise", to: "cold:in"),
                ]),
                definition("hot", "debug", settings: ["log": false]),
                definition("warm", "debug", settings: ["log": false]),
                definition("cold", "debug", settings: ["log": false]),
            ]))
            for t in [35, 20, 5, 31] {
                try await runtime.deliver(Message(to: PortAddress(node: "r", port: "in"), payload: ["t": .integer(t)]))
            }
            try await eventually("all four routed") { runtime.counters("r")?.delivered == 4 }
            // Each sink handles on its own task: all three are waited for, not the first.
            try await eventually("sinks filled") {
                runtime.counters("hot")?.delivered == 2 && runtime.counters("warm")?.delivered == 1
                    && runtime.counters("cold")?.delivered == 1
            }
            #expect(await runtime.debugMessages("hot").map { $0.payload["t"] } == [35, 31])
            #expect(await runtime.debugMessages("warm").map { $0.payload["t"] } == [20])
            #expect(await runtime.debugMessages("cold").map { $0.payload["t"] } == [5])
        }
    }

    @Test("a router route that is not a valid expression fails messages with the route's path")
    func badRoute() async throws {
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("r", "router", settings: ["routes": [["port": "route-1", "when": "$.t >"]]], edges: [edge("error", to: "errors:in")]),
                definition("errors", "debug", settings: ["log": false]),
            ]))
            try await runtime.deliver(Message(to: PortAddress(node: "r", port: "in"), payload: 1))
            try await eventually("the error report") { await !runtime.debugMessages("errors").isEmpty }
            let error = await runtime.debugMessages("errors").first?.payload["error"]?.stringValue ?? ""
            #expect(error.hasPrefix("_settings.routes[0].when: expected"))
        }
    }
}
