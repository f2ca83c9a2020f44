import ModuleHost
@testable import Operator
import Synchronization
import TestSupport
import Testing

@Suite("What the operator remembers between reconciles")
struct OperatorStateTests {
    let key = ModuleKey(namespace: "default", module: "common")

    func report(_ name: String, phase: NodePhase = .running, received: Int = 0) -> NodeStatusReport {
        NodeStatusReport(name: name, generation: 1, phase: phase, counters: NodeCounters(received: received, delivered: received))
    }

    @Test("a report whose counters alone changed is told apart from one whose phase changed")
    func countersApart() {
        let state = OperatorState()
        let first = state.recordReports(address: "host:1", [report("a"), report("b"), report("c")])
        #expect(first.changed == ["a", "b", "c"])
        let second = state.recordReports(address: "host:1", [report("a", received: 5), report("b", phase: .failed), report("c")])
        #expect(second.changed == ["b"])
        #expect(second.countersChanged == ["a"])
        let third = state.recordReports(address: "host:1", [report("a", received: 5), report("b", phase: .failed)])
        #expect(third.changed == ["c"], "a node no longer reported has changed")
        #expect(third.countersChanged.isEmpty)
    }

    @Test("plan inputs are counted per namespace, and a sync remembers the count it was planned from")
    func planInputs() {
        let state = OperatorState()
        #expect(state.planInputs("default") == 0)
        state.planInputsChanged(in: "default")
        state.planInputsChanged(in: "default")
        state.planInputsChanged(in: "other")
        #expect(state.planInputs("default") == 2)
        #expect(state.planInputs("other") == 1)

        _ = state.recordSync(key, OperatorState.SentSync(
            desiredHash: 1, address: "host:1", generation: 1, at: .now, results: [:], inputs: 2))
        state.planInputsChanged(in: "default")
        state.notePlanned(key, inputs: 3)
        #expect(state.lastSync(key)?.inputs == 3)
        #expect(state.lastSync(key)?.generation == 1, "noting a plan is not a sync")
    }

    @Test("a host that stopped reporting nodes it accepted has lost them; rejected nodes and recent syncs do not count")
    func lostNodes() {
        let state = OperatorState()
        let results = [
            "a": NodeSyncResult(name: "a", phase: .running, generation: 1),
            "rejected": NodeSyncResult(name: "rejected", phase: .failed, error: "bad"),
        ]
        let syncedAt = ContinuousClock.now
        _ = state.recordSync(key, OperatorState.SentSync(
            desiredHash: 1, address: "host:1", generation: 1, at: syncedAt, results: results, inputs: 0))
        _ = state.recordReports(address: "host:1", [])
        #expect(state.modulesMissingNodes(at: "host:1", syncedBefore: syncedAt).isEmpty, "a report may predate the sync")
        #expect(state.modulesMissingNodes(at: "host:1", syncedBefore: syncedAt + .seconds(1)) == [key])
        _ = state.recordReports(address: "host:1", [report("a")])
        #expect(state.modulesMissingNodes(at: "host:1", syncedBefore: syncedAt + .seconds(1)).isEmpty)
    }
}

@Suite("Handing memory back once a burst of work is over", .timeLimit(.minutes(2)))
struct IdleMemoryReleaseTests {
    @Test("caches are dropped once the work count stops changing, once per burst")
    func dropsAfterBurst() async throws {
        let work = Mutex(0)
        let looks = Mutex(0)  // how often the service looked at the count
        let drops = Mutex(0)
        let release = IdleMemoryRelease(
            workDone: { looks.withLock { $0 += 1 }; return work.withLock { $0 } }, dropCaches: { drops.withLock { $0 += 1 } },
            quiet: .milliseconds(20))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await release.run() }
            work.withLock { $0 += 5 }
            try await eventually("the first burst to be over") { drops.withLock { $0 } == 1 }
            work.withLock { $0 += 1 }
            try await eventually("the second burst to be over") { drops.withLock { $0 } == 2 }
            // Let it look at the unchanged count a few more times.
            let seen = looks.withLock { $0 }
            try await eventually("three more looks at the count") { looks.withLock { $0 } >= seen + 3 }
            group.cancelAll()
        }
        #expect(drops.withLock { $0 } == 2, "no drop without new work")
    }
}
