import ComponentKit
import Foundation
import GRPCTransport
import ModuleHost
import Synchronization
import TestSupport
import Testing

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
        try await withHostProcesses { hosts in
            var sinkHost = try hosts.start(port: sinkPort)
            let sourceHost = try hosts.start(port: sourcePort)
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

            await sinkHost.kill()
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

            sinkHost = try hosts.start(port: sinkPort)
            _ = try await sync(sinkHost.address, sinkNodes)
            try await eventually("ticks again after the peer restarted", timeout: .seconds(30)) {
                await recent(sinkAddress, "sink").count >= 3
            }
        }
    }
}
