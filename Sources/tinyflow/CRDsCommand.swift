import ArgumentParser
import CRDModels
import Foundation
import Manifests
import YAMLValues

/// `tinyflow crds`: writes the CustomResourceDefinitions generated from the API types.
struct CRDsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crds",
        abstract: "Write the Tinyflow CRDs, generated from the Swift API types, as YAML files.")

    @Option(name: .shortAndLong, help: "Directory to write <group>_<plural>.yaml files into.")
    var output: String = "crds"

    @Flag(help: "Exit non-zero if the files on disk differ from the generated ones; write nothing.")
    var check = false

    func run() throws {
        let directory = URL(fileURLWithPath: output, isDirectory: true)
        if !check {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        var stale: [String] = []
        for crd in allCustomResourceDefinitions {
            let file = directory.appendingPathComponent("\(crd.spec.group)_\(crd.spec.names.plural).yaml")
            let yaml = "---\n" + YAMLDocuments.render(try JSONValue(encoding: crd))
            if check {
                let current = FileManager.default.contents(atPath: file.path).map { String(decoding: $0, as: UTF8.self) }
                if current != yaml { stale.append(file.path) }
            } else {
                try Data(yaml.utf8).write(to: file, options: .atomic)
                print("wrote \(file.path)")
            }
        }
        if !stale.isEmpty {
            throw ValidationError("generated CRDs differ from \(stale.joined(separator: ", ")); run `make crds` and commit")
        }
    }
}
