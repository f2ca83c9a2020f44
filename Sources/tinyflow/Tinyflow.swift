import ArgumentParser
import Logging
import ModuleHostApp

/// The `tinyflow` command: argument parsing and wiring only; everything it
/// runs lives in the libraries.
@main
struct Tinyflow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tinyflow",
        abstract: "Flow-based programming on Kubernetes.",
        subcommands: [
            RunCommand.self, CRDsCommand.self, ControlPlaneCommand.self, ModuleHostCommand.self, OperatorCommand.self,
        ])

    /// Installs the process-wide log handler once, before any command runs.
    static func bootstrapLogging(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

