import ArgumentParser
import ComponentKit
import ContextStores
import Foundation
import LocalMode
import ModuleHostApp
import Logging
import ServiceLifecycle
import UnixSignals

/// `tinyflow up`: the whole system on one machine, no cluster.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run Tinyflow locally: control plane, module hosts and operator; apply flows; show progress.",
        discussion: """
            Starts the embedded control plane (state in --data, kubeconfig at <data>/kubeconfig), \
            the built-in `common` module host and any modules listed in --modules as child processes, \
            the operator and the console (its URL is printed as `console: http://127.0.0.1:PORT/#token=…`); \
            applies the -f manifests, then prints progress and debug-node output until Ctrl-C. Starting again with the same --data restores the flows.
            """)

    @Option(
        name: [.customShort("f"), .customLong("file")],
        help: ArgumentHelp("A manifest to apply (TinyNodes, TinyFlows); repeatable.", valueName: "flow.yaml"))
    var file: [String] = []

    @Option(help: "Directory for state, the kubeconfig and child logs.")
    var data: String = ".tinyflow"

    @Option(help: "Port of the control plane on 127.0.0.1 (0 picks a free one).")
    var port: Int = 0

    @Option(help: ArgumentHelp("A YAML file listing extra modules: `modules: [{name, command: [...]}]`.", valueName: "modules.yaml"))
    var modules: String?

    @Option(help: "Namespace for modules and flows.")
    var namespace: String = "default"

    @Option(help: "Log level of tinyflow up itself (stderr).")
    var logLevel: Logger.Level = .warning

    @Option(help: "Context store of the module hosts: memory, sqlite:PATH or postgres://… (default: $TINYFLOW_CONTEXT_STORE, else sqlite:<data>/context.db).")
    var contextStore: String?

    @Flag(help: "Do not serve the console.")
    var noConsole = false

    @Option(help: "Port of the console on 127.0.0.1 (0 picks a free one).")
    var consolePort: Int = 0

    @OptionGroup(title: "Control-plane limits")
    var controlPlaneLimits: ControlPlaneLimitOptions

    @Option(help: ArgumentHelp("Rotate a child's log in <data>/logs when it reaches this size.", valueName: "MiB"))
    var logMaxMib: Int = 10

    @Option(help: ArgumentHelp("How many rotated files of each child's log to keep (NAME.log.1 …).", valueName: "count"))
    var logKeep: Int = 3

    func validate() throws {
        guard logMaxMib >= 1, logMaxMib <= 1 << 20 else { throw ValidationError("--log-max-mib: expected 1 or more MiB, got \(logMaxMib)") }
        guard (0...65535).contains(consolePort) else { throw ValidationError("--console-port: expected 0 to 65535, got \(consolePort)") }
        guard logKeep >= 0, logKeep <= 1000 else { throw ValidationError("--log-keep: expected 0 to 1000 files, got \(logKeep)") }
        if let contextStore {
            do {
                _ = try ContextStoreLocation(parsing: contextStore)
            } catch {
                throw ValidationError("--context-store: \(error)")
            }
        }
    }

    func run() async throws {
        Tinyflow.bootstrapObservability(level: logLevel)
        let logger = Logger(label: "tinyflow.up")
        var options = LocalModeOptions(dataDirectory: URL(fileURLWithPath: data), executable: Tinyflow.executablePath)
        options.port = port
        options.flowFiles = file
        options.namespace = namespace
        options.controlPlaneLimits = controlPlaneLimits.limits
        options.logLimit = LogFileLimit(maxBytes: logMaxMib << 20, rotatedFiles: logKeep)
        // Like module hosts, the variable keeps a URL with a password out of process listings.
        options.console = !noConsole
        options.consolePort = consolePort
        options.contextStore = contextStore ?? ProcessInfo.processInfo.environment["TINYFLOW_CONTEXT_STORE"]
        if let modules { options.modules = try ModulesFile.read(path: modules) }
        let service = LocalModeService(options: options, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// `tinyflow status`: nodes and modules of a running `tinyflow up`.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the nodes and modules of a running `tinyflow up`.")

    @Option(help: "The data directory `tinyflow up` runs with.")
    var data: String = ".tinyflow"

    func run() async throws {
        Tinyflow.bootstrapObservability(level: .warning)
        let text = try await LocalInspection.withClient(dataDirectory: URL(fileURLWithPath: data)) { client in
            try await LocalInspection.status(client: client)
        }
        print(text, terminator: "")
    }
}

/// `tinyflow logs NODE`: a debug node's recent messages.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print a debug node's recent messages (from its module host).")

    @Argument(help: "The debug node.")
    var node: String

    @Option(help: "The data directory `tinyflow up` runs with.")
    var data: String = ".tinyflow"

    @Flag(name: .shortAndLong, help: "Keep printing new messages.")
    var follow: Bool = false

    func run() async throws {
        Tinyflow.bootstrapObservability(level: .warning)
        let node = node
        let follow = follow
        let token = try LocalInspection.moduleToken(dataDirectory: URL(fileURLWithPath: data))
        try await LocalInspection.withClient(dataDirectory: URL(fileURLWithPath: data)) { client in
            var tracker = DebugOutputTracker()
            repeat {
                for message in tracker.newMessages(try await LocalInspection.recentMessages(node: node, client: client, token: token), node: node) {
                    print(LocalInspection.format(message, node: node))
                }
                if follow { try await Task.sleep(for: .milliseconds(500)) }
            } while follow
        }
    }
}
