import CRDModels
import ComponentKit
import Foundation
import KubernetesModels
import ModuleHostAPI
import Operator
import Testing

/// How the operator hands durable edges, flow defaults and pauses to module hosts.
@Suite("Durable edges and paused flows in the operator's plans")
struct DurableEdgePlanningTests {
    let modules = [
        module("common", components: [Catalogue.ticker, Catalogue.debug], address: "common:9000"),
        module("http", components: [Catalogue.client], address: "http:9000"),
    ]

    private func inFlow(_ node: TinyNode, _ flow: String) -> TinyNode {
        var node = node
        node.spec.flow = flow
        return node
    }

    private func definitions(_ plan: ClusterPlan) -> [String: NodeDefinition] {
        Dictionary(uniqueKeysWithValues: plan.modules.values.flatMap(\.nodes).map { ($0.name, $0) })
    }

    @Test("a durable edge reaches the sender as durable and the target as a durable input port with the edge's retry policy, across modules too")
    func durableEdgeDefinitions() {
        let policy = RetryPolicy(maxAttempts: 5, initialDelay: "1s")
        let plan = ClusterPlan(
            nodes: [
                node("tick", component: "ticker", edges: [
                    Edge(id: "stored", port: "out", to: "fetch:in", retryPolicy: policy, delivery: .durable),
                    Edge(id: "plain", port: "out", to: "sink:in"),
                ]),
                node("sink", component: "debug"),
                node("fetch", module: "http", component: "http-request"),
            ],
            modules: modules)
        let definitions = definitions(plan)
        #expect(definitions["tick"]?.edges.map(\.delivery) == [.durable, nil])
        #expect(definitions["tick"]?.usesDurableEdges == true)
        #expect(definitions["fetch"]?.durableInputs == ["in"])
        #expect(definitions["fetch"]?.durableRetryPolicies == ["tick/stored": policy])
        #expect(definitions["fetch"]?.usesDurableEdges == true)
        #expect(definitions["sink"]?.durableInputs == nil)
        #expect(definitions["sink"]?.usesDurableEdges == false)
    }

    @Test("a flow's spec.delivery makes its nodes' edges durable unless an edge says memory; other flows' edges stay as they are")
    func flowDefaultDelivery() {
        let plan = ClusterPlan(
            nodes: [
                inFlow(node("tick", component: "ticker", edges: [
                    Edge(id: "a", port: "out", to: "sink:in"), Edge(id: "b", port: "out", to: "other:in", delivery: .memory),
                ]), "orders"),
                inFlow(node("sink", component: "debug"), "orders"),
                inFlow(node("other", component: "debug"), "orders"),
                inFlow(node("tock", component: "ticker", edges: [Edge(id: "c", port: "out", to: "sink:in")]), "plain"),
            ],
            modules: modules, deliveries: ["orders": .durable])
        let definitions = definitions(plan)
        #expect(definitions["tick"]?.edges.map(\.delivery) == [.durable, .memory])
        #expect(definitions["tock"]?.edges.map(\.delivery) == [nil])
        #expect(definitions["sink"]?.durableInputs == ["in"])
        #expect(definitions["other"]?.durableInputs == nil)
    }

    @Test("the nodes of a paused flow carry paused; the others none")
    func pausedFlows() {
        let plan = ClusterPlan(
            nodes: [inFlow(node("a", component: "debug"), "held"), inFlow(node("b", component: "debug"), "running"), node("c", component: "debug")],
            modules: modules, pausedFlows: ["held"])
        let definitions = definitions(plan)
        #expect(definitions["a"]?.paused == true)
        #expect(definitions["b"]?.paused == nil)
        #expect(definitions["c"]?.paused == nil)
    }

    @Test("a host without a persistent store refusing a durable node gives EdgesResolved=False DurableStoreUnavailable and Ready=False")
    func durableStoreUnavailableCondition() throws {
        let tick = node("tick", component: "ticker", edges: [Edge(id: "a", port: "out", to: "sink:in", delivery: .durable)])
        let plan = ClusterPlan(nodes: [tick, node("sink", component: "debug")], modules: modules)
        let nodePlan = try #require(plan.nodes["tick"])
        let sync = NodeSyncResult(
            name: "tick", phase: .failed, error: "node \"tick\" has durable edges, but its module host keeps no persistent store",
            reason: NodeRejection.durableStoreUnavailable)
        let status = NodeStatusBuilder.status(for: nodePlan, sync: sync, report: nil, now: Timestamp(Date(timeIntervalSince1970: 10)))
        let edges = try #require(status.conditions[type: TinyNodeCondition.edgesResolved])
        #expect(edges.status == .false)
        #expect(edges.reason == "DurableStoreUnavailable")
        #expect(edges.message.contains("persistent store"))
        #expect(status.conditions[type: TinyNodeCondition.ready]?.status == .false)
        #expect(status.conditions[type: TinyNodeCondition.ready]?.reason == "DurableStoreUnavailable")
    }

    @Test("a node of a paused flow gets Paused=True; resumed, Paused=False; a node never paused gets no Paused condition")
    func pausedCondition() throws {
        let plan = ClusterPlan(nodes: [inFlow(node("a", component: "debug"), "f")], modules: modules)
        var nodePlan = try #require(plan.nodes["a"])
        let now = Timestamp(Date(timeIntervalSince1970: 10))
        let never = NodeStatusBuilder.status(for: nodePlan, sync: nil, report: nil, now: now)
        #expect(never.conditions[type: TinyNodeCondition.paused] == nil)
        let paused = NodeStatusBuilder.status(for: nodePlan, sync: nil, report: nil, flowPaused: true, now: now)
        #expect(paused.conditions[type: TinyNodeCondition.paused]?.status == .true)
        nodePlan.node.status = paused
        let resumed = NodeStatusBuilder.status(for: nodePlan, sync: nil, report: nil, flowPaused: false, now: now)
        #expect(resumed.conditions[type: TinyNodeCondition.paused]?.status == .false)
        #expect(resumed.conditions[type: TinyNodeCondition.paused]?.reason == "Resumed")
    }
}
