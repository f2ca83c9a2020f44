import CRDModels
import Console
import Testing

@Suite("Deploying a node set: the operator's checks and what to apply")
struct FlowDeploymentTests {
    let modules = ["common": commonModule()]

    @Test("a valid flow has no problems")
    func valid() {
        let nodes = [ticker("t", to: "d:in"), debug("d")]
        #expect(FlowDeployment.violations(of: nodes, flow: "f", modules: modules, others: []).isEmpty)
    }

    @Test("a setting that breaks its schema is reported at the operator's path, on its node")
    func invalidSetting() throws {
        let problems = FlowDeployment.violations(of: [ticker("t", interval: "fast"), debug("d")], flow: "f", modules: modules, others: [])
        let problem = try #require(problems.first)
        #expect(problems.count == 1)
        #expect(problem.node == "t")
        #expect(problem.field == "spec.ports[0].configuration.interval")
    }

    @Test("unknown modules, components, edge targets and ports are named")
    func unknowns() {
        var wrongModule = debug("a")
        wrongModule.spec.module = "nope"
        var wrongComponent = debug("b")
        wrongComponent.spec.component = "nope"
        let problems = FlowDeployment.violations(
            of: [wrongModule, wrongComponent, ticker("c", to: "ghost:in"), ticker("e", to: "d:nope"), debug("d")],
            flow: "f", modules: modules, others: [])
        #expect(problems.map { "\($0.node ?? ""):\($0.field ?? "")" } == [
            "a:spec.module", "b:spec.component", "c:spec.edges[0].to", "e:spec.edges[0].to",
        ])
        #expect(problems[0].message.contains("no TinyModule \"nope\""))
        #expect(problems[2].message.contains("no node \"ghost\""))
        #expect(problems[3].message.contains("no input port \"nope\""))
    }

    @Test("edges may point at nodes of other flows in the namespace")
    func edgeToOtherFlow() {
        let other = TinyNode(metadata: ObjectMeta(name: "elsewhere", namespace: "default"), spec: debug("elsewhere").spec)
        #expect(FlowDeployment.violations(of: [ticker("t", to: "elsewhere:in")], flow: "f", modules: modules, others: [other]).isEmpty)
    }

    @Test("bad and repeated names are refused")
    func names() {
        let problems = FlowDeployment.violations(of: [debug("Bad_Name"), debug("d"), debug("d"), debug("")], flow: "f", modules: modules, others: [])
        #expect(problems.filter { $0.field == "metadata.name" }.map { $0.node ?? "" } == ["Bad_Name", "d", ""])
    }

    @Test("the plan applies new and changed nodes, deletes the missing, leaves the rest")
    func plan() {
        func existing(_ snapshot: FlowNodeSnapshot) -> TinyNode {
            var spec = snapshot.spec
            spec.flow = "f"
            return TinyNode(metadata: ObjectMeta(name: snapshot.name, namespace: "default", labels: [TinyFlow.flowLabel: "f"]), spec: spec)
        }
        let current = [existing(ticker("same")), existing(ticker("changed")), existing(debug("gone"))]
        let plan = FlowDeployment.plan([ticker("same"), ticker("changed", interval: 5), debug("new")], flow: "f", current: current)
        #expect(plan.apply.map(\.name) == ["changed", "new"])
        #expect(plan.apply.allSatisfy { $0.spec.flow == "f" })
        #expect(plan.delete == ["gone"])
        #expect(plan.unchanged == ["same"])
    }
}

@Suite("The difference of two node sets")
struct NodeSetDiffTests {
    @Test("added, removed and changed nodes, with each changed field's path and values")
    func diff() throws {
        let diff = NodeSetDiff(from: [ticker("a"), ticker("b"), debug("c")], to: [ticker("a", interval: 500), ticker("b"), debug("d")])
        #expect(diff.added == ["d"])
        #expect(diff.removed == ["c"])
        let change = try #require(diff.changed.first)
        #expect(diff.changed.count == 1)
        #expect(change.name == "a")
        #expect(change.changes == [.init(path: "spec.ports[0].configuration.interval", before: 1000, after: 500)])
    }

    @Test("equal sets have no difference")
    func equal() {
        #expect(NodeSetDiff(from: [ticker("a")], to: [ticker("a")]).isEmpty)
    }
}
