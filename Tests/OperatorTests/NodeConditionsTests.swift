import CRDModels
import Foundation
import Operator
import Testing

@Suite("TinyNode conditions from validation")
struct NodeConditionsTests {
    static let ticker = Catalogue.ticker
    static let debug = Catalogue.debug

    let earlier = Timestamp(Date(timeIntervalSince1970: 1_000))
    let later = Timestamp(Date(timeIntervalSince1970: 2_000))

    func validate(_ spec: TinyNodeSpec) -> NodeValidation {
        spec.validate(component: Self.ticker) { name in
            switch name {
            case "sink": .resolved(Self.debug)
            case "pending": .unresolved
            default: nil
            }
        }
    }

    @Test("a valid node gets ConfigValid and EdgesResolved True, and no Ready verdict")
    func valid() {
        var conditions: [Condition] = []
        let spec = TinyNodeSpec(
            module: "common", component: "ticker",
            ports: [PortConfiguration(port: "_settings", configuration: ["interval": 5])],
            edges: [Edge(id: "a", port: "out", to: "sink:in"), Edge(id: "b", port: "out", to: "pending:in")])
        NodeConditions.apply(validate(spec), generation: 3, now: earlier, to: &conditions)
        #expect(conditions.map(\.type) == ["ConfigValid", "EdgesResolved"])
        #expect(conditions.allSatisfy { $0.status == .true && $0.observedGeneration == 3 })
        #expect(conditions[type: "ConfigValid"]?.reason == "Valid")
    }

    @Test("an invalid configuration names the field; other conditions are judged on their own")
    func invalidConfiguration() {
        var conditions: [Condition] = []
        let spec = TinyNodeSpec(
            module: "common", component: "ticker",
            ports: [PortConfiguration(port: "_settings", configuration: ["interval": "fast"])],
            edges: [Edge(id: "a", port: "out", to: "sink:in")])
        NodeConditions.apply(validate(spec), generation: 1, now: earlier, to: &conditions)
        let config = conditions[type: "ConfigValid"]
        #expect(config?.status == .false)
        #expect(config?.reason == "InvalidConfiguration")
        #expect(config?.message == #"spec.ports[0].configuration.interval: expected integer >= 1, got "fast""#)
        #expect(conditions[type: "EdgesResolved"]?.status == .true)
        #expect(conditions[type: "Ready"]?.status == .false)
        #expect(conditions[type: "Ready"]?.reason == "InvalidSpec")
    }

    @Test("edges to missing nodes, missing ports and malformed targets are each reported")
    func unresolvedEdges() {
        var conditions: [Condition] = []
        let spec = TinyNodeSpec(
            module: "common", component: "ticker",
            edges: [
                Edge(id: "a", port: "out", to: "ghost:in"), Edge(id: "b", port: "out", to: "sink:nope"),
                Edge(id: "c", port: "in", to: "sink:in"), Edge(id: "c", port: "out", to: "sink"),
            ])
        NodeConditions.apply(validate(spec), generation: 1, now: earlier, to: &conditions)
        let edges = conditions[type: "EdgesResolved"]
        #expect(edges?.status == .false)
        #expect(edges?.reason == "UnresolvedEdges")
        #expect(
            edges?.message
                == [
                    #"spec.edges[0].to: no node "ghost""#,
                    #"spec.edges[1].to: node "sink" (debug) has no input port "nope" (inputs: in)"#,
                    #"spec.edges[2].port: component "ticker" has no output port "in" (outputs: out)"#,
                    #"spec.edges[3].id: edge id "c" is used twice"#,
                    #"spec.edges[3].to: expected <node>:<port>, got "sink""#,
                ].joined(separator: "; "))
    }

    @Test("fixing the node flips ConfigValid back and moves its transition time once")
    func recovery() {
        var conditions: [Condition] = []
        let bad = TinyNodeSpec(module: "common", component: "ticker", ports: [PortConfiguration(port: "_settings", configuration: ["interval": 0])])
        NodeConditions.apply(validate(bad), generation: 1, now: earlier, to: &conditions)
        let good = TinyNodeSpec(module: "common", component: "ticker")
        NodeConditions.apply(validate(good), generation: 2, now: later, to: &conditions)
        NodeConditions.apply(validate(good), generation: 2, now: Timestamp(Date(timeIntervalSince1970: 3_000)), to: &conditions)
        #expect(conditions[type: "ConfigValid"]?.status == .true)
        #expect(conditions[type: "ConfigValid"]?.lastTransitionTime == later)
        #expect(conditions[type: "ConfigValid"]?.observedGeneration == 2)
    }

    @Test("an unknown component is reported on spec.component with its own reason")
    func unknownComponent() {
        var conditions: [Condition] = []
        let spec = TinyNodeSpec(module: "common", component: "teleporter")
        let validation = spec.validate(
            component: nil,
            componentProblem: SchemaViolation(path: "spec.component", message: #"module "common" has no component "teleporter""#)
        ) { _ in nil }
        NodeConditions.apply(validation, generation: 1, now: earlier, to: &conditions)
        #expect(conditions[type: "ConfigValid"]?.reason == "ComponentNotFound")
        #expect(conditions[type: "ConfigValid"]?.message == #"spec.component: module "common" has no component "teleporter""#)
    }
}
