import CRDModels
import ControlPlaneTestSupport
import FlowRevisions
import Foundation
import KubernetesClient
import KubernetesModels
import TestSupport
import Testing

@Suite("tinyflow flow pause and resume", .timeLimit(.minutes(3)))
struct FlowPauseTests {
    @Test("pause sets spec.paused as its field manager and resume clears it; the rest of the spec stays")
    func pauseAndResume() async throws {
        try await withPlane { _, client in
            _ = try await client.api(CustomResourceDefinition.self).create(TinyFlow.customResourceDefinition)
            let flows = client.api(TinyFlow.self, namespace: "default")
            try await eventually("the CRD served", timeout: .seconds(10)) { (try? await flows.list()) != nil }
            _ = try await flows.create(TinyFlow(metadata: ObjectMeta(name: "hello"), spec: TinyFlowSpec(description: "greets", maxHops: 9)))

            let pause = FlowPause(client: client, namespace: "default")
            let paused = try await pause.setPaused(true, flow: "hello")
            #expect(paused.spec.paused)
            #expect(try await flows.get("hello").spec.paused)
            #expect(paused.spec.description == "greets")
            #expect(paused.spec.maxHops == 9)
            #expect(paused.metadata.managedFields?.contains { $0["manager"] == .string(FlowPause.fieldManager) } == true)

            try await pause.setPaused(false, flow: "hello")
            #expect(try await flows.get("hello").spec.paused == false)
        }
    }

    @Test("pausing a flow that does not exist names it and its namespace")
    func missingFlow() async throws {
        try await withPlane { _, client in
            _ = try await client.api(CustomResourceDefinition.self).create(TinyFlow.customResourceDefinition)
            try await eventually("the CRD served", timeout: .seconds(10)) {
                (try? await client.api(TinyFlow.self, namespace: "default").list()) != nil
            }
            await #expect(throws: FlowPauseError.noSuchFlow("nope", namespace: "default")) {
                try await FlowPause(client: client, namespace: "default").setPaused(true, flow: "nope")
            }
            #expect("\(FlowPauseError.noSuchFlow("nope", namespace: "default"))" == "no TinyFlow \"nope\" in namespace default")
        }
    }
}
