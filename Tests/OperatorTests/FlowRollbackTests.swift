import FlowRevisions
import CRDModels
import Foundation
import KubernetesClient
import Operator
import ControlPlaneTestSupport
import TestSupport
import Testing

@Suite("tinyflow flow history and rollback", .timeLimit(.minutes(3)))
struct FlowRollbackTests {
    func install(_ client: KubernetesClient) async throws {
        for crd in [TinyNode.customResourceDefinition, TinyFlow.customResourceDefinition] {
            _ = try await client.api(CustomResourceDefinition.self).create(crd)
        }
        try await eventually("the CRDs served", timeout: .seconds(10)) {
            let nodes = try? await client.api(TinyNode.self, namespace: "default").list()
            let flows = try? await client.api(TinyFlow.self, namespace: "default").list()
            return nodes != nil && flows != nil
        }
    }

    func node(_ name: String, interval: Int) -> TinyNode {
        TinyNode(
            metadata: ObjectMeta(name: name, namespace: "default", labels: [TinyFlow.flowLabel: "hello"]),
            spec: TinyNodeSpec(
                module: "common", component: "ticker",
                ports: [PortConfiguration(port: "_settings", configuration: ["interval": .integer(interval)])], flow: "hello"))
    }

    @Test("rolling back applies the revision's nodes, deletes the others, and names the revision")
    func rollback() async throws {
        try await withPlane { _, client in
            try await install(client)
            let nodes = client.api(TinyNode.self, namespace: "default")
            let flows = client.api(TinyFlow.self, namespace: "default")
            let v1 = [node("a", interval: 1), node("b", interval: 1)]
            var flow = try await flows.create(TinyFlow(metadata: ObjectMeta(name: "hello", namespace: "default")))
            flow.status = try #require(FlowHistory.record(
                v1, in: TinyFlowStatus(), author: "alice", summary: nil, now: .now(), limit: 10))
            _ = try await flows.replaceStatus(flow)
            for current in [node("a", interval: 5), node("c", interval: 1)] { _ = try await nodes.create(current) }

            let revisions = FlowRevisions(client: client, namespace: "default")
            #expect(try await revisions.history(of: "hello").revisions.map(\.number) == [1])
            let result = try await revisions.rollback("hello", to: 1)
            #expect(result.applied == ["a", "b"])
            #expect(result.deleted == ["c"])

            let live = try await nodes.list().items.sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
            #expect(live.map { $0.metadata.name ?? "" } == ["a", "b"])
            #expect(live.first?.spec.configuration(of: "_settings") == ["interval": 1])
            #expect(live.first?.metadata.annotations?[TinyFlow.changeSummaryAnnotation] == "rollback to revision 1")

            await #expect(throws: RollbackError.self) { try await revisions.rollback("hello", to: 7) }
        }
    }
}
