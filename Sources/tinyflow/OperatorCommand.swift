import BearerTokens
import ArgumentParser
import Foundation
import KubernetesClient
import Logging
import GRPCTransport
import ModuleHostApp
import Operator

/// `tinyflow operator`: runs the Tinyflow operator against a cluster.
struct OperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Run the operator: schedule TinyNodes onto module hosts, keep TinyFlow history, deliver TinySignals.")

    @Option(help: "A kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster service account).")
    var kubeconfig: String?

    @Option(help: "A namespace to watch (repeatable); none watches all namespaces.")
    var namespace: [String] = []

    @Option(help: "Reconcile only while holding the lease (true|false).")
    var leaderElection: Bool = true

    @Option(help: "The leader-election Lease's name.")
    var leaseName: String = "tinyflow-operator"

    @Option(help: "The Lease's namespace (default: POD_NAMESPACE, else default).")
    var leaseNamespace: String?

    @Option(help: "Where to serve /metrics, /healthz and /readyz (host:port).")
    var metricsAddress: String = "0.0.0.0:8080"

    @Option(help: ArgumentHelp(
        "Where to serve the debug endpoint, debug nodes' recent messages (host:port; empty: not served).",
        discussion: "Reach it through the API server's service proxy, so that Kubernetes RBAC (services/proxy) decides who may read them; see docs/operator.md."))
    var debugAddress: String = ""

    @OptionGroup(title: "Mutual TLS with module hosts")
    var tls: MutualTLSOptions

    @Option(help: "A file with the bearer token module hosts require (default: $TINYFLOW_MODULE_TOKEN_FILE).")
    var moduleTokenFile: String?

    @Flag(help: "Print the RBAC rules the operator needs as JSON and exit.")
    var printRbac = false

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        if !debugAddress.isEmpty, OperatorConfiguration.hostAndPort(debugAddress) == nil {
            throw ValidationError("--debug-address \(debugAddress): expected HOST:PORT, e.g. 0.0.0.0:8081")
        }
    }

    func run() async throws {
        if printRbac {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(OperatorPermissions.rules)
            FileHandle.standardOutput.write(data + Data("\n".utf8))
            return
        }
        let registry = Tinyflow.bootstrapObservability(level: logLevel)
        StopWithParent.watchIfRequested()
        let logger = Logger(label: "tinyflow.operator")
        let environment = ProcessInfo.processInfo.environment
        let clientConfiguration: ClientConfiguration
        if let kubeconfig {
            clientConfiguration = try ClientConfiguration(kubeconfig: try KubeConfig.read(file: kubeconfig))
        } else {
            clientConfiguration = try ClientConfiguration.infer()
        }
        let configuration = OperatorConfiguration(
            namespaces: namespace.isEmpty ? nil : namespace, leaderElection: leaderElection, leaseName: leaseName,
            leaseNamespace: leaseNamespace ?? environment["POD_NAMESPACE"] ?? clientConfiguration.namespace,
            identity: environment["POD_NAME"] ?? ProcessInfo.processInfo.hostName,
            metricsAddress: metricsAddress.isEmpty ? nil : metricsAddress,
            debugAddress: debugAddress.isEmpty ? nil : debugAddress)
        let tokenFile = moduleTokenFile ?? environment["TINYFLOW_MODULE_TOKEN_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let token = try tokenFile.map(BearerTokenFile.read)
        try await OperatorProcess.run(
            clientConfiguration: clientConfiguration, configuration: configuration,
            hosts: GRPCModuleHostConnector(tls: tls.configuration, token: token), registry: registry, logger: logger)
    }
}
