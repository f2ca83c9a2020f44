import BearerTokens
import CRDModels
import ComponentKit
import Console
import ControlPlane
import Foundation
import GRPCTransport
import KubernetesClient
import KubernetesModels
import Logging
import Manifests
import ServiceLifecycle

/// The field manager `tinyflow up` applies everything with.
public let localModeFieldManager = "tinyflow-up"

/// Where `tinyflow up` writes what the user should see (stdout by default).
public struct Console: Sendable {
    private let write: @Sendable (String) -> Void

    /// A console that hands every line to `write`.
    public init(write: @escaping @Sendable (String) -> Void) { self.write = write }

    /// Lines go to standard output, unbuffered. A closed standard output (the reader
    /// went away) loses the lines but never stops `tinyflow up` or its shutdown.
    public static let standardOutput = Console { line in
        try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Prints one line.
    public func print(_ line: String) { write(line) }
}

/// `tinyflow up` as a `Service`: the embedded control plane in-process, the CRDs,
/// one supervised module-host child per module (with its `TinyModule`), the supervised
/// operator child, the user's manifests, and progress on the console — until graceful
/// shutdown, when the children are stopped (SIGTERM, then SIGKILL) and the control plane closes.
public struct LocalModeService: Service {
    let options: LocalModeOptions
    let console: Console
    let logger: Logger

    /// A service running `options`, reporting on `console`.
    public init(options: LocalModeOptions, console: Console = .standardOutput, logger: Logger = Logger(label: "tinyflow.up")) {
        self.options = options
        self.console = console
        self.logger = logger
    }

    /// Runs until graceful shutdown (SIGINT/SIGTERM in a `ServiceGroup`).
    ///
    /// The work runs in a detached task so that graceful shutdown does not reach the
    /// embedded control plane's own HTTP service directly: the children are stopped first,
    /// while the API is still served, and the control plane closes last.
    public func run() async throws {
        let (stops, stop) = AsyncStream<Void>.makeStream()
        let work = Task.detached { [self] in
            try await run(until: {
                var iterator = stops.makeAsyncIterator()
                _ = await iterator.next()
            })
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await work.value }
            group.addTask {
                try? await gracefulShutdown()
                stop.finish()
            }
            defer { stop.finish() }
            _ = try await group.next()
            stop.finish()
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    /// Runs until `stopSignal` returns, then stops the children and the control plane.
    public func run(until stopSignal: @escaping @Sendable () async -> Void) async throws {
        let manifests = try options.flowFiles.map { try FlowManifest(contentsOf: $0) }
        // The kubeconfig (a token), context.db (node context) and the logs (message payloads)
        // are the user's only, whatever was there before.
        for directory in [options.dataDirectory, options.dataDirectory.appendingPathComponent("logs")] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
        }
        var configuration = ControlPlaneConfiguration(
            dataDirectory: options.dataDirectory.appendingPathComponent("control-plane"), logger: logger)
        configuration.port = options.port
        configuration.tls = true
        configuration.kubeconfigPath = options.kubeconfigPath
        configuration.durability = .processCrash
        configuration.limits = options.controlPlaneLimits
        try await EmbeddedControlPlane.withRunning(configuration: configuration) { plane in
            console.print("control plane ready at \(plane.baseURL.absoluteString)")
            console.print("kubeconfig: \(options.kubeconfigPath)  (kubectl --kubeconfig \(options.kubeconfigPath) get tinynodes)")
            let clientConfiguration = try ClientConfiguration(kubeconfig: try KubeConfig.read(file: options.kubeconfigPath))
            try await KubernetesClient.withClient(configuration: clientConfiguration, logger: logger) { client in
                try await runWithClient(client, manifests: manifests, until: stopSignal)
                // A cancelled watch keeps its connection until the server ends it; end it now
                // so closing the client does not wait for it.
                await plane.faults.closeWatches()
            }
            logger.debug("API client closed")
        }
    }

    private func runWithClient(
        _ client: KubernetesClient, manifests: [FlowManifest], until stopSignal: @escaping @Sendable () async -> Void
    ) async throws {
        let crds = client.api(CustomResourceDefinition.self)
        for crd in allCustomResourceDefinitions {
            _ = try await crds.apply(crd, fieldManager: localModeFieldManager)
        }
        await RestartReadiness.reset(client: client, namespace: options.namespace, logger: logger)
        let supervisor = ProcessSupervisor(policy: options.policy, logger: logger) { [console] event in
            switch event {
            case .started: break
            case .exited(let name, let status, let signaled, let restartIn):
                console.print("\(name) \(signaled ? "killed by signal" : "exited with status") \(status); restarting in \(restartIn)")
            case .failedToStart(let name, let error, let restartIn):
                console.print("\(name) could not start (\(error)); retrying in \(restartIn)")
            }
        }
        do {
            try await startChildrenAndReport(client, supervisor: supervisor, manifests: manifests, until: stopSignal)
        } catch {
            await supervisor.shutdown()
            throw error
        }
        console.print("shutting down")
        await supervisor.shutdown()
        logger.debug("children stopped")
    }

    private func startChildrenAndReport(
        _ client: KubernetesClient, supervisor: ProcessSupervisor, manifests: [FlowManifest],
        until stopSignal: @escaping @Sendable () async -> Void
    ) async throws {
        let logs = options.dataDirectory.appendingPathComponent("logs")
        // Module hosts listen on loopback, where any local user could call them: they serve
        // only callers with this run's token.
        let token = try BearerTokenFile.create(at: options.moduleTokenPath)
        let childEnvironment = [
            "TINYFLOW_CONTEXT_STORE": options.contextStoreLocation, "POD_NAMESPACE": options.namespace,
            "TINYFLOW_MODULE_TOKEN_FILE": options.moduleTokenPath,
            // The hosts read the Secrets and ConfigMaps their nodes refer to from the control plane.
            "KUBECONFIG": options.kubeconfigPath,
        ]
        var addresses: [String: String] = [:]
        let modules = [ModuleProcess.common] + options.modules.filter { $0.name != ModuleProcess.common.name }
        let moduleApi = client.api(TinyModule.self, namespace: options.namespace)
        for module in modules {
            guard let first = module.command.first else { continue }
            let address = "127.0.0.1:\(try freeLocalPort())"
            addresses[module.name] = address
            await supervisor.start(ChildSpec(
                name: "module \(module.name)",
                executable: resolveExecutable(first, tinyflowExecutable: options.executable),
                arguments: Array(module.command.dropFirst()) + ["--listen", address, "--health-address", "none"],
                logFile: logs.appendingPathComponent("module-\(module.name).log").path, logLimit: options.logLimit,
                environment: childEnvironment))
            let resource = TinyModule(
                metadata: ObjectMeta(name: module.name, namespace: options.namespace, labels: ["tinyflow.dev/managed-by": localModeFieldManager]),
                spec: TinyModuleSpec(image: "local", address: address))
            _ = try await moduleApi.apply(resource, fieldManager: localModeFieldManager)
            console.print("module \(module.name): host starting at \(address)")
        }
        let debugPort = try freeLocalPort()
        await supervisor.start(ChildSpec(
            name: "operator", executable: options.executable,
            arguments: ["operator", "--kubeconfig", options.kubeconfigPath, "--leader-election=false",
                        "--metrics-address", "127.0.0.1:\(try freeLocalPort())", "--namespace", options.namespace,
                        "--debug-address", "127.0.0.1:\(debugPort)"],
            logFile: logs.appendingPathComponent("operator.log").path, logLimit: options.logLimit,
            environment: ["TINYFLOW_MODULE_TOKEN_FILE": options.moduleTokenPath]))
        try await OperatorDebugService.publish(port: debugPort, client: client)
        console.print("operator started (debug endpoint: service \(OperatorDebugService.namespace)/\(OperatorDebugService.name):\(OperatorDebugService.portName))")
        try await applyManifests(manifests, client: client)

        let hostAddresses = addresses
        let progress = ProgressReporter(
            client: client, namespace: options.namespace, console: console, interval: options.pollInterval, moduleToken: token)
        // The console stops gracefully (its open event streams end) before the rest is cancelled.
        let consoleGroup = options.console
            ? ServiceGroup(configuration: .init(services: [try await makeConsole(client: client)], logger: logger)) : nil
        await withTaskGroup(of: Void.self) { outer in
            if let consoleGroup {
                outer.addTask { [console, logger] in
                    do {
                        try await consoleGroup.run()
                    } catch {
                        console.print("console stopped: \(error)")
                        logger.error("console failed", metadata: ["error": "\(error)"])
                    }
                }
            }
            // The reports end at the stop signal; the console is asked to stop then, and the
            // outer group waits until it has (not cancelled in the middle of its shutdown).
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await progress.watchNodes() }
                group.addTask { await progress.watchModules() }
                group.addTask { await progress.streamDebugOutput(addresses: hostAddresses) }
                await stopSignal()
                group.cancelAll()
            }
            await consoleGroup?.triggerGracefulShutdown()
        }
    }

    /// The console of this run (docs/console.md): served to the holder of a new token,
    /// with the local control plane's client; prints its URL once it listens.
    private func makeConsole(client: KubernetesClient) async throws -> ConsoleServer {
        let author = await ConsoleIdentity.author(client: client, fallback: ProcessInfo.processInfo.userName)
        let api = FlowsAPI(client: client, namespace: options.namespace, author: author, operatorService: .standard)
        let configuration = ConsoleServer.Configuration(port: options.consolePort, token: BearerToken.random())
        return ConsoleServer(api: api, configuration: configuration, logger: logger) { [console] port in
            console.print("console: \(ConsoleServer.url(port: port, token: configuration.token))")
        }
    }

    private func applyManifests(_ manifests: [FlowManifest], client: KubernetesClient) async throws {
        let nodes = client.api(TinyNode.self, namespace: options.namespace)
        let flows = client.api(TinyFlow.self, namespace: options.namespace)
        let modules = client.api(TinyModule.self, namespace: options.namespace)
        var count = 0
        for manifest in manifests {
            for module in manifest.modules { _ = try await modules.apply(module, fieldManager: localModeFieldManager); count += 1 }
            for flow in manifest.flows { _ = try await flows.apply(flow, fieldManager: localModeFieldManager); count += 1 }
            for node in manifest.nodes { _ = try await nodes.apply(node, fieldManager: localModeFieldManager); count += 1 }
        }
        if !manifests.isEmpty { console.print("applied \(count) objects from \(options.flowFiles.joined(separator: ", "))") }
    }
}

/// The local operator's debug endpoint as the console finds it on a cluster: the Service
/// `tinyflow-system/tinyflow-operator` with a port named `debug`, reached through the
/// control plane's service proxy. Locally there are no Pods, so `tinyflow up` writes the
/// Endpoints itself (127.0.0.1 and the port the operator child serves on).
public enum OperatorDebugService {
    /// The Service's namespace, as the operator chart's default release has it.
    public static let namespace = "tinyflow-system"
    /// The Service's name, as the operator chart names it for a release `tinyflow-operator`.
    public static let name = "tinyflow-operator"
    /// The Service port's name.
    public static let portName = "debug"

    /// Creates or updates (server-side apply: the same on every start of `tinyflow up` with the
    /// same data directory) the namespace, the Service and its Endpoints pointing at the
    /// operator's debug endpoint on 127.0.0.1:`port`.
    static func publish(port: Int, client: KubernetesClient) async throws {
        let labels = ["tinyflow.dev/managed-by": localModeFieldManager]
        _ = try await client.api(Namespace.self).apply(
            Namespace(metadata: ObjectMeta(name: namespace, labels: labels)), fieldManager: localModeFieldManager)
        _ = try await client.api(KubernetesService.self, namespace: namespace).apply(
            KubernetesService(
                metadata: ObjectMeta(name: name, namespace: namespace, labels: labels),
                spec: .init(ports: [.init(name: portName, port: 80, targetPort: .number(port), protocol: "TCP")])),
            fieldManager: localModeFieldManager)
        _ = try await client.api(Endpoints.self, namespace: namespace).apply(
            Endpoints(
                metadata: ObjectMeta(name: name, namespace: namespace, labels: labels),
                subsets: [.init(addresses: [.init(ip: "127.0.0.1")], ports: [.init(name: portName, port: port, protocol: "TCP")])]),
            fieldManager: localModeFieldManager)
    }
}

/// Whether `condition` of type `Ready` is `True` on `node`.
func isReady(_ node: TinyNode) -> Bool {
    node.status?.conditions.contains { $0.type == "Ready" && $0.status == .true } ?? false
}

/// What `tinyflow up` last reported about the nodes: turns node sets into the lines to print.
struct NodeReadiness: Sendable {
    private var last: (ready: Int, total: Int)?
    private var errors: [String: String] = [:]

    /// The lines to print for `nodes`: `k/n nodes Ready` when the count changed, and new errors.
    mutating func update(_ nodes: some Collection<TinyNode>) -> [String] {
        var lines: [String] = []
        let ready = nodes.filter(isReady).count
        if last?.ready != ready || last?.total != nodes.count {
            lines.append("\(ready)/\(nodes.count) nodes Ready")
            last = (ready, nodes.count)
        }
        var current: [String: String] = [:]
        for node in nodes {
            let name = node.metadata.name ?? "?"
            guard let error = node.status?.error else { continue }
            current[name] = error
            if errors[name] != error { lines.append("node \(name): \(error)") }
        }
        errors = current
        return lines
    }
}

/// Watches and polls the control plane and module hosts and prints what changed.
struct ProgressReporter: Sendable {
    let client: KubernetesClient
    let namespace: String
    let console: Console
    let interval: Duration
    /// The token the module hosts require, for reading debug nodes' messages.
    let moduleToken: String

    /// Prints `k/n nodes Ready` whenever it changes, and nodes' errors as they appear:
    /// lists the TinyNodes, then watches them from the list's resourceVersion (relisting
    /// after a failed or expired watch).
    func watchNodes() async {
        let api = client.api(TinyNode.self, namespace: namespace)
        var tracker = NodeReadiness()
        while !Task.isCancelled {
            do {
                let list = try await api.list()
                var nodes = Dictionary(list.items.map { ($0.metadata.name ?? "", $0) }, uniquingKeysWith: { $1 })
                report(tracker.update(nodes.values))
                var version = list.metadata.resourceVersion
                while !Task.isCancelled {
                    for try await event in try await api.watch(resourceVersion: version) {
                        switch event {
                        case .added(let node), .modified(let node): nodes[node.metadata.name ?? ""] = node
                        case .deleted(let node): nodes[node.metadata.name ?? ""] = nil
                        case .bookmark, .error: break
                        }
                        version = event.resourceVersion ?? version
                        report(tracker.update(nodes.values))
                    }
                }
            } catch {
                if Task.isCancelled { return }
                try? await Task.sleep(for: interval)
            }
        }
    }

    private func report(_ lines: [String]) {
        for line in lines { console.print(line) }
    }

    /// Prints `module NAME: N components` once the operator filled a module's status.
    func watchModules() async {
        let api = client.api(TinyModule.self, namespace: namespace)
        var counts: [String: Int] = [:]
        while !Task.isCancelled {
            if let list = try? await api.list() {
                for module in list.items {
                    let name = module.metadata.name ?? "?"
                    let count = module.status?.components.count ?? 0
                    if count > 0, counts[name] != count {
                        console.print("module \(name): \(count) components")
                        counts[name] = count
                    }
                }
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Polls every debug node's recent messages on its module's host and prints new ones as `[node] payload`.
    func streamDebugOutput(addresses: [String: String]) async {
        let api = client.api(TinyNode.self, namespace: namespace)
        await withTaskGroup(of: Void.self) { group in
            var clients: [String: ModuleHostClient] = [:]
            var tracker = DebugOutputTracker()
            while !Task.isCancelled {
                if let list = try? await api.list() {
                    for node in list.items where node.spec.component == "debug" {
                        guard let name = node.metadata.name, let address = addresses[node.spec.module] ?? node.status?.module?.address
                        else { continue }
                        let host: ModuleHostClient
                        if let existing = clients[address] {
                            host = existing
                        } else {
                            guard let created = try? ModuleHostClient(address: address, token: moduleToken, callTimeout: .seconds(2)) else {
                                continue
                            }
                            clients[address] = created
                            group.addTask { try? await created.run() }
                            host = created
                        }
                        guard let messages = try? await host.recentMessages(node: name) else { continue }
                        for message in tracker.newMessages(messages, node: name) {
                            console.print(LocalInspection.format(message, node: name))
                        }
                    }
                }
                try? await Task.sleep(for: interval)
            }
            for client in clients.values { client.shutdown() }
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
func freeLocalPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw LocalModeError.noFreePort }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    guard bound == 0 else { throw LocalModeError.noFreePort }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Why local mode could not do something.
public enum LocalModeError: Error, CustomStringConvertible {
    /// No free TCP port could be found for a child.
    case noFreePort
    /// There is no kubeconfig in the data directory: `tinyflow up` is not running there.
    case notRunning(dataDirectory: String)
    /// No TinyNode by that name.
    case noSuchNode(String)
    /// The node's module has no address to ask.
    case noModuleAddress(node: String, module: String)

    /// A sentence saying what went wrong.
    public var description: String {
        switch self {
        case .noFreePort: "no free TCP port on 127.0.0.1"
        case .notRunning(let directory): "no kubeconfig in \(directory); start `tinyflow up --data \(directory)` first"
        case .noSuchNode(let name): "no TinyNode named \"\(name)\""
        case .noModuleAddress(let node, let module): "node \(node): module \(module) has no TinyModule with spec.address"
        }
    }
}
