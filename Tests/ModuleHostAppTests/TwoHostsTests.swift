import ComponentKit
import Foundation
import GRPCTransport
import ModuleHost
import Synchronization
import TestSupport
import Testing

/// A `tinyflow module-host` child process.
final class HostProcess: Sendable {
    let process: Process
    let port: Int

    /// Starts `tinyflow module-host` on `port` with `extraArguments` and `environment` added to ours.
    init(port: Int, extraArguments: [String] = [], environment: [String: String] = [:]) throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tinyflow")
        let process = Process()
        process.executableURL = binary
        process.arguments =
            ["module-host", "--listen", "127.0.0.1:\(port)", "--health-address", "none", "--log-level", "warning"] + extraArguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        self.process = process
        self.port = port
    }

    var address: String { "127.0.0.1:\(port)" }

    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s (the test then fails).
    func terminate() {
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning, ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning {
            Issue.record("the module host did not exit within 10 s of SIGTERM")
            kill()
        }
        process.waitUntilExit()
    }
}

@Suite("Two module-host processes over loopback gRPC", .timeLimit(.minutes(5)), .serialized)
struct TwoHostsTests {
    /// Syncs a host, retrying while its gRPC server starts.
    func sync(_ address: String, _ desired: DesiredNodes) async throws -> SyncResult {
        let result = Mutex<SyncResult?>(nil)
        try await eventually("host \(address) to accept SyncNodes", timeout: .seconds(20)) {
            let answer = try? await ModuleHostClient.withClient(address: address, callTimeout: .seconds(2)) { try await $0.sync(desired) }
            result.withLock { $0 = answer }
            return answer != nil
        }
        return try #require(result.withLock { $0 })
    }

    func recent(_ address: String, _ node: String) async -> [Message] {
        (try? await ModuleHostClient.withClient(address: address, callTimeout: .seconds(2)) { try await $0.recentMessages(node: node) } ?? []) ?? []
    }

    @Test("a ticker on one host feeds a debug node on another; killing the peer gives errors, restarting it resumes")
    func crossHostFlow() async throws {
        let sinkPort = try freePort()
        let sourcePort = try freePort()
        let sinkAddress = "127.0.0.1:\(sinkPort)"
        var sinkHost = try HostProcess(port: sinkPort)
        let sourceHost = try HostProcess(port: sourcePort)
        defer {
            sourceHost.terminate()
            sinkHost.terminate()
        }
        let sinkNodes = DesiredNodes(generation: 1, nodes: [
            NodeDefinition(name: "sink", component: "debug", ports: [PortConfiguration(port: "_settings", configuration: ["keep": 1000, "log": false])])
        ])
        let sourceNodes = DesiredNodes(
            generation: 1,
            nodes: [
                NodeDefinition(
                    name: "tick", component: "ticker",
                    ports: [PortConfiguration(port: "_settings", configuration: ["interval": 10])],
                    edges: [Edge(id: "e", port: "out", to: "sink:in")])
            ],
            remoteNodes: ["sink": "sinks"], moduleAddresses: ["sinks": ["127.0.0.1:\(sinkPort)"]])
        #expect(try await sync(sinkHost.address, sinkNodes).nodes.map(\.phase) == [.running])
        #expect(try await sync(sourceHost.address, sourceNodes).nodes.map(\.phase) == [.running])

        try await eventually("ticks across hosts", timeout: .seconds(20)) { await recent(sinkAddress, "sink").count >= 5 }
        let counts = await recent(sinkAddress, "sink").compactMap { $0.payload["count"]?.intValue }
        #expect(counts == Array(counts.sorted()), "per-edge order holds across hosts")
        #expect(await recent(sinkAddress, "sink").first?.from?.description == "tick:out")

        sinkHost.kill()
        try await eventually("the source to report the dead peer", timeout: .seconds(20)) {
            let reports = try? await ModuleHostClient.withClient(address: sourceHost.address, callTimeout: .seconds(2)) { client in
                try await withThrowingTaskGroup(of: [NodeStatusReport].self) { group in
                    group.addTask {
                        let first = Mutex<[NodeStatusReport]>([])
                        try? await client.watchStatus(interval: .milliseconds(100)) { reports in
                            first.withLock { $0 = reports }
                            throw CancellationError()
                        }
                        return first.withLock { $0 }
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? []
                }
            }
            return reports?.first?.lastError?.contains("sinks") == true
        }

        sinkHost = try HostProcess(port: sinkPort)
        _ = try await sync(sinkHost.address, sinkNodes)
        try await eventually("ticks again after the peer restarted", timeout: .seconds(30)) {
            await recent(sinkAddress, "sink").count >= 3
        }
    }
}
