import CRDModels
import CommonComponents
import ControlPlane
import Foundation
import GRPCTransport
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
import Logging
import ModuleHost

#if canImport(Glibc)
import Glibc
#endif

/// Why the operator bench could not measure.
struct OperatorBenchError: Error, CustomStringConvertible {
    var description: String
}

/// The operator a bench run measures.
enum OperatorUnderTest: Sendable {
    /// This bench's own copy of the operator (`tinyflow-bench operator-process`).
    case benchProcess
    /// A `tinyflow` executable, run as `tinyflow operator` (as the operator image runs it).
    case executable(String)

    /// Builds `tinyflow` as the images ship it (`scripts/build-release.sh`, run from
    /// the package in the working directory, as `swift run` leaves it); returns its path.
    static func buildShipped() async throws -> String {
        let script = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("scripts/build-release.sh")
        guard FileManager.default.isExecutableFile(atPath: script.path) else {
            throw OperatorBenchError(description: """
                no \(script.path): run the bench from the Tinyflow package, pass --operator-executable PATH, \
                or --operator-executable self to measure this bench's own operator
                """)
        }
        FileHandle.standardError.write(Data("building the operator as shipped: scripts/build-release.sh\n".utf8))
        let build = Process()
        build.executableURL = script
        let output = Pipe()
        build.standardOutput = output
        build.standardInput = FileHandle.nullDevice
        // The script prints one line (SwiftPM writes to stderr): the pipe never fills.
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            build.terminationHandler = { _ in done.resume() }
            do { try build.run() } catch { done.resume(throwing: error) }
        }
        let printed = try output.fileHandleForReading.readToEnd() ?? Data()
        let path = String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard build.terminationStatus == 0, FileManager.default.isExecutableFile(atPath: path) else {
            throw OperatorBenchError(description: "scripts/build-release.sh failed (status \(build.terminationStatus))")
        }
        return path
    }

    /// How the JSON lines name it.
    var label: String {
        switch self {
        case .benchProcess: "tinyflow-bench operator-process"
        case .executable(let path): "\(path) operator"
        }
    }

    /// The child process's executable and arguments for a control plane's kubeconfig.
    func command(kubeconfig: String, namespace: String) -> (executable: URL, arguments: [String]) {
        switch self {
        case .benchProcess:
            return (URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath(), ["operator-process", "--kubeconfig", kubeconfig])
        case .executable(let path):
            return (URL(fileURLWithPath: path), [
                "operator", "--kubeconfig", kubeconfig, "--namespace", namespace, "--leader-election", "false",
                "--metrics-address", "", "--log-level", "warning",
            ])
        }
    }
}

/// One measured setup: an embedded control plane with the Tinyflow CRDs, the
/// `common` module's host in this process (served over gRPC on loopback, as a
/// module pod would be), and the operator as a child process (see
/// ``OperatorUnderTest``), so that its memory is its own.
struct OperatorBenchEnvironment: Sendable {
    /// An administrator client of the control plane.
    var client: KubernetesClient
    /// The operator's process id.
    var operatorPID: Int32
    /// Follows the TinyNodes' Ready conditions.
    var tracker: ReadinessTracker
    /// The namespace everything lives in.
    var namespace = "default"

    /// Runs `body` in a fresh environment and tears it down afterwards.
    static func withEnvironment<T: Sendable>(
        durability: Durability, operatorUnderTest: OperatorUnderTest, _ body: (OperatorBenchEnvironment) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-bench-operator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var logger = Logger(label: "tinyflow.bench")
        logger.logLevel = .warning
        let quiet = logger
        return try await EmbeddedControlPlane.withRunning(
            dataDirectory: directory,
            configure: {
                $0.durability = durability
                $0.logger = quiet
            }
        ) { plane in
            let client = try KubernetesClient(
                configuration: ClientConfiguration(server: plane.baseURL, credentials: .bearerToken(plane.token)), logger: quiet)
            do {
                let result = try await run(
                    plane: plane, client: client, operatorUnderTest: operatorUnderTest, directory: directory, logger: quiet, body)
                try await client.shutdown()
                return result
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
    }

    private static func run<T: Sendable>(
        plane: EmbeddedControlPlane, client: KubernetesClient, operatorUnderTest: OperatorUnderTest, directory: URL, logger: Logger,
        _ body: (OperatorBenchEnvironment) async throws -> T
    ) async throws -> T {
        for crd in allCustomResourceDefinitions { _ = try await client.api(CustomResourceDefinition.self).create(crd) }
        try await waitFor("the TinyNode kind to be served", timeout: .seconds(10)) {
            let nodes = try? await client.api(TinyNode.self, namespace: "default").list()
            let modules = try? await client.api(TinyModule.self, namespace: "default").list()
            return nodes != nil && modules != nil
        }
        let runtime = ModuleRuntime(module: CommonModule.definition, logger: logger)
        let server = ModuleHostServer(host: "127.0.0.1", port: 0, control: runtime, sink: runtime, logger: logger)
        let tracker = ReadinessTracker()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runtime.run() }
            group.addTask { try await server.run() }
            let nodes = client.api(NodeReadiness.self, namespace: "default")
            group.addTask { await Watcher(api: nodes, logger: logger).drive { tracker.apply($0) } }
            defer {
                group.cancelAll()
                server.beginGracefulShutdown()
            }
            let port = try await server.boundPort
            _ = try await client.api(TinyModule.self, namespace: "default").create(
                TinyModule(metadata: ObjectMeta(name: "common"), spec: TinyModuleSpec(image: "tinyflow/common", address: "127.0.0.1:\(port)")))

            let kubeconfig = directory.appendingPathComponent("kubeconfig").path
            try plane.writeKubeconfig(to: kubeconfig)
            let operatorProcess = Process()
            (operatorProcess.executableURL, operatorProcess.arguments) = operatorUnderTest.command(kubeconfig: kubeconfig, namespace: "default")
            operatorProcess.standardInput = FileHandle.nullDevice
            try operatorProcess.run()
            defer { stop(operatorProcess) }

            try await waitFor("the operator to publish module common's catalogue", timeout: .seconds(60)) {
                guard operatorProcess.isRunning else { throw OperatorBenchError(description: "the operator process exited") }
                let module = try? await client.api(TinyModule.self, namespace: "default").get("common")
                return !(module?.status?.components ?? []).isEmpty
            }
            let environment = OperatorBenchEnvironment(client: client, operatorPID: operatorProcess.processIdentifier, tracker: tracker)
            let result = try await body(environment)
            await runtime.shutdown()
            return result
        }
    }

    /// Stops the operator: SIGTERM (graceful shutdown), SIGKILL if it lingers.
    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Creates TinyNodes `bench-<first>` … `bench-<first + count - 1>` with
    /// `concurrency` requests in flight, as a pipelined `kubectl apply` would:
    /// pairs of a transform with an edge to a debug node.
    func createNodes(from first: Int, count: Int, concurrency: Int, distinctConfigurations: Bool = false) async throws {
        let api = client.api(TinyNode.self, namespace: namespace)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in first..<(first + count) {
                if index - first >= concurrency { try await group.next() }
                group.addTask { _ = try await api.create(Self.node(index, distinctConfiguration: distinctConfigurations)) }
            }
            try await group.waitForAll()
        }
    }

    /// Node `index`: an even index is a transform sending to the next (odd) index, a debug node.
    /// The transforms share one configuration and so do the debug nodes, unless
    /// `distinctConfiguration` (then each is its own, as in flows made by hand).
    static func node(_ index: Int, distinctConfiguration: Bool = false) -> TinyNode {
        let name = "bench-\(index)"
        let labels = ["tinyflow.dev/flow": "bench-\(index / 200)"]
        if index.isMultiple(of: 2) {
            return TinyNode(
                metadata: ObjectMeta(name: name, labels: labels),
                spec: TinyNodeSpec(
                    module: "common", component: "transform",
                    ports: [PortConfiguration(port: "_settings", configuration: [
                        "template": distinctConfiguration ? ["value": "{{ $.payload }}", "node": .integer(index)] : ["value": "{{ $.payload }}"],
                    ])],
                    edges: [Edge(id: "to-debug", port: "out", to: "bench-\(index + 1):in")]))
        }
        return TinyNode(
            metadata: ObjectMeta(name: name, labels: labels),
            spec: TinyNodeSpec(
                module: "common", component: "debug",
                ports: [PortConfiguration(port: "_settings", configuration: ["keep": distinctConfiguration ? .integer(1 + index % 100) : 1, "log": false])]))
    }

    /// CPU seconds (user + system) the operator process has used so far.
    func operatorCPUSeconds() throws -> Double { try cpuSeconds(ofProcess: "\(operatorPID)") }

    /// CPU seconds (user + system) this process has used so far: the bench's module
    /// host, its embedded control plane and its readiness watch.
    func benchCPUSeconds() throws -> Double { try cpuSeconds(ofProcess: "self") }

    /// The operator's resident set now and at its peak, in bytes (`/proc/PID/status`).
    func operatorMemory() throws -> (resident: Double, peak: Double) {
        let status = try String(contentsOfFile: "/proc/\(operatorPID)/status", encoding: .utf8)
        func kilobytes(_ field: String) throws -> Double {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
                let value = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Double($0) })
            else { throw OperatorBenchError(description: "no \(field) in /proc/\(operatorPID)/status") }
            return value * 1024
        }
        return (try kilobytes("VmRSS"), try kilobytes("VmHWM"))
    }
}

/// CPU seconds (user + system) a process has used, from `/proc/PID/stat`.
func cpuSeconds(ofProcess pid: String) throws -> Double {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    // The command name (field 2) is in parentheses and may hold spaces: fields count from after it.
    guard let close = stat.lastIndex(of: ")") else { throw OperatorBenchError(description: "unreadable /proc/\(pid)/stat") }
    let fields = stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
        throw OperatorBenchError(description: "unreadable /proc/\(pid)/stat")
    }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Polls `condition` every 20 ms until it holds; throws after `timeout`.
func waitFor(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw OperatorBenchError(description: "timed out after \(timeout) waiting for \(what)")
}

/// Runs `body`, or returns `nil` once `timeout` passed (cancelling it).
func withDeadline<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async -> T?) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        return await group.next() ?? nil
    }
}
