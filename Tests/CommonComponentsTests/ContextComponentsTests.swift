import CommonComponents
import ComponentKit
import ContextStoreMemory
import ModuleHost
import ModuleHostTestSupport
import TestSupport
import Testing

@Suite("kv and dedupe", .timeLimit(.minutes(2)))
struct ContextComponentsTests {
    let common = CommonModule.definition

    /// A kv node named `kv` with `settings`, its `out` and `error` ports wired to debug nodes.
    func kvFlow(_ settings: JSONValue, flow: String? = "shop") -> [NodeDefinition] {
        [
            definition("kv", "kv", settings: settings, edges: [edge("out", to: "values:in"), edge("error", to: "errors:in")], flow: flow),
            definition("values", "debug", settings: ["log": false]),
            definition("errors", "debug", settings: ["log": false]),
        ]
    }

    func send(_ runtime: ModuleRuntime, _ port: String, _ payload: JSONValue, to node: String = "kv") async throws {
        try await runtime.deliver(Message(to: PortAddress(node: node, port: port), payload: payload))
    }

    @Test("kv sets, gets, increments and deletes the key its template names, sending each resulting value on out")
    func operations() async throws {
        let store = MemoryContextStore()
        try await withRuntime(common, contextStore: store) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: kvFlow(["scope": "flow", "key": "{{ $.payload.user }}"])))
            try await send(runtime, "set", ["user": "ada", "visits": 1])
            try await eventually("the set") { await runtime.debugMessages("values").count == 1 }
            try await send(runtime, "get", ["user": "ada"])
            try await eventually("the get") { await runtime.debugMessages("values").count == 2 }
            try await send(runtime, "get", ["user": "bob"])
            try await eventually("the missing get") { await runtime.debugMessages("values").count == 3 }
            try await send(runtime, "increment", ["user": "bob"])
            try await eventually("the increment") { await runtime.debugMessages("values").count == 4 }
            try await send(runtime, "delete", ["user": "ada"])
            try await eventually("the delete") { await runtime.debugMessages("values").count == 5 }

            #expect(await runtime.debugMessages("values").map(\.payload) == [
                ["user": "ada", "visits": 1], ["user": "ada", "visits": 1], nil, 1, nil,
            ])
            let scope = ContextScope.flow(namespace: "default", flow: "shop")
            #expect(try await store.keys(in: scope) == ["bob"])
            #expect(try await store.get("bob", in: scope)?.value == 1)
            #expect(await runtime.debugMessages("errors").isEmpty)
        }
    }

    @Test("kv increments by a rendered amount, integers exactly and fractions as numbers")
    func amounts() async throws {
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: kvFlow(["key": "total", "amount": "{{ $.payload }}"])))
            for amount: JSONValue in [2, 3, 0.5] {
                try await send(runtime, "increment", amount)
                let expected = await runtime.debugMessages("values").count + 1
                try await eventually("increment by \(amount)") { await runtime.debugMessages("values").count == expected }
            }
            #expect(await runtime.debugMessages("values").map(\.payload) == [2, 5, 5.5])
        }
    }

    @Test("a kv operation that cannot run goes to the error port with its reason")
    func failures() async throws {
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: kvFlow(["key": "{{ $.payload.name }}"], flow: nil)))
            try await send(runtime, "set", ["name": "word", "text": "hello"])
            try await eventually("the set") { await runtime.debugMessages("values").count == 1 }
            try await send(runtime, "increment", ["name": "word"])
            try await send(runtime, "get", ["other": 1])
            try await eventually("two errors") { await runtime.debugMessages("errors").count == 2 }
            let errors = await runtime.debugMessages("errors").compactMap { $0.payload["error"]?.stringValue }
            #expect(errors.contains("cannot increment context key \"word\": it holds an object, not an integer"))
            #expect(errors.contains { $0.hasPrefix("_settings.key: renders to a null, not a string") })
        }
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: kvFlow(["scope": "flow", "key": "k"], flow: nil)))
            try await send(runtime, "get", 1)
            try await eventually("the error") { await runtime.debugMessages("errors").count == 1 }
            #expect(await runtime.debugMessages("errors").first?.payload["error"]?.stringValue
                == "node kv belongs to no TinyFlow, so it has no flow context")
        }
    }

    @Test("node context is the node's own: two kv nodes with the same key keep two values")
    func nodeScopeIsolation() async throws {
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("a", "kv", settings: ["key": "n"], edges: [edge("out", to: "values:in")], flow: "shop"),
                definition("b", "kv", settings: ["key": "n"], edges: [edge("out", to: "values:in")], flow: "shop"),
                definition("values", "debug", settings: ["log": false]),
            ]))
            for node in ["a", "a", "b"] {
                let expected = await runtime.debugMessages("values").count + 1
                try await send(runtime, "increment", 1, to: node)
                try await eventually("increment on \(node)") { await runtime.debugMessages("values").count == expected }
            }
            #expect(await runtime.debugMessages("values").map(\.payload) == [1, 2, 1])
        }
    }

    @Test("dedupe passes the first message of a key, sends repeats within the window to duplicate, and passes it again after")
    func dedupe() async throws {
        try await withRuntime(common) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("d", "dedupe", settings: ["key": "{{ $.payload.id }}", "window": 300],
                           edges: [edge("out", to: "first:in"), edge("duplicate", to: "repeats:in")]),
                definition("first", "debug", settings: ["log": false]),
                definition("repeats", "debug", settings: ["log": false]),
            ]))
            for id in ["a", "b", "a", "a"] {
                try await send(runtime, "in", ["id": .string(id)], to: "d")
            }
            try await eventually("four sorted") { runtime.counters("d")?.delivered == 4 }
            try await eventually("sinks filled") {
                let first = await runtime.debugMessages("first").count
                let repeats = await runtime.debugMessages("repeats").count
                return first == 2 && repeats == 2
            }
            #expect(await runtime.debugMessages("first").map { $0.payload["id"] } == ["a", "b"])
            // After the window, "a" is new again.
            try await eventually("a passes again after its window", timeout: .seconds(5)) {
                try? await send(runtime, "in", ["id": "a"], to: "d")
                return await runtime.debugMessages("first").count == 3
            }
        }
    }

    @Test("two dedupe replicas sharing a store pass each key exactly once, however their messages interleave")
    func dedupeReplicas() async throws {
        let store = MemoryContextStore()
        let nodes = [
            definition("d", "dedupe", settings: ["key": "{{ $.payload }}"], edges: [edge("out", to: "first:in")]),
            definition("first", "debug", settings: ["log": false, "keep": 100]),
        ]
        try await withRuntime(common, contextStore: store) { one in
            try await withRuntime(common, contextStore: store) { two in
                _ = await one.sync(DesiredNodes(generation: 1, nodes: nodes))
                _ = await two.sync(DesiredNodes(generation: 1, nodes: nodes))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for runtime in [one, two] {
                        group.addTask {
                            for key in 0..<40 { try await send(runtime, "in", .integer(key), to: "d") }
                        }
                    }
                    try await group.waitForAll()
                }
                try await eventually("both replicas handled their 40") {
                    one.counters("d")?.delivered == 40 && two.counters("d")?.delivered == 40
                }
                try await eventually("the passed keys reached the sinks") {
                    (one.counters("first")?.delivered ?? 0) + (two.counters("first")?.delivered ?? 0) == 40
                }
                let passed = await one.debugMessages("first").map(\.payload) + two.debugMessages("first").map(\.payload)
                #expect(Set(passed) == Set((0..<40).map { JSONValue.integer($0) }))
                #expect(passed.count == 40)
            }
        }
    }
}
