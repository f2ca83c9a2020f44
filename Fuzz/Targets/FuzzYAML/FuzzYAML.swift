import FuzzSupport
import JSONSchemaKit
import Manifests
import YAMLValues

/// Fuzzes YAML reading: `YAMLDocuments.parse` (manifests, kubeconfigs, modules files and the
/// control plane's YAML request bodies all go through it) and `FlowManifest(yaml:)` (what
/// `tinyflow run` and `tinyflow up -f` read). Any text either reads or throws a
/// `YAMLError`; the values it reads stay within the expansion budget (no alias bomb gets
/// through), and each document renders back (`YAMLDocuments.render`) to YAML that reads
/// as the same value.
@main
enum FuzzYAML {
    static func main() {
        FuzzDriver.main("FuzzYAML", test)
    }

    static func test(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        if let documents = try? YAMLDocuments.parse(text, source: "fuzz") {
            var values = 0
            for document in documents { values += count(document) }
            precondition(
                values <= YAMLDocuments.maximumValues(forLength: text.utf8.count),
                "\(values) values from \(text.utf8.count) bytes: over the expansion budget")
            for document in documents where !containsNaN(document) {
                let rendered = YAMLDocuments.render(document)
                do {
                    let reread = try YAMLDocuments.parseDocument(rendered, source: "rendered")
                    precondition(reread == document, "render round trip changed \(document.jsonString) to \(reread?.jsonString ?? "nothing"):\n\(rendered)")
                } catch {
                    preconditionFailure("rendered YAML does not read back: \(error)\n\(rendered)")
                }
            }
        }
        _ = try? FlowManifest(yaml: text, source: "fuzz")
    }

    static func count(_ value: JSONValue) -> Int {
        switch value {
        case .array(let elements): return 1 + elements.reduce(0) { $0 + count($1) }
        case .object(let members): return 1 + members.values.reduce(0) { $0 + count($1) }
        default: return 1
        }
    }

    static func containsNaN(_ value: JSONValue) -> Bool {
        switch value {
        case .number(let number): return number.isNaN
        case .array(let elements): return elements.contains(where: containsNaN)
        case .object(let members): return members.values.contains(where: containsNaN)
        default: return false
        }
    }
}
