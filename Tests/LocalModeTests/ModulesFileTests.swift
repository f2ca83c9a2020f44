import Foundation
import LocalMode
import Testing
import TestSupport

@Suite("Modules file")
struct ModulesFileTests {
    @Test("lists each module's name and command")
    func parsesModules() throws {
        let modules = try ModulesFile.parse("""
            modules:
              - name: second
                command: [tinyflow, module-host, --module, common]
              - name: weather
                command: ["./bin/weather-module", "--log-level", "debug"]
            """)
        #expect(modules == [
            ModuleProcess(name: "second", command: ["tinyflow", "module-host", "--module", "common"]),
            ModuleProcess(name: "weather", command: ["./bin/weather-module", "--log-level", "debug"]),
        ])
    }

    @Test("rejects a module listed twice or without a command, naming the file")
    func rejectsInvalidModules() {
        let duplicate = #expect(throws: ModulesFileError.self) {
            try ModulesFile.parse("modules:\n  - {name: a, command: [x]}\n  - {name: a, command: [y]}\n", source: "m.yaml")
        }
        #expect(duplicate?.description.contains("m.yaml") == true)
        #expect(duplicate?.description.contains("twice") == true)
        #expect(throws: ModulesFileError.self) { try ModulesFile.parse("modules:\n  - {name: a, command: []}\n") }
        #expect(throws: ModulesFileError.self) { try ModulesFile.parse("nothing: here\n") }
    }

    @Test("the examples' modules file declares a second host of the standard components")
    func exampleModulesFile() throws {
        let path = repositoryRoot.appendingPathComponent("examples/modules.yaml").path
        let modules = try ModulesFile.read(path: path)
        #expect(modules.map(\.name) == ["second"])
        #expect(modules.first?.command.prefix(2) == ["tinyflow", "module-host"])
    }
}
