import CRDModels
import Foundation
import Manifests
import Testing
import TestSupport

@Suite("Example flows")
struct ExampleManifestTests {
    static let examples = ["hello-flow.yaml", "http-echo.yaml", "two-modules.yaml", "error-port.yaml", "counter-flow.yaml"]

    @Test("every example reads as TinyNodes whose edges lead to nodes of the same file", arguments: examples)
    func exampleIsAConnectedFlow(file: String) throws {
        let manifest = try FlowManifest(contentsOf: repositoryRoot.appendingPathComponent("examples/\(file)").path)
        let names = Set(manifest.nodes.compactMap(\.metadata.name))
        #expect(names.count == manifest.nodes.count)
        #expect(names.count >= 3)
        for node in manifest.nodes {
            for edge in node.spec.edges {
                let target = try #require(edge.target, "\(node.metadata.name ?? "?"): edge \(edge.id)")
                #expect(names.contains(target.node), "\(edge.id) -> \(edge.to)")
            }
        }
    }

    @Test("hello-flow puts a transform between the ticker and the debug node")
    func helloFlowHasATransform() throws {
        let manifest = try FlowManifest(contentsOf: repositoryRoot.appendingPathComponent("examples/hello-flow.yaml").path)
        #expect(manifest.nodes.map(\.spec.component) == ["ticker", "transform", "debug"])
        #expect(manifest.nodes[1].spec.configuration(of: "_settings")?["template"] != nil)
        #expect(manifest.flows.map(\.metadata.name) == ["hello"], "a TinyFlow, so that its revisions are recorded")
    }

    @Test("two-modules spans the common module and the second module of examples/modules.yaml")
    func twoModulesSpansTwoModules() throws {
        let manifest = try FlowManifest(contentsOf: repositoryRoot.appendingPathComponent("examples/two-modules.yaml").path)
        #expect(Set(manifest.nodes.map(\.spec.module)) == ["common", "second"])
    }

    @Test("error-port wires the transform's error port to a debug node")
    func errorPortIsWired() throws {
        let manifest = try FlowManifest(contentsOf: repositoryRoot.appendingPathComponent("examples/error-port.yaml").path)
        let edges = manifest.nodes.flatMap(\.spec.edges)
        let errorEdge = try #require(edges.first { $0.port == "error" })
        let target = try #require(manifest.nodes.first { $0.metadata.name == errorEdge.target?.node })
        #expect(target.spec.component == "debug")
    }
}
