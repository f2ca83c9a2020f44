import CRDModels
import Foundation
import Manifests
import TestSupport
import Testing
import YAMLValues

@Suite("Generated CRDs")
struct GeneratedCRDTests {
    /// Every schema node with its path, depth first.
    static func walk(_ schema: JSONValue, path: String, visit: (String, [String: JSONValue]) -> Void) {
        guard let node = schema.objectValue else { return }
        visit(path, node)
        for (name, member) in node["properties"]?.objectValue ?? [:] {
            walk(member, path: "\(path).\(name)", visit: visit)
        }
        if let items = node["items"] { walk(items, path: "\(path)[]", visit: visit) }
        if let values = node["additionalProperties"], values.objectValue != nil {
            walk(values, path: "\(path){}", visit: visit)
        }
    }

    @Test("the committed crds/ files are exactly what the models generate")
    func noDrift() throws {
        for crd in allCustomResourceDefinitions {
            let file = repositoryRoot.appendingPathComponent("crds/\(crd.spec.group)_\(crd.spec.names.plural).yaml")
            let committed = try String(contentsOf: file, encoding: .utf8)
            let generated = "---\n" + YAMLDocuments.render(try JSONValue(encoding: crd))
            #expect(committed == generated, "\(file.lastPathComponent) is stale: run `make crds`")
        }
    }

    @Test("names, short names, category, scope and the status subresource")
    func names() {
        let expected = [("tinynodes", "tn"), ("tinymodules", "tm"), ("tinyflows", "tf"), ("tinysignals", "ts")]
        #expect(allCustomResourceDefinitions.map { $0.spec.names.plural } == expected.map(\.0))
        for (crd, (plural, short)) in zip(allCustomResourceDefinitions, expected) {
            #expect(crd.metadata.name == "\(plural).tinyflow.dev")
            #expect(crd.spec.names.shortNames == [short])
            #expect(crd.spec.names.categories == ["tinyflow"])
            #expect(crd.spec.scope == "Namespaced")
            #expect(crd.spec.versions.map(\.name) == ["v1alpha1"])
            #expect(crd.spec.versions.first?.subresources?.status == .object([:]))
        }
    }

    @Test("TinyNode prints Module, Component, Ready and Age")
    func printerColumns() {
        let columns = TinyNode.customResourceDefinition.spec.versions.first?.additionalPrinterColumns ?? []
        #expect(columns.map(\.name) == ["Module", "Component", "Ready", "Age"])
        #expect(columns.map(\.jsonPath) == [
            ".spec.module", ".spec.component", #".status.conditions[?(@.type=="Ready")].status"#,
            ".metadata.creationTimestamp",
        ])
    }

    @Test("schemas are structural: every node typed, free-form only for arbitrary JSON values")
    func structural() throws {
        let allowedFreeForm: Set<String> = [
            "TinyNode.spec.ports[].configuration", "TinyNode.spec.edges[].mapping",
            "TinyNode.status.ports[].configurationSchema", "TinyNode.status.ports[].messageSchema",
            "TinyNode.status.ports[].defaultConfiguration",
            "TinyModule.status.components[].ports[].configurationSchema",
            "TinyModule.status.components[].ports[].messageSchema",
            "TinyModule.status.components[].ports[].defaultConfiguration",
            "TinyFlow.status.revisions[].nodes[].spec.ports[].configuration",
            "TinyFlow.status.revisions[].nodes[].spec.edges[].mapping",
            "TinySignal.spec.payload",
            // A flow parameter's literal value: any JSON value, like a port configuration.
            "TinyFlow.spec.parameters[].value",
        ]
        var freeForm: Set<String> = []
        for crd in allCustomResourceDefinitions {
            let schema = try #require(crd.spec.versions.first?.schema.openAPIV3Schema)
            Self.walk(schema, path: crd.spec.names.kind) { path, node in
                let preserves = node["x-kubernetes-preserve-unknown-fields"] == true
                if preserves { freeForm.insert(path) }
                #expect(node["type"] != nil || preserves, "\(path) has no type")
                #expect(node["additionalProperties"] != false, "\(path) uses additionalProperties: false")
                #expect(!(node["properties"] != nil && node["additionalProperties"] != nil), "\(path) mixes properties and additionalProperties")
                #expect(node["uniqueItems"] == nil, "\(path) uses uniqueItems")
                #expect(node["$ref"] == nil, "\(path) uses $ref")
                if let keys = node["x-kubernetes-list-map-keys"]?.arrayValue {
                    let items = node["items"]?.objectValue ?? [:]
                    for key in keys.compactMap(\.stringValue) {
                        let member = items["properties"]?[key]
                        let isScalar = ["string", "integer"].contains(member?["type"]?.stringValue ?? "")
                        let required = items["required"]?.arrayValue?.contains(.string(key)) ?? false
                        #expect(isScalar && (required || member?["default"] != nil), "\(path): list-map key \(key) must be a required scalar")
                    }
                }
            }
        }
        #expect(freeForm == allowedFreeForm)
    }
}
