import JSONSchemaKit
import Testing
import YAMLValues

/// What `YAMLDocuments.render` writes reads back as the same value (found by the FuzzYAML
/// fuzz target; its input is in Fuzz/Corpus/FuzzYAML/regression-infinity-renders-as-string).
@Suite("YAML rendering round trip")
struct YAMLRenderingTests {
    @Test("non-finite floats render as .inf, -.inf and .nan, which read back as floats, not strings")
    func nonFiniteFloats() throws {
        let document = try #require(try YAMLDocuments.parseDocument("up: .inf\ndown: -.Inf\nodd: .NaN\n"))
        let rendered = YAMLDocuments.render(document)
        #expect(rendered == "down: -.inf\nodd: .nan\nup: .inf\n")
        let reread = try #require(try YAMLDocuments.parseDocument(rendered))
        #expect(reread["up"] == .number(.infinity))
        #expect(reread["down"] == .number(-.infinity))
        guard case .number(let odd) = reread["odd"] else {
            Issue.record("expected .nan to read back as a number, got \(String(describing: reread["odd"]))")
            return
        }
        #expect(odd.isNaN)
    }

    @Test("finite floats and integers keep their type through a render", arguments: [
        "f: 1500.0\n", "f: 1.0e-05\n", "f: -0.5\n", "i: 12\n", "s: \"1.5\"\n", "s: \"inf\"\n",
    ])
    func finiteScalars(text: String) throws {
        let document = try #require(try YAMLDocuments.parseDocument(text))
        #expect(try YAMLDocuments.parseDocument(YAMLDocuments.render(document)) == document)
    }
}
