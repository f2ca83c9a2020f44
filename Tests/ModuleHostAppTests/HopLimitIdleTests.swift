import ComponentKit
import Foundation
import GRPCTransport
import ModuleHostAPI
import TestSupport
import Testing

/// A cycle of nodes in a real module-host process: stopped by the hop limit, after which the
/// process does nothing.
@Suite("A cycle stops at the hop limit and the host goes idle", .timeLimit(.minutes(2)), .serialized)
struct HopLimitIdleTests {
    /// CPU time (user + system) of process `pid` so far, in clock ticks, from `/proc/PID/stat`.
    static func cpuTicks(of pid: Int32) -> Int? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }

    @Test("a two-node transform cycle in a module-host process stops at the hop limit, reports it, and the process's CPU falls back to idle")
    func cycleStopsAndHostIdles() async throws {
        let port = try freePort()
        try await withHostProcesses { hosts in
            let host = try hosts.start(port: port)
            let nodes = [
                NodeDefinition(name: "a", component: "transform", edges: [Edge(id: "ab", port: "out", to: "b:in"), Edge(id: "ae", port: "error", to: "errors:in")]),
                NodeDefinition(name: "b", component: "transform", edges: [Edge(id: "ba", port: "out", to: "a:in"), Edge(id: "be", port: "error", to: "errors:in")]),
                NodeDefinition(name: "errors", component: "debug", ports: [PortConfiguration(port: "_settings", configuration: ["keep": 10])]),
            ]
            try await eventually("the host to take the cycle", timeout: .seconds(20)) {
                let result = try? await ModuleHostClient.withClient(address: host.address, callTimeout: .seconds(2)) {
                    try await $0.sync(DesiredNodes(generation: 1, nodes: nodes))
                }
                return result?.nodes.allSatisfy { $0.phase == .running } ?? false
            }
            try await GRPCModuleTransport.withTransport { transport in
                await transport.updateAddresses(["m": [host.address]])
                try await transport.send(Message(to: PortAddress(node: "a", port: "in"), payload: ["round": 1]), toModule: "m")
            }
            try await eventually("the refusal at the hop limit to reach the error port", timeout: .seconds(20)) {
                let errors = try? await ModuleHostClient.withClient(address: host.address, callTimeout: .seconds(2)) {
                    try await $0.recentMessages(node: "errors")
                }
                return errors?.contains { "\($0.payload)".contains("hop limit of 256") } ?? false
            }
            // Idle: over two seconds the process uses (almost) no CPU.
            let pid = host.process.processIdentifier
            let before = try #require(Self.cpuTicks(of: pid))
            try await Task.sleep(for: .seconds(2))
            let after = try #require(Self.cpuTicks(of: pid))
            let ticksPerSecond = sysconf(Int32(_SC_CLK_TCK))
            #expect(after - before <= ticksPerSecond / 10, "the host used \(after - before) ticks of CPU in 2 s after the cycle stopped")
        }
    }
}
