import CRDModels
import KubernetesClient
import KubernetesModels
import TestSupport
import Testing

@Suite("Settings a component rejects are configuration errors", .timeLimit(.minutes(2)))
struct SettingsRejectionTests {
    @Test("a transform template that does not compile gives ConfigValid=False at the spec's path; fixing it makes the node Ready")
    func templateSyntaxError() async throws {
        try await withOperator { harness in
            _ = try await harness.nodes.create(node("greet", "transform", settings: ["template": ["a": "{{ $.payload + }}"]]))
            try await eventually("ConfigValid false with the spec path", timeout: .seconds(15)) {
                let valid = try await harness.condition("greet", TinyNodeCondition.configValid)
                return valid?.status == .false && valid?.reason == "SettingsRejected"
                    && (valid?.message.hasPrefix("spec.ports[0].configuration.template.a: ") ?? false)
            }
            #expect(try await harness.condition("greet", TinyNodeCondition.ready)?.status == .false)

            _ = try await harness.nodes.update("greet") { node in
                node.spec.ports = [PortConfiguration(port: "_settings", configuration: ["template": ["a": "{{ $.payload + 1 }}"]])]
            }
            try await harness.waitUntilReady(["greet"])
            #expect(try await harness.condition("greet", TinyNodeCondition.configValid)?.status == .true)
        }
    }
}
