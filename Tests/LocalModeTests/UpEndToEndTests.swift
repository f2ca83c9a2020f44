import CRDModels
import Foundation
import GRPCTransport
import LocalMode
import Manifests
import ModuleHost
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The `tinyflow` binary built next to this test bundle.
let tinyflowBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tinyflow").path

/// Runs a command to completion and returns its exit status and standard output.
@discardableResult
func runToCompletion(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Whether this build of `tinyflow` has the `operator` command.
let buildHasOperator: Bool = tinyflowHasOperator(executable: tinyflowBinary)

/// Whether a TCP listener could bind 127.0.0.1:`port` right now.
func loopbackPortIsFree(_ port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result == 0
}

/// The process ids whose parent is `pid`.
func childPIDs(of pid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
        guard let child = Int32(entry),
              let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, Int32(fields[1]) == pid else { return nil }
        return child
    }
}

/// A running `tinyflow up` with its standard output collected.
// Process is safe to query from any thread (isRunning, terminationStatus); the rest is immutable or locked.
final class UpProcess: @unchecked Sendable {
    let process: Process
    private let collected = Recorder<String>()

    /// Starts `tinyflow up` with `arguments` in the repository root.
    init(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tinyflowBinary)
        process.arguments = ["up"] + arguments
        process.currentDirectoryURL = repositoryRoot
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardInput = FileHandle.nullDevice
        self.process = process
        pipe.fileHandleForReading.readabilityHandler = { [collected] handle in
            let data = handle.availableData
            guard !data.isEmpty else { handle.readabilityHandler = nil; return }
            collected.append(String(decoding: data, as: UTF8.self))
        }
        try process.run()
    }

    /// Everything it printed so far.
    var output: String { collected.values.joined() }

    /// Sends SIGINT and waits for it to exit; returns its exit status.
    func interrupt(within deadline: Duration) async throws -> (status: Int32, exited: Bool) {
        kill(process.processIdentifier, SIGINT)
        try await eventually("tinyflow up exits after SIGINT", timeout: deadline) { !self.process.isRunning }
        return (process.terminationStatus, process.terminationReason == .exit)
    }

    /// Kills it if it is still running (cleanup after a failure).
    func killIfRunning() {
        guard process.isRunning else { return }
        for child in childPIDs(of: process.processIdentifier) { kill(child, SIGKILL) }
        kill(process.processIdentifier, SIGKILL)
    }
}

private let kubectl = "/usr/bin/kubectl"
private let helloNodes = ["hello-ticker", "hello-transform", "hello-debug"]

private func temporaryDataDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-up-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

private func nodeNames(kubeconfig: String) throws -> [String] {
    let result = try runToCompletion(kubectl, ["--kubeconfig", kubeconfig, "get", "tn", "-o", "name"])
    guard result.status == 0 else { return [] }
    return result.output.split(separator: "\n").map { String($0.split(separator: "/").last ?? "") }
}

/// Stands in for the operator: pushes each module's nodes of `manifestPath` to its host
/// (the addresses of the TinyModules), with the other modules' nodes as remote targets.
func deploy(_ manifestPath: String, kubeconfig: String, modules: [String]) async throws {
    var addresses: [String: String] = [:]
    for module in modules {
        addresses[module] = try runToCompletion(
            "/usr/bin/kubectl", ["--kubeconfig", kubeconfig, "get", "tinymodule", module, "-o", "jsonpath={.spec.address}"]).output
    }
    let manifest = try FlowManifest(contentsOf: repositoryRoot.appendingPathComponent(manifestPath).path)
    let moduleOf = Dictionary(manifest.nodes.map { ($0.metadata.name ?? "", $0.spec.module) }, uniquingKeysWith: { $1 })
    for (module, address) in addresses {
        let local = manifest.nodes.filter { $0.spec.module == module }
        let remote = moduleOf.filter { $0.value != module }
        let desired = DesiredNodes(
            generation: 1,
            nodes: local.map { node in
                NodeDefinition(name: node.metadata.name ?? "", component: node.spec.component, ports: node.spec.ports, edges: node.spec.edges)
            },
            remoteNodes: remote,
            moduleAddresses: addresses.filter { $0.key != module }.mapValues { [$0] })
        try await eventually("the \(module) host accepts its nodes", timeout: .seconds(15)) {
            (try? await ModuleHostClient.withClient(address: address, callTimeout: .seconds(2)) { try await $0.sync(desired) }) != nil
        }
    }
}

@Suite("tinyflow up", .serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: tinyflowBinary), "build the tinyflow product first"))
struct UpEndToEndTests {
    @Test("serves the flow to kubectl with the common module registered, restarts a module host that dies, stops cleanly on SIGINT and restores the flow on the next start")
    func upServesKubectlAndStopsCleanly() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let kubeconfig = data.appendingPathComponent("kubeconfig").path
        let up = try UpProcess(["--data", data.path, "-f", "examples/hello-flow.yaml", "--port", "0"])
        defer { up.killIfRunning() }

        try await eventually("the kubeconfig is written", timeout: .seconds(30)) {
            FileManager.default.fileExists(atPath: kubeconfig)
        }
        try await eventually("kubectl lists the hello nodes", timeout: .seconds(20)) {
            Set(try nodeNames(kubeconfig: kubeconfig)).isSuperset(of: helloNodes)
        }
        let module = try runToCompletion(
            kubectl, ["--kubeconfig", kubeconfig, "get", "tinymodule", "common", "-o", "jsonpath={.spec.address}"])
        #expect(module.status == 0)
        #expect(module.output.hasPrefix("127.0.0.1:"))
        #expect(up.output.contains("control plane ready at https://127.0.0.1:"))

        try await eventually("the common module host runs as a child") { !childPIDs(of: up.process.processIdentifier).isEmpty }
        let first = childPIDs(of: up.process.processIdentifier)
        for pid in first { kill(pid, SIGKILL) }
        try await eventually("the supervisor reports the death and starts a new host") {
            let now = childPIDs(of: up.process.processIdentifier)
            return up.output.contains("module common killed by signal 9; restarting") && !now.isEmpty && Set(now).isDisjoint(with: first)
        }
        let children = childPIDs(of: up.process.processIdentifier)
        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited)
        #expect(exit.status == 0)
        try await eventually("no child process remains", timeout: .seconds(5)) { !children.contains(where: isAlive) }

        // Start again on the same data directory without -f: the flow is still there.
        try FileManager.default.removeItem(atPath: kubeconfig)
        let again = try UpProcess(["--data", data.path, "--port", "0"])
        defer { again.killIfRunning() }
        try await eventually("the kubeconfig is written again", timeout: .seconds(30)) {
            FileManager.default.fileExists(atPath: kubeconfig)
        }
        try await eventually("kubectl lists the restored hello nodes", timeout: .seconds(20)) {
            Set(try nodeNames(kubeconfig: kubeconfig)).isSuperset(of: helloNodes)
        }
        let second = try await again.interrupt(within: .seconds(20))
        #expect(second.exited && second.status == 0)
    }

    @Test(
        "with the operator in the build, every hello node becomes Ready and the debug node's messages are printed",
        .enabled(if: buildHasOperator, "this build has no `tinyflow operator` command yet; Ready conditions and debug output need it"))
    func upRunsTheFlowWithTheOperator() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let up = try UpProcess(["--data", data.path, "-f", "examples/hello-flow.yaml", "--port", "0"])
        defer { up.killIfRunning() }
        try await eventually("all nodes Ready", timeout: .seconds(40)) { up.output.contains("3/3 nodes Ready") }
        try await eventually("debug output on stdout", timeout: .seconds(20)) { up.output.contains("[hello-debug] ") }
        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
    }
    @Test(
        "streams a debug node's messages as [node] payload once its host runs the flow, and status and logs report it",
        .enabled(if: !buildHasOperator, "with the operator in the build, it deploys the nodes itself (see the operator test)"))
    func upStreamsDebugOutputAndReportsStatus() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let kubeconfig = data.appendingPathComponent("kubeconfig").path
        let up = try UpProcess(["--data", data.path, "-f", "examples/hello-flow.yaml", "--port", "0"])
        defer { up.killIfRunning() }
        try await eventually("the flow is applied", timeout: .seconds(30)) { up.output.contains("applied 3 objects") }
        let address = try runToCompletion(
            kubectl, ["--kubeconfig", kubeconfig, "get", "tinymodule", "common", "-o", "jsonpath={.spec.address}"]).output

        // Stand in for the operator: push the flow's nodes to the module host.
        try await deploy("examples/hello-flow.yaml", kubeconfig: kubeconfig, modules: ["common"])

        try await eventually("the transformed greeting is printed by tinyflow up", timeout: .seconds(15)) {
            up.output.contains("[hello-debug] ") && up.output.contains("hello, world #")
        }
        let logs = try runToCompletion(tinyflowBinary, ["logs", "hello-debug", "--data", data.path])
        #expect(logs.status == 0)
        #expect(logs.output.contains("[hello-debug] "))
        #expect(logs.output.contains("hello, world #"))
        let status = try runToCompletion(tinyflowBinary, ["status", "--data", data.path])
        #expect(status.status == 0)
        for name in helloNodes { #expect(status.output.contains(name)) }
        #expect(status.output.contains(address))

        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
    }
    @Test(
        "runs the error-port example: the failures of the transform reach the error debug node",
        .enabled(if: !buildHasOperator, "with the operator in the build, it deploys the nodes itself"))
    func errorPortExampleRoutesFailures() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let kubeconfig = data.appendingPathComponent("kubeconfig").path
        let up = try UpProcess(["--data", data.path, "-f", "examples/error-port.yaml", "--port", "0"])
        defer { up.killIfRunning() }
        try await eventually("the flow is applied", timeout: .seconds(30)) { up.output.contains("applied 4 objects") }
        try await deploy("examples/error-port.yaml", kubeconfig: kubeconfig, modules: ["common"])
        try await eventually("a result and a failure are printed", timeout: .seconds(15)) {
            up.output.contains("[errors-ok] ") && up.output.contains("[errors-failed] ") && up.output.contains("division by zero")
        }
        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
    }

    @Test(
        "runs the two-modules example across the common host and the second host of examples/modules.yaml",
        .enabled(if: !buildHasOperator, "with the operator in the build, it deploys the nodes itself"))
    func twoModulesExampleCrossesHosts() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let kubeconfig = data.appendingPathComponent("kubeconfig").path
        let up = try UpProcess([
            "--data", data.path, "--modules", "examples/modules.yaml", "-f", "examples/two-modules.yaml", "--port", "0",
        ])
        defer { up.killIfRunning() }
        try await eventually("the flow is applied", timeout: .seconds(30)) { up.output.contains("applied 3 objects") }
        #expect(up.output.contains("module second: host starting at 127.0.0.1:"))
        try await deploy("examples/two-modules.yaml", kubeconfig: kubeconfig, modules: ["common", "second"])
        try await eventually("messages from common arrive at the debug node in second", timeout: .seconds(15)) {
            up.output.contains("[two-debug] ") && up.output.contains("common -> second")
        }
        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
    }
    @Test(
        "runs the http-echo example: a request to 127.0.0.1:8088 is answered by the flow",
        .enabled(if: !buildHasOperator, "with the operator in the build, it deploys the nodes itself"),
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "needs curl"),
        .enabled(if: loopbackPortIsFree(8088), "port 8088, which the example serves on, is taken"))
    func httpEchoExampleAnswers() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let kubeconfig = data.appendingPathComponent("kubeconfig").path
        let up = try UpProcess(["--data", data.path, "-f", "examples/http-echo.yaml", "--port", "0"])
        defer { up.killIfRunning() }
        try await eventually("the flow is applied", timeout: .seconds(30)) { up.output.contains("applied 3 objects") }
        try await deploy("examples/http-echo.yaml", kubeconfig: kubeconfig, modules: ["common"])
        try await eventually("the echo is answered", timeout: .seconds(15)) {
            let answer = try runToCompletion("/usr/bin/curl", ["-sf", "--max-time", "3", "http://127.0.0.1:8088/hello?name=tinyflow"])
            return answer.status == 0 && answer.output.contains("/hello") && answer.output.contains("tinyflow")
        }
        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
    }
}
