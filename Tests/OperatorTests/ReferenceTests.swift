import CRDModels
import ConfigurationReferences
import Foundation
import KubernetesClient
import KubernetesModels
import ModuleHost
@testable import Operator
import TestSupport
import Testing

/// A ticker node of flow `flow` with `_settings`.
private func flowNode(_ name: String, settings: JSONValue, flow: String? = "f", generation: Int64 = 1) -> TinyNode {
    var result = node(name, component: "ticker", settings: settings, generation: generation)
    result.spec.flow = flow
    return result
}

@Suite("Secret references and flow parameters in the operator's plan")
struct ReferencePlanTests {
    let modules = [module("common", components: [Catalogue.ticker])]

    @Test("a literal parameter is validated as its value; the node's definition carries the parameters it uses, never values of Secrets")
    func literalParameter() throws {
        let plan = ClusterPlan(
            nodes: [flowNode("t", settings: ["interval": "${param:interval}"])], modules: modules,
            parameters: ["f": [FlowParameter(name: "interval", value: 250), FlowParameter(name: "unused", value: "x")]])
        let nodePlan = try #require(plan.nodes["t"])
        #expect(nodePlan.validation.isValid, "\(nodePlan.validation.all)")
        let definition = try #require(plan.modules["common"]?.nodes.first)
        #expect(definition.parameters == ["interval": .value(250)])
        // The ports go as written: the host puts the values in.
        #expect(definition.ports.first?.configuration == ["interval": "${param:interval}"])

        let wrong = ClusterPlan(
            nodes: [flowNode("t", settings: ["interval": "${param:interval}"])], modules: modules,
            parameters: ["f": [FlowParameter(name: "interval", value: "fast")]])
        #expect(wrong.nodes["t"]?.validation.configuration.map(\.description) == [
            "spec.ports[0].configuration.interval: expected integer >= 1, got \"fast\""
        ])
    }

    @Test("valueFrom parameters and ${secret:} go to the host as references; their strings are not schema-checked here")
    func hostResolved() throws {
        let secret = ParameterSource(secretKeyRef: KeySelector(name: "db", key: "interval"))
        let plan = ClusterPlan(
            nodes: [flowNode("t", settings: ["interval": "${param:interval}"]), flowNode("u", settings: ["interval": "${secret:db/interval}"])],
            modules: modules, parameters: ["f": [FlowParameter(name: "interval", valueFrom: secret)]])
        #expect(plan.nodes["t"]?.validation.isValid == true)
        #expect(plan.nodes["u"]?.validation.isValid == true)
        let definitions = Dictionary(uniqueKeysWithValues: (plan.modules["common"]?.nodes ?? []).map { ($0.name, $0) })
        #expect(definitions["t"]?.parameters == ["interval": .secretKeyRef(ObjectKeyReference(name: "db", key: "interval"))])
        #expect(definitions["u"]?.parameters == nil)
    }

    @Test("bad syntax, unknown parameters and nodes without a flow are ConfigValid=False at the spec's path", arguments: [
        (flowNode("t", settings: ["interval": "${secret:db}"]), "spec.ports[0].configuration.interval: \"${secret:db}\": expected ${secret:NAME/KEY}"),
        (flowNode("t", settings: ["interval": "${HOME}"]), "spec.ports[0].configuration.interval: unknown reference \"${HOME}\""),
        (flowNode("t", settings: ["interval": "${param:nope}"]), "spec.ports[0].configuration.interval: ${param:nope}: flow \"f\" has no parameter \"nope\" (parameters: interval)"),
        (flowNode("t", settings: ["interval": "${param:interval}"], flow: nil), "the node belongs to no flow"),
        (flowNode("t", settings: ["interval": "${param:interval}"], flow: "other"), "no TinyFlow \"other\""),
    ])
    func invalidReferences(node: TinyNode, message: String) throws {
        let plan = ClusterPlan(nodes: [node], modules: modules, parameters: ["f": [FlowParameter(name: "interval", value: 5)]])
        let nodePlan = try #require(plan.nodes["t"])
        #expect(!nodePlan.isSchedulable)
        let text = nodePlan.validation.configuration.map(\.description).joined(separator: "; ")
        #expect(text.contains(message), "\(text)")
        var conditions: [Condition] = []
        NodeConditions.apply(nodePlan.validation, generation: 1, now: .now(), to: &conditions)
        #expect(conditions[type: TinyNodeCondition.configValid]?.reason == NodeConditions.Reason.invalidConfiguration)
    }

    @Test("a parameter with both value and valueFrom (or neither) is refused, naming the flow's field")
    func malformedParameter() throws {
        let both = FlowParameter(name: "interval", value: 5, valueFrom: ParameterSource(configMapKeyRef: KeySelector(name: "c", key: "k")))
        let plan = ClusterPlan(
            nodes: [flowNode("t", settings: ["interval": "${param:interval}"])], modules: modules, parameters: ["f": [both]])
        let text = plan.nodes["t"]?.validation.configuration.map(\.description).joined() ?? ""
        #expect(text.contains("TinyFlow \"f\" spec.parameters[0] needs exactly one of value and valueFrom"))
    }

    @Test("a changed parameter is a changed fingerprint: the cached validation is not reused")
    func cacheSeesParameters() throws {
        let cache = ValidationCache()
        let nodes = [flowNode("t", settings: ["interval": "${param:interval}"])]
        _ = ClusterPlan(nodes: nodes, modules: modules, parameters: ["f": [FlowParameter(name: "interval", value: 5)]], cache: cache)
        let again = ClusterPlan(nodes: nodes, modules: modules, parameters: ["f": [FlowParameter(name: "interval", value: "x")]], cache: cache)
        #expect(cache.reusedByLastPlan == 0)
        #expect(again.nodes["t"]?.validation.isValid == false)
    }
}

@Suite("SecretNotFound in a node's status")
struct SecretNotFoundStatusTests {
    let modules = [module("common", components: [Catalogue.ticker])]

    @Test("a host's SecretNotFound, from the sync or a later report, is ConfigValid=False and Ready=False with the host's message")
    func secretNotFound() throws {
        let plan = try #require(ClusterPlan(nodes: [flowNode("t", settings: ["interval": "${secret:db/interval}"])], modules: modules).nodes["t"])
        let error = "spec.ports[0].configuration.interval: ${secret:db/interval}: Secret \"db\" not found in namespace \"default\" (key \"interval\")"
        let sync = NodeSyncResult(name: "t", phase: .failed, error: error, reason: NodeRejection.secretNotFound)
        let status = NodeStatusBuilder.status(for: plan, sync: sync, report: nil, now: .now())
        let valid = try #require(status.conditions[type: TinyNodeCondition.configValid])
        #expect(valid.status == .false && valid.reason == "SecretNotFound" && valid.message == error)
        #expect(status.conditions[type: TinyNodeCondition.ready]?.reason == "SecretNotFound")
        #expect(status.error == error)

        // The Secret was created: the host's report says the node runs.
        let running = NodeStatusReport(name: "t", generation: 1, phase: .running)
        let fixed = NodeStatusBuilder.status(for: plan, sync: sync, report: running, now: .now())
        #expect(fixed.conditions[type: TinyNodeCondition.configValid]?.status == .true)
        #expect(fixed.conditions[type: TinyNodeCondition.ready]?.status == .true)

        // Deleted again: the report says so.
        let ran = NodeSyncResult(name: "t", phase: .running, generation: 1)
        let gone = NodeStatusReport(name: "t", generation: 1, phase: .failed, lastError: error, reason: NodeRejection.secretNotFound)
        let failed = NodeStatusBuilder.status(for: plan, sync: ran, report: gone, now: .now())
        #expect(failed.conditions[type: TinyNodeCondition.configValid]?.reason == "SecretNotFound")
    }
}

@Suite("Flow parameters end to end through the operator", .timeLimit(.minutes(2)))
struct FlowParameterOperatorTests {
    @Test("a literal parameter reaches the node; changing it in the TinyFlow changes what the node sends")
    func literalParameterReachesNode() async throws {
        try await withOperator { harness in
            _ = try await harness.flows.create(TinyFlow(
                metadata: ObjectMeta(name: "hello"), spec: TinyFlowSpec(parameters: [FlowParameter(name: "greeting", value: "hi from a parameter")])))
            for node in [
                node("hello-ticker", "ticker", settings: ["interval": 20, "payload": ["greeting": "${param:greeting}"]],
                     edges: [Edge(id: "to-debug", port: "out", to: "hello-debug:in")], flow: "hello"),
                node("hello-debug", "debug", settings: ["keep": 50], flow: "hello"),
            ] {
                _ = try await harness.nodes.create(node)
            }
            try await harness.waitUntilReady(["hello-ticker", "hello-debug"])
            try await eventually("the parameter's value arrives", timeout: .seconds(10)) {
                latestGreeting(await harness.debugPayloads("hello-debug")) == "hi from a parameter"
            }
            _ = try await harness.flows.update("hello") { flow in
                flow.spec.parameters = [FlowParameter(name: "greeting", value: "changed")]
            }
            try await eventually("the new value arrives", timeout: .seconds(10)) {
                latestGreeting(await harness.debugPayloads("hello-debug")) == "changed"
            }
        }
    }

    @Test("a reference the host cannot read is ConfigValid=False SecretNotFound naming the Secret and key")
    func secretNotFound() async throws {
        try await withOperator { harness in
            _ = try await harness.nodes.create(node("t", "ticker", settings: ["interval": 1000, "payload": ["p": "${secret:db/password}"]]))
            try await eventually("ConfigValid=False SecretNotFound", timeout: .seconds(15)) {
                let valid = try await harness.condition("t", TinyNodeCondition.configValid)
                return valid?.status == .false && valid?.reason == "SecretNotFound"
                    && (valid?.message.contains("Secret \"db\"") ?? false) && (valid?.message.contains("key \"password\"") ?? false)
            }
        }
    }
}
