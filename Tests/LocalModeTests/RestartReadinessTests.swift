import CRDModels
@testable import LocalMode
import Testing

@Suite("What a restart of tinyflow up does to the stored readiness of nodes")
struct RestartReadinessTests {
    func node(ready: ConditionStatus?, deleted: Bool = false) -> TinyNode {
        var node = TinyNode(metadata: ObjectMeta(name: "n", namespace: "default"), spec: TinyNodeSpec(module: "common", component: "debug"))
        node.metadata.generation = 3
        if deleted { node.metadata.deletionTimestamp = .now() }
        if let ready {
            node.status = TinyNodeStatus(conditions: [
                Condition(type: "ConfigValid", status: .true, reason: "Valid", message: ""),
                Condition(type: "Ready", status: ready, reason: "Running", message: "the node runs"),
            ])
        }
        return node
    }

    @Test("a Ready node becomes Ready=Unknown, reason Restarted; its other conditions stay")
    func readyNode() throws {
        let conditions = try #require(RestartReadiness.conditions(after: node(ready: .true), at: .now()))
        #expect(conditions[type: "Ready"]?.status == .unknown)
        #expect(conditions[type: "Ready"]?.reason == "Restarted")
        #expect(conditions[type: "Ready"]?.observedGeneration == 3)
        #expect(conditions[type: "ConfigValid"]?.status == .true)
    }

    @Test("nodes that were not Ready, had no status or are being deleted are left alone")
    func others() {
        #expect(RestartReadiness.conditions(after: node(ready: .false), at: .now()) == nil)
        #expect(RestartReadiness.conditions(after: node(ready: nil), at: .now()) == nil)
        #expect(RestartReadiness.conditions(after: node(ready: .true, deleted: true), at: .now()) == nil)
    }
}
