import CommonComponents
import ComponentKit
import ModuleHostTestSupport
import Testing

@testable import ModuleHost

@Suite("Sync plan")
struct SyncPlanTests {
    /// Running nodes as the plan sees them, with the components the test module gives them.
    private func running(_ definitions: [NodeDefinition]) -> [String: SyncPlan.RunningNode] {
        Dictionary(uniqueKeysWithValues: definitions.compactMap { definition in
            testModule.components[definition.component].map {
                (definition.name, SyncPlan.RunningNode(definition: definition, componentType: $0))
            }
        })
    }

    private func plan(_ desired: [NodeDefinition], running nodes: [NodeDefinition] = []) -> SyncPlan {
        SyncPlan(desired: desired, running: running(nodes), module: testModule)
    }

    /// The changes as text: `start a`, `reconfigure b`.
    private func describe(_ plan: SyncPlan) -> [String] {
        plan.changes.map { change in
            switch change {
            case .start(let start): "start \(start.definition.name)"
            case .reconfigure(let reconfiguration): "reconfigure \(reconfiguration.definition.name)"
            }
        }
    }

    @Test("nodes that do not run are started in name order, with their configurations' defaults applied")
    func startsNewNodes() throws {
        let plan = plan([
            definition("tick", "ticker", settings: ["interval": 5], edges: [edge("out", to: "sink:in")]),
            definition("sink", "debug", settings: ["log": false]),
        ])
        #expect(describe(plan) == ["start sink", "start tick"])
        #expect(plan.stops.isEmpty)
        #expect(plan.failures.isEmpty)
        guard case .start(let tick) = try #require(plan.changes.last) else {
            Issue.record("expected a start")
            return
        }
        #expect(ObjectIdentifier(tick.componentType) == ObjectIdentifier(Ticker.self))
        #expect(tick.configurations["_settings"] == ["interval": 5, "payload": [:]])
    }

    @Test("an unknown component, a configuration that breaks its schema and a mapping that does not compile fail the node alone, with field paths")
    func failures() {
        let plan = plan([
            definition("sink", "debug", settings: ["log": false]),
            definition("bad", "ticker", settings: ["interval": 0]),
            definition("alien", "teleporter"),
            definition("pass", "forward", edges: [Edge(id: "m", port: "out", to: "sink:in", mapping: ["url": "{{ $.a + }}"])]),
        ])
        #expect(describe(plan) == ["start sink"])
        #expect(plan.failures["alien"]?.hasPrefix(#"spec.component: module "test" has no component "teleporter" (components: "#) == true)
        #expect(plan.failures["bad"] == #"spec.ports[0].configuration.interval: expected integer >= 1, got 0"#)
        #expect(plan.failures["pass"]?.hasPrefix("spec.edges[0].mapping.url: expected") == true)
    }

    @Test("an edge to a node the host does not know is not the node's fault")
    func unknownEdgeTargetIsValid() {
        let plan = plan([definition("pass", "forward", edges: [edge("out", to: "ghost:in")])])
        #expect(describe(plan) == ["start pass"])
        #expect(plan.failures.isEmpty)
    }

    @Test("a node that runs this very definition was validated when it started: nothing to do, no validation")
    func unchangedNodeIsNotValidatedAgain() {
        // Invalid today, but running: only a node that changes is validated again.
        let nodes = [definition("bad", "ticker", settings: ["interval": 0]), definition("sink", "debug")]
        let plan = plan(nodes, running: nodes)
        #expect(plan.changes.isEmpty)
        #expect(plan.stops.isEmpty)
        #expect(plan.failures.isEmpty)
        #expect(plan.unchanged == ["bad", "sink"])
    }

    @Test("an unchanged node is validated again when an edge's target runs another component now")
    func edgeTargetChangedComponent() {
        let pass = definition("pass", "forward", edges: [edge("out", to: "next:in")])
        let plan = plan([pass, definition("next", "ticker")], running: [pass, definition("next", "debug")])
        #expect(plan.failures["pass"]?.hasPrefix(#"spec.edges[0].to: node "next" (ticker) has no input port "in""#) == true)
        #expect(plan.stops == ["next", "pass"], "pass failed; next runs another component")
        #expect(describe(plan) == ["start next"])
    }

    @Test("nodes no longer desired, failed now, or running another component are stopped; the last are started anew")
    func stops() {
        let plan = plan(
            [definition("swap", "forward"), definition("broken", "ticker", settings: ["interval": 0], generation: 2)],
            running: [definition("gone", "debug"), definition("swap", "debug"), definition("broken", "ticker", settings: ["interval": 5])])
        #expect(plan.stops == ["broken", "gone", "swap"])
        #expect(describe(plan) == ["start swap"])
        #expect(plan.failures.keys.sorted() == ["broken"])
    }

    @Test("a node that moved to another flow or namespace is stopped and started anew: its context is another")
    func contextIdentityChanges() {
        let plan = plan(
            [definition("moved", "debug", flow: "orders"), definition("renamespaced", "debug"), definition("stays", "debug", flow: "orders")],
            running: [
                definition("moved", "debug", flow: "shop"), definition("renamespaced", "debug"),
                definition("stays", "debug", flow: "orders"),
            ].map { node in
                var node = node
                if node.name == "renamespaced" { node.namespace = "staging" }
                return node
            })
        #expect(plan.stops == ["moved", "renamespaced"])
        #expect(describe(plan) == ["start moved", "start renamespaced"])
        #expect(plan.unchanged == ["stays"])
    }

    @Test("a node that runs another definition of its component is reconfigured; its settings are delivered again only if they changed")
    func reconfigures() throws {
        let plan = plan(
            [
                definition("tick", "ticker", settings: ["interval": 7], generation: 2),
                definition("sink", "debug", settings: ["log": false], generation: 2),
            ],
            running: [
                definition("tick", "ticker", settings: ["interval": 5]),
                definition("sink", "debug", settings: ["log": false]),
            ])
        #expect(describe(plan) == ["reconfigure sink", "reconfigure tick"])
        #expect(plan.stops.isEmpty)
        guard case .reconfigure(let sink) = plan.changes[0], case .reconfigure(let tick) = plan.changes[1] else {
            Issue.record("expected two reconfigurations")
            return
        }
        #expect(sink.newSettings == nil, "same settings: not delivered again, run not restarted")
        #expect(sink.definition.generation == 2)
        #expect(tick.newSettings == ["interval": 7, "payload": [:]])
        #expect(tick.configurations["_settings"] == tick.newSettings)
    }
}
