import ArgumentParser
import CommonComponents
import ComponentKit
import Logging
import ModuleHostApp

/// `tinyflow module-host`: hosts a built-in module (the standard components).
struct ModuleHostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "module-host",
        abstract: "Host a built-in module's nodes: gRPC for messages and the operator's control calls.")

    @Option(help: "The built-in module to host (common).")
    var module: String = "common"

    @OptionGroup var options: ModuleHostOptions

    func validate() throws {
        guard module == CommonModule.definition.name else {
            throw ValidationError("--module: no built-in module \"\(module)\" (built-in: common); build your own module with ModuleHost.main")
        }
    }

    func run() async throws {
        Tinyflow.bootstrapObservability(level: options.logLevel)
        try await ModuleHostProcess.run(
            CommonModule.definition, options: options, logger: Logger(label: "tinyflow.module.\(module)"))
    }
}
