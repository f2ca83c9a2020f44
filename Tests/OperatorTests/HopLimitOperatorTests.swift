import CRDModels
import ComponentKit
import Foundation
import KubernetesClient
import KubernetesModels
import ModuleHost
import Operator
import TestSupport
import Testing

/// A TinyNode of module "common" in flow `flow` (by `spec.flow`) with edges to `targets` (`<node>:in`).
private func member(_ name: String, _ component: String, flow: String? = "f", to targets: [String] = []) -> TinyNode {
    var node = node(
        name, component: component,
        edges: targets.enumerated().map { Edge(id: "e\($0.offset)", port: "out", to: "\($0.element):in") })
    node.spec.flow = flow
    return node
}

@Suite("Hop limits and cycles in the operator's plans")
struct FlowCyclePlanningTests {
    let modules = [module("common", components: [Catalogue.ticker, Catalogue.debug], address: "common:9000")]

    @Test("a flow's maxHops reaches its nodes' definitions; the default and nodes without a flow carry none")
    func maxHopsReachesNodes() {
        let nodes = [
            node("a", component: "debug"), node("b", component: "debug"), node("c", component: "debug"),
        ].enumerated().map { index, node in
            var node = node
            node.spec.flow = ["custom", "standard", nil][index]
            return node
        }
        let plan = ClusterPlan(nodes: nodes, modules: modules, maxHops: ["custom": 32, "standard": 256])
        let definitions = Dictionary(uniqueKeysWithValues: (plan.modules["common"]?.nodes ?? []).map { ($0.name, $0) })
        #expect(definitions["a"]?.maxHops == 32)
        #expect(definitions["b"]?.maxHops == nil)
        #expect(definitions["c"]?.maxHops == nil)
    }

    @Test("a two-node cycle without a delay or rate limit is found; a self-loop is a cycle too")
    func unpacedCycles() {
        #expect(FlowCycles.unpaced([member("a", "transform", to: ["b"]), member("b", "transform", to: ["a"])]) == [["a", "b"]])
        #expect(FlowCycles.unpaced([member("self", "transform", to: ["self"])]) == [["self"]])
        #expect(FlowCycles.unpaced([
            member("x", "transform", to: ["y"]), member("y", "transform", to: ["x", "sink"]), member("sink", "debug"),
            member("p", "router", to: ["q"]), member("q", "transform", to: ["r"]), member("r", "transform", to: ["p"]),
        ]) == [["p", "q", "r"], ["x", "y"]])
    }

    @Test("a cycle through a delay or rate-limit node, a chain, and edges out of the flow are not warned about")
    func pacedCyclesAndChains() {
        #expect(FlowCycles.unpaced([
            member("a", "transform", to: ["wait"]), member("wait", "delay", to: ["a"]),
            member("b", "transform", to: ["limit"]), member("limit", "rate-limit", to: ["b"]),
        ]).isEmpty)
        #expect(FlowCycles.unpaced([member("a", "transform", to: ["b"]), member("b", "transform", to: ["c"]), member("c", "debug")]).isEmpty)
        // The edge back goes to a node that is not among the flow's nodes.
        #expect(FlowCycles.unpaced([member("a", "transform", to: ["b"]), member("b", "transform", to: ["elsewhere"])]).isEmpty)
    }

    @Test("a long chain closing into one cycle is found without deep recursion")
    func longCycle() {
        let count = 20_000
        let nodes = (0..<count).map { member("n\($0)", "transform", to: ["n\(($0 + 1) % count)"]) }
        let cycles = FlowCycles.unpaced(nodes)
        #expect(cycles.count == 1)
        #expect(cycles.first?.count == count)
    }

    @Test("the warning names the cycles and the hop limit, and is absent without cycles")
    func warningText() throws {
        #expect(FlowCycles.warning([], maxHops: 256) == nil)
        let text = try #require(FlowCycles.warning([["a", "b"]], maxHops: 64))
        #expect(text.contains("a cycle with no delay or rate-limit node: [a, b]"))
        #expect(text.contains("hop limit of 64"))
        let many = try #require(FlowCycles.warning((0..<5).map { ["c\($0)"] }, maxHops: 256))
        #expect(many.contains("5 cycles"))
        #expect(many.contains("and 2 more"))
    }
}

@Suite("The operator and cycles of nodes", .timeLimit(.minutes(1)))
struct FlowCycleOperatorTests {
    /// A transform node of flow `flow` sending to `target` and its errors to `errors`.
    func transform(_ name: String, flow: String, to target: String, errors: String? = nil) -> TinyNode {
        var edges = [Edge(id: "out", port: "out", to: "\(target):in")]
        if let errors { edges.append(Edge(id: "errors", port: "error", to: "\(errors):in")) }
        return node(name, "transform", settings: ["template": "{{ $.payload }}"], edges: edges, flow: flow)
    }

    @Test("a cycle without a delay gets a Warning Event and a note on the flow's Ready condition; the flow's maxHops stops it")
    func warnsAndLimits() async throws {
        try await withOperator { harness in
            _ = try await harness.flows.create(TinyFlow(metadata: ObjectMeta(name: "loop"), spec: TinyFlowSpec(maxHops: 32)))
            _ = try await harness.nodes.create(transform("ping", flow: "loop", to: "pong", errors: "loop-errors"))
            _ = try await harness.nodes.create(transform("pong", flow: "loop", to: "ping"))
            _ = try await harness.nodes.create(node("loop-errors", "debug", settings: ["keep": 10], flow: "loop"))
            try await harness.waitUntilReady(["ping", "pong", "loop-errors"])

            try await eventually("the warning on the flow's Ready condition") {
                let message = try await harness.flows.get("loop").status?.conditions[type: "Ready"]?.message ?? ""
                return message.contains("warning: the flow has a cycle with no delay or rate-limit node: [ping, pong]")
                    && message.contains("hop limit of 32")
            }
            try await eventually("the Warning Event") {
                let events = try await harness.client.api(Event.self, namespace: "default").list().items
                return events.contains { $0.reason == "UnpacedCycle" && $0.type == "Warning" && $0.regarding?.name == "loop" }
            }
            // The cycle runs all the same, and stops at the flow's limit.
            try await eventually("the nodes run with the flow's hop limit") {
                try await harness.runtime.deliver(Message(to: PortAddress(node: "ping", port: "in"), payload: "x"))
                return await harness.debugPayloads("loop-errors").contains {
                    $0["error"]?.stringValue?.contains("hop limit of 32 (flow loop)") == true
                }
            }

            // A changed limit reaches the running nodes.
            _ = try await harness.flows.update("loop") { $0.spec.maxHops = 8 }
            try await eventually("the nodes run with the new hop limit") {
                try await harness.runtime.deliver(Message(to: PortAddress(node: "ping", port: "in"), payload: "y"))
                return await harness.debugPayloads("loop-errors").contains {
                    $0["error"]?.stringValue?.contains("hop limit of 8 (flow loop)") == true
                }
            }
        }
    }

    @Test("a cycle through a delay node is not warned about")
    func delayedCycleIsQuiet() async throws {
        try await withOperator { harness in
            _ = try await harness.flows.create(TinyFlow(metadata: ObjectMeta(name: "poll")))
            _ = try await harness.nodes.create(transform("step", flow: "poll", to: "pause"))
            _ = try await harness.nodes.create(node(
                "pause", "delay", settings: ["delay": 1000], edges: [Edge(id: "back", port: "out", to: "step:in")], flow: "poll"))
            try await harness.waitUntilReady(["step", "pause"])
            // The reconcile that counts both nodes Ready is the one that would have warned.
            try await eventually("the flow is Ready") {
                try await harness.flows.get("poll").status?.conditions[type: "Ready"]?.status == .true
            }
            let ready = try await harness.flows.get("poll").status?.conditions[type: "Ready"]
            #expect(ready?.message == "2 of 2 nodes are Ready")
            let events = try await harness.client.api(Event.self, namespace: "default").list().items
            #expect(!events.contains { $0.reason == "UnpacedCycle" })
        }
    }
}
