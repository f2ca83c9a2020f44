import Observability
import ArgumentParser
public import ComponentKit
import Foundation
import Logging

/// The entry point of a module's executable: a component author's whole
/// `main.swift` is
///
/// ```swift
/// import ModuleHostApp
/// await ModuleHost.main(module: "weather", components: [Forecast.self, Alerts.self])
/// ```
///
/// It parses the module-host flags (`--listen`, `--health-address`,
/// `--tls-cert/--tls-key/--tls-ca`, `--log-level`), serves the components
/// until SIGTERM/SIGINT and exits with a non-zero status on failure.
public enum ModuleHost {
    /// Runs the module host process for `components` as module `module`.
    public static func main(
        module: String, version: String = "0.1.0", components: [any Component.Type],
        arguments: [String] = Array(CommandLine.arguments.dropFirst())
    ) async {
        do {
            let options = try ModuleHostOptions.parse(arguments)
            Observability.bootstrap(logLevel: options.logLevel)
            let definition = ModuleDefinition(name: module, version: version, components: components)
            try await ModuleHostProcess.run(definition, options: options, logger: Logger(label: "tinyflow.module.\(module)"))
        } catch {
            ModuleHostOptions.exit(withError: error)
        }
    }
}
