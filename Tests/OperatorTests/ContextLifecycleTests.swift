import CRDModels
import ComponentKit
import KubernetesClient
import KubernetesModels
import ModuleHost
@testable import Operator
import TestSupport
import Testing

@Suite("A deleted node's and a deleted flow's context is deleted with it", .timeLimit(.minutes(3)))
struct ContextLifecycleTests {
    @Test("deleting a node deletes its node context; deleting its flow deletes the flow context; the namespace's stays")
    func contextGoesWithItsOwner() async throws {
        try await withOperator { harness in
            let store = harness.runtime.contextStore
            let counterScope = ContextScope.node(namespace: "default", node: "counter")
            let otherScope = ContextScope.node(namespace: "default", node: "other")
            let flowScope = ContextScope.flow(namespace: "default", flow: "shop")
            let globalScope = ContextScope.global(namespace: "default")

            _ = try await harness.flows.create(TinyFlow(metadata: ObjectMeta(name: "shop")))
            _ = try await harness.nodes.create(node("counter", "kv", settings: ["key": "n"], flow: "shop"))
            _ = try await harness.nodes.create(node("other", "kv", settings: ["key": "n"], flow: "shop"))
            try await harness.waitUntilReady(["counter", "other"])
            try await eventually("the flow holds its finalizer") {
                try await harness.flows.get("shop").metadata.finalizers == [TinyflowOperator.flowFinalizer]
            }
            for scope in [counterScope, otherScope, flowScope, globalScope] {
                try await store.set("n", to: 1, in: scope)
            }

            _ = try await harness.nodes.delete("counter")
            try await eventually("the node gone", timeout: .seconds(15)) { try await harness.nodes.getOptional("counter") == nil }
            #expect(try await store.keys(in: counterScope).isEmpty)
            #expect(try await store.keys(in: otherScope) == ["n"])
            #expect(try await store.keys(in: flowScope) == ["n"])

            _ = try await harness.flows.delete("shop")
            try await eventually("the flow gone", timeout: .seconds(15)) { try await harness.flows.getOptional("shop") == nil }
            #expect(try await store.keys(in: flowScope).isEmpty)
            #expect(try await store.keys(in: otherScope) == ["n"])
            #expect(try await store.keys(in: globalScope) == ["n"])
        }
    }
}
