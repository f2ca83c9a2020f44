import Foundation
import JSONSchemaKit
import Testing
import YAMLValues

/// How far YAML may expand: anchors and aliases people use to avoid repeating themselves
/// work; a text that expands far beyond its length is refused before it is built.
@Suite("YAML alias expansion")
struct YAMLExpansionTests {
    @Test("an alias used a few times is expanded like the text it stands for")
    func modestAliases() throws {
        let text = """
            defaults: &defaults {retries: 3, timeout: 10}
            first: *defaults
            second: *defaults
            """
        let document = try #require(try YAMLDocuments.parseDocument(text))
        #expect(document["first"] == ["retries": 3, "timeout": 10])
        #expect(document["second"] == document["defaults"])
    }

    @Test("a billion laughs is refused with a clear error, in far less than a second")
    func billionLaughs() throws {
        var lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in 1...9 {
            lines.append("a\(level): &a\(level) [\(Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", "))]")
        }
        let start = ContinuousClock.now
        #expect {
            _ = try YAMLDocuments.parse(lines.joined(separator: "\n"), source: "bomb.yaml")
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("bomb.yaml#1:") && message.contains("YAML aliases expanding too far")
        }
        #expect(start.duration(to: .now) < .seconds(1))
    }

    @Test("no text without aliases reaches the limit: every value takes a byte, or none after a key or entry marker")
    func denseTextsFit() throws {
        let emptyEntries = String(repeating: "- \n", count: 1000)
        #expect(try YAMLDocuments.parse(emptyEntries).first?.arrayValue?.count == 1000)
        let nullValues = "{" + (0..<500).map { "k\($0)" }.joined(separator: ",") + "}"
        #expect(try YAMLDocuments.parse(nullValues).first?.objectValue?.count == 500)
        let tiny = "[" + String(repeating: "1,", count: 999) + "1]"
        #expect(try YAMLDocuments.parse(tiny).first?.arrayValue?.count == 1000)
    }

    @Test("nesting deeper than 1,000 levels is refused, not a stack overflow")
    func deepNesting() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: YAMLError.self) { try YAMLDocuments.parse(deep) }
    }
}

@Suite("YAML syntax errors")
struct YAMLSyntaxErrorTests {
    @Test("a syntax error in a later document fails the whole text instead of shortening it")
    func laterDocumentError() {
        let text = "a: 1\n---\nb: [unclosed\n"
        #expect {
            _ = try YAMLDocuments.parse(text, source: "two.yaml")
        } throws: { error in
            "\(error)".hasPrefix("two.yaml: invalid YAML")
        }
    }
}
