import CommonComponents
import ComponentKit
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
import Logging
import ModuleHost
import ModuleHostApp
import ControlPlaneTestSupport
import ModuleHostTestSupport
import TestSupport
import Testing

@Suite("Sources run on the lease holder only", .timeLimit(.minutes(3)))
struct LeaseSourceElectionTests {
    let timing = LeaderElectionTiming(leaseDuration: .milliseconds(3000), renewDeadline: .milliseconds(2000), retryPeriod: .milliseconds(300))

    func nodes() -> DesiredNodes {
        DesiredNodes(generation: 1, nodes: [
            definition("tick", "ticker", settings: ["interval": 5], edges: [edge("out", to: "sink:in")]),
            definition("sink", "debug", settings: ["keep": 1000, "log": false]),
        ])
    }

    @Test("of two replicas only the lease holder ticks; when it goes, the other takes over")
    func oneReplicaTicks() async throws {
        try await withPlane { _, client in
            let a = LeaderElector(api: client.api(Lease.self), leaseName: "common-sources", identity: "a", timing: timing)
            let b = LeaderElector(api: client.api(Lease.self), leaseName: "common-sources", identity: "b", timing: timing)
            let electorA = Task { try await a.run() }
            try await eventually("a leads", timeout: .seconds(30)) { a.leadership.isLeader }
            let electorB = Task { try await b.run() }
            defer { electorB.cancel() }
            let module = CommonModule.definition
            let runtimeA = ModuleRuntime(module: module, election: LeaseSourceElection(leadership: a.leadership), logger: .init(label: "a"))
            let runtimeB = ModuleRuntime(module: module, election: LeaseSourceElection(leadership: b.leadership), logger: .init(label: "b"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await runtimeA.run() }
                group.addTask { try await runtimeB.run() }
                _ = await runtimeA.sync(nodes())
                _ = await runtimeB.sync(nodes())
                try await eventually("ticks on the leader") { (runtimeA.counters("sink")?.delivered ?? 0) >= 10 }
                #expect(runtimeB.counters("sink")?.delivered == 0, "the follower does not tick")

                electorA.cancel()  // a steps down (releases the lease on shutdown) or stops renewing
                _ = await electorA.result
                try await eventually("b takes over", timeout: .seconds(15)) { (runtimeB.counters("sink")?.delivered ?? 0) >= 10 }
                let aAfter = runtimeA.counters("sink")?.delivered ?? 0
                try await eventually("a stopped ticking") {
                    let now = runtimeA.counters("sink")?.delivered ?? 0
                    return now == aAfter || !a.leadership.isLeader
                }
                #expect(!a.leadership.isLeader)
                await runtimeA.shutdown()
                await runtimeB.shutdown()
                try await group.waitForAll()
            }
        }
    }
}
