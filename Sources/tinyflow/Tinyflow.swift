import ArgumentParser
import Foundation
import Logging
import ModuleHostApp
import Observability
import Prometheus

/// The `tinyflow` command: argument parsing and wiring only; everything it
/// runs lives in the libraries.
@main
struct Tinyflow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tinyflow",
        abstract: "Flow-based programming on Kubernetes.",
        subcommands: [
            RunCommand.self, CRDsCommand.self, ControlPlaneCommand.self, ModuleHostCommand.self,
            UpCommand.self, StatusCommand.self, LogsCommand.self, OperatorCommand.self, FlowCommand.self, ContextCommand.self,
            DLQCommand.self, ConsoleCommand.self,
        ])

    /// The path of this executable (for starting `module-host` and `operator` children).
    static var executablePath: String {
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return resolved }
        let argument = CommandLine.arguments.first ?? "tinyflow"
        return URL(fileURLWithPath: argument).standardizedFileURL.path
    }

    /// The kubeconfig file a command uses: `given`, else that of a `tinyflow up` in this
    /// directory when there is one; nil means KUBECONFIG or ~/.kube/config.
    static func kubeconfigFile(_ given: String?) -> String? {
        let local = ".tinyflow/kubeconfig"
        return given ?? (FileManager.default.fileExists(atPath: local) ? local : nil)
    }

    /// Installs the process-wide log handler and metrics factory once, before
    /// any command runs; returns the registry `/metrics` serves.
    @discardableResult
    static func bootstrapObservability(level: Logger.Level) -> PrometheusCollectorRegistry {
        Observability.bootstrap(logLevel: level)
    }
}

