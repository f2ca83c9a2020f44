import ArgumentParser
import BearerTokens
import Console
import Foundation
import KubernetesClient
import Logging
import ServiceLifecycle
import UnixSignals

/// `tinyflow console`: the web console against any API server, with the user's kubeconfig.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console", abstract: "Serve the web console: see and edit flows in the browser.",
        discussion: """
            Serves the console on 127.0.0.1 and prints its URL with a login token \
            (`console: http://127.0.0.1:PORT/#token=…`). Everything it does goes through the \
            Kubernetes API with the given kubeconfig's credentials; debug messages come from the \
            operator through the API server's service proxy (--operator-service). See docs/console.md.
            """)

    @Option(help: "A kubeconfig file (default: .tinyflow/kubeconfig of `tinyflow up` if present, else KUBECONFIG or ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context (default: its current context).")
    var context: String?

    @Option(name: .shortAndLong, help: "The namespace of the flows (default: the context's namespace, else default).")
    var namespace: String?

    @Option(help: "Port on 127.0.0.1 (0 picks a free one).")
    var port: Int = 0

    @Option(help: ArgumentHelp(
        "The operator's debug endpoint, reached through the API server's service proxy.", valueName: "NAMESPACE/NAME:PORT"))
    var operatorService: String = OperatorServiceReference.standard.description

    @Option(help: "Log level (stderr).")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port: expected 0 to 65535, got \(port)") }
        do {
            _ = try OperatorServiceReference(parsing: operatorService)
        } catch {
            throw ValidationError("--operator-service: \(error)")
        }
    }

    func run() async throws {
        Tinyflow.bootstrapObservability(level: logLevel)
        let logger = Logger(label: "tinyflow.console")
        let files = Tinyflow.kubeconfigFile(kubeconfig).map { [$0] } ?? ClientConfiguration.kubeconfigFiles()
        let kubeconfigFile = try KubeConfig.read(files: files)
        guard !kubeconfigFile.files.isEmpty else { throw ValidationError("no kubeconfig found at \(files.joined(separator: ", "))") }
        let clientConfiguration = try ClientConfiguration(kubeconfig: kubeconfigFile, context: context)
        let contextName = context ?? kubeconfigFile.currentContext
        let user = contextName.flatMap { kubeconfigFile.contexts[$0]?.user }
        let token = BearerToken.random()
        let operatorService = try OperatorServiceReference(parsing: operatorService)
        try await KubernetesClient.withClient(configuration: clientConfiguration, logger: logger) { client in
            let author = await ConsoleIdentity.author(client: client, fallback: user)
            let api = FlowsAPI(
                client: client, namespace: namespace ?? clientConfiguration.namespace, author: author, operatorService: operatorService)
            let server = ConsoleServer(api: api, configuration: .init(port: port, token: token), logger: logger) { port in
                // A line at a time, also into a pipe or file: whoever started it is waiting for the URL.
                FileHandle.standardOutput.write(Data("console: \(ConsoleServer.url(port: port, token: token))\n".utf8))
            }
            let group = ServiceGroup(configuration: .init(
                services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }
    }
}
