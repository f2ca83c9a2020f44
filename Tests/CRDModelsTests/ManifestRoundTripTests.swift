import CRDModels
import Foundation
import Manifests
import Testing
import YAMLValues

@Suite("Manifests round-trip through the API types")
struct ManifestRoundTripTests {
    static let manifest = """
        apiVersion: tinyflow.dev/v1alpha1
        kind: TinyNode
        metadata:
          name: fetch-weather
          namespace: flows
          labels:
            tinyflow.dev/flow: weather
          annotations:
            tinyflow.dev/change-summary: "poll every 30s"
        spec:
          module: http
          component: http-request
          flow: weather
          ports:
            - port: _settings
              configuration:
                timeout: 5000
                headers:
                  x-api-key: "12345"
                  accept: application/json
                vendorExtension:
                  nested: [1, 2.5, "three", true, null]
                  quoted: "yes"
          edges:
            - id: to-parse
              port: response
              to: parse-weather:in
              mapping:
                temperature: "{{ $.payload.body.temp }}"
                unit: celsius
              retryPolicy:
                maxAttempts: 4
                initialDelay: 250ms
                nonRetryableErrors: [BadRequest]
        """

    @Test("a realistic TinyNode survives YAML → model → JSON → model unchanged")
    func yamlRoundTrip() throws {
        let parsed = try FlowManifest(yaml: Self.manifest)
        let node = try #require(parsed.nodes.first)
        #expect(node.metadata.name == "fetch-weather")
        #expect(node.spec.edges.first?.retryPolicy?.maxAttempts == 4)
        #expect(node.spec.edges.first?.retryPolicy?.maxDelay == "10s", "absent members take their defaults")
        #expect(node.spec.edges.first?.target?.node == "parse-weather")

        let json = try JSONEncoder().encode(node)
        let decoded = try JSONDecoder().decode(TinyNode.self, from: json)
        #expect(decoded == node)

        let yaml = YAMLDocuments.render(try JSONValue(encoding: node))
        let reparsed = try FlowManifest(yaml: yaml)
        #expect(reparsed.nodes == [node])
    }

    @Test("unknown fields and scalar types in free-form configuration survive")
    func freeFormConfigurationSurvives() throws {
        let node = try #require(try FlowManifest(yaml: Self.manifest).nodes.first)
        let configuration = try #require(node.spec.configuration(of: "_settings"))
        #expect(configuration["vendorExtension"] == ["nested": [1, 2.5, "three", true, nil], "quoted": "yes"])
        #expect(configuration["headers"]?["x-api-key"] == "12345", "a quoted number stays a string")
        #expect(configuration["timeout"] == 5000)

        let rendered = YAMLDocuments.render(try JSONValue(encoding: node))
        let again = try #require(try FlowManifest(yaml: rendered).nodes.first)
        #expect(again.spec.configuration(of: "_settings") == configuration)
    }

    @Test("a TinyNode with status round-trips through JSON, times in RFC 3339")
    func statusRoundTrip() throws {
        let time = try #require(Timestamp(rfc3339: "2026-11-23T16:20:24Z"))
        var node = TinyNode(
            metadata: ObjectMeta(name: "a", namespace: "default"),
            spec: TinyNodeSpec(module: "common", component: "ticker"))
        node.status = TinyNodeStatus(
            observedGeneration: 2, module: ModuleReference(name: "common", version: "0.1.0"),
            conditions: [Condition(type: "Ready", status: .true, reason: "Running", lastTransitionTime: time)],
            metrics: NodeMetrics(messagesIn: 3, lastMessageTime: time))
        let value = try JSONValue(encoding: node)
        #expect(value["status"]?["conditions"]?[0]?["lastTransitionTime"] == "2026-11-23T16:20:24Z")
        #expect(value["status"]?["conditions"]?[0]?["status"] == "True")
        #expect(try value.decode(as: TinyNode.self) == node)
    }

    @Test("a manifest with a wrong field type names the document and the field")
    func decodingErrorsNameTheField() {
        let yaml = """
            apiVersion: tinyflow.dev/v1alpha1
            kind: TinyNode
            metadata: {name: a}
            spec: {module: common}
            """
        #expect {
            _ = try FlowManifest(yaml: yaml, source: "flow.yaml")
        } throws: { error in
            "\(error)" == "flow.yaml#1: invalid TinyNode: spec.component: required field is missing"
        }
    }

    @Test("an object of another kind is rejected with its kind")
    func unknownKindRejected() {
        #expect {
            _ = try FlowManifest(yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", source: "f.yaml")
        } throws: { error in
            "\(error)".hasPrefix("f.yaml#1: unsupported object v1/ConfigMap")
        }
    }

    @Test("a TinyFlow's maxHops is read from the manifest, defaults to 256 and is bounded in the CRD")
    func flowMaxHops() throws {
        let parsed = try FlowManifest(yaml: """
            apiVersion: tinyflow.dev/v1alpha1
            kind: TinyFlow
            metadata:
              name: loop
            spec:
              maxHops: 32
            """)
        #expect(parsed.flows.first?.spec.maxHops == 32)
        let schema = TinyFlow.customResourceDefinition.spec.versions.first?.schema.openAPIV3Schema
        let maxHops = schema?["properties"]?["spec"]?["properties"]?["maxHops"]
        #expect(maxHops?["default"] == 256)
        #expect(maxHops?["minimum"] == 1)
        #expect(maxHops?["maximum"] == 1_000_000)
    }

    @Test("a TinyFlow needs no spec (its CRD does not require one); a TinyNode does")
    func flowWithoutSpec() throws {
        let parsed = try FlowManifest(yaml: """
            apiVersion: tinyflow.dev/v1alpha1
            kind: TinyFlow
            metadata:
              name: weather
            """)
        #expect(parsed.flows.first?.spec == TinyFlowSpec())
        #expect(parsed.flows.first?.spec.revisionHistoryLimit == 10)
        #expect(parsed.flows.first?.spec.maxHops == 256)
        let flowSchema = TinyFlow.customResourceDefinition.spec.versions.first?.schema.openAPIV3Schema
        let nodeSchema = TinyNode.customResourceDefinition.spec.versions.first?.schema.openAPIV3Schema
        #expect(flowSchema?["required"] == nil)
        #expect(nodeSchema?["required"] == ["spec"])
        #expect(throws: (any Error).self) {
            try FlowManifest(yaml: """
                apiVersion: tinyflow.dev/v1alpha1
                kind: TinyNode
                metadata:
                  name: lonely
                """)
        }
    }
}
