import CRDModels
@testable import LocalMode
import Testing

private func node(_ name: String, ready: Bool?, error: String? = nil) -> TinyNode {
    var node = TinyNode(metadata: ObjectMeta(name: name), spec: TinyNodeSpec(module: "common", component: "debug"))
    if let ready {
        var status = TinyNodeStatus()
        status.conditions = [Condition(type: "Ready", status: ready ? .true : .false, reason: ready ? "Running" : "Pending")]
        status.error = error
        node.status = status
    }
    return node
}

@Suite("Node readiness on the console")
struct NodeReadinessTests {
    @Test("prints k/n nodes Ready only when the count of ready or of all nodes changes")
    func printsReadyCountOnChange() {
        var tracker = NodeReadiness()
        #expect(tracker.update([node("a", ready: nil), node("b", ready: nil)]) == ["0/2 nodes Ready"])
        #expect(tracker.update([node("a", ready: true), node("b", ready: false)]) == ["1/2 nodes Ready"])
        #expect(tracker.update([node("a", ready: true), node("b", ready: false)]).isEmpty)
        #expect(tracker.update([node("a", ready: true), node("b", ready: true)]) == ["2/2 nodes Ready"])
        #expect(tracker.update([node("a", ready: true), node("b", ready: true), node("c", ready: nil)]) == ["2/3 nodes Ready"])
    }

    @Test("prints a node's error once when it appears or changes")
    func printsErrorsOnce() {
        var tracker = NodeReadiness()
        _ = tracker.update([node("a", ready: true)])
        #expect(tracker.update([node("a", ready: false, error: "boom")]) == ["0/1 nodes Ready", "node a: boom"])
        #expect(tracker.update([node("a", ready: false, error: "boom")]).isEmpty)
        #expect(tracker.update([node("a", ready: false, error: "bang")]) == ["node a: bang"])
    }
}
