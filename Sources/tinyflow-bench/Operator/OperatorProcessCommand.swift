import ArgumentParser
import KubernetesClient
import Logging
import Operator

/// `tinyflow-bench operator-process`: the operator that `tinyflow-bench operator`
/// starts as its own child process, so that its resident memory is measured alone.
/// The same code path as `tinyflow operator` (``OperatorProcess``), without leader election.
struct OperatorProcessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator-process",
        abstract: "Run the operator for `tinyflow-bench operator` (started by it).",
        shouldDisplay: false)

    @Option(help: "The kubeconfig of the control plane under test.")
    var kubeconfig: String

    @Option(help: "The namespace to watch.")
    var namespace = "default"

    func run() async throws {
        var logger = Logger(label: "tinyflow.bench.operator")
        logger.logLevel = .warning
        let clientConfiguration = try ClientConfiguration(kubeconfig: try KubeConfig.read(file: kubeconfig))
        let configuration = OperatorConfiguration(
            namespaces: [namespace], leaderElection: false, leaseNamespace: namespace, identity: "tinyflow-bench")
        try await OperatorProcess.run(clientConfiguration: clientConfiguration, configuration: configuration, logger: logger)
    }
}
