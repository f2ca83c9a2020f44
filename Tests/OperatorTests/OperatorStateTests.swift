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

    @Test("plan inputs grow with each change of their namespace only, and a sync remembers those it was planned from")
    func planInputs() {
        let state = OperatorState()
        #expect(state.planInputs("default") == 0)
        state.planInputsChanged(in: "default")
        let one = state.planInputs("default")
        state.planInputsChanged(in: "default")
        let two = state.planInputs("default")
        state.planInputsChanged(in: "other")
        #expect(0 < one && one < two)
        #expect(state.planInputs("default") == two, "a change in another namespace is none here")
        #expect(state.planInputs("other") > 0)

        _ = state.recordSync(key, OperatorState.SentSync(
            desiredHash: 1, address: "host:1", generation: 1, at: .now, results: [:], inputs: two))
        state.planInputsChanged(in: "default")
        let three = state.planInputs("default")
        #expect(three > two)
        state.notePlanned(key, inputs: three)
        #expect(state.lastSync(key)?.inputs == three)
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

@Suite("What the operator forgets about modules, nodes, hosts and signals that are gone")
struct OperatorStateForgettingTests {
    let common = ModuleKey(namespace: "default", module: "common")
    let other = ModuleKey(namespace: "default", module: "other")

    func report(_ name: String, phase: NodePhase = .running) -> NodeStatusReport {
        NodeStatusReport(name: name, generation: 1, phase: phase, counters: NodeCounters())
    }

    func sync(_ address: String, _ names: [String], inputs: Int = 0) -> OperatorState.SentSync {
        OperatorState.SentSync(
            desiredHash: names.hashValue, address: address, generation: 1, at: .now,
            results: Dictionary(uniqueKeysWithValues: names.map { ($0, NodeSyncResult(name: $0, phase: .running, generation: 1)) }),
            inputs: inputs)
    }

    @Test("a deleted module's sync and ownership go; its address's reports go once no module uses the address")
    func forgetModule() {
        let state = OperatorState()
        state.planInputsChanged(in: "default")
        _ = state.recordSync(common, sync("host:1", ["a", "b"], inputs: state.planInputs("default")))
        _ = state.recordSync(other, sync("host:1", ["c"], inputs: state.planInputs("default")))
        _ = state.recordReports(address: "host:1", [report("a"), report("b"), report("c")])
        #expect(state.counts.syncs == 2)
        #expect(state.counts.addresses == ["host:1"])

        state.forgetModule(common)
        #expect(state.lastSync(common) == nil)
        #expect(state.owners(of: "host:1") == [other], "the other module still owns the address")
        #expect(state.retainAddresses(["host:1"]).isEmpty)
        #expect(state.report(address: "host:1", node: "c") != nil)

        state.forgetModule(other)
        #expect(state.owners(of: "host:1").isEmpty)
        #expect(state.retainAddresses([]) == ["host:1"])
        #expect(state.report(address: "host:1", node: "c") == nil)
        #expect(state.counts.isEmpty, "\(state.counts)")
    }

    @Test("a module that moved to another address leaves the old one; its reports go once it is unused")
    func addressChange() {
        let state = OperatorState()
        _ = state.recordSync(common, sync("old:1", ["a"]))
        _ = state.recordReports(address: "old:1", [report("a")])
        _ = state.recordSync(common, sync("new:1", ["a"]))
        #expect(state.owners(of: "old:1").isEmpty)
        #expect(state.owners(of: "new:1") == [common])
        #expect(state.modulesMissingNodes(at: "old:1", syncedBefore: .now + .seconds(1)).isEmpty)
        #expect(state.retainAddresses(["new:1"]) == ["old:1"])
        #expect(state.counts.addresses == ["new:1"])
        #expect(state.report(address: "old:1", node: "a") == nil)
    }

    @Test("a deleted node's report goes; the other nodes' stay")
    func forgetNode() {
        let state = OperatorState()
        _ = state.recordSync(common, sync("host:1", ["a"]))
        _ = state.recordReports(address: "host:1", [report("a"), report("gone", phase: .stopped)])
        state.forgetNode("gone", of: common)
        #expect(state.report(address: "host:1", node: "gone") == nil)
        #expect(state.report(address: "host:1", node: "a") != nil)
        #expect(state.counts.reportedNodes == 1)
        // A report that still lists the node brings it back as a change.
        let again = state.recordReports(address: "host:1", [report("a"), report("gone", phase: .stopped)])
        #expect(again.changed == ["gone"])
    }

    @Test("a namespace's plan inputs go with its last sync or node, and never come back lower")
    func planInputsForgotten() {
        let state = OperatorState()
        state.planInputsChanged(in: "default")
        let read = state.planInputs("default")  // a sync in flight read these
        _ = state.recordSync(common, sync("host:1", [], inputs: read))
        state.planInputsChanged(in: "default")
        let changed = state.planInputs("default")
        #expect(changed > read)
        state.forgetNode("a", of: common)
        #expect(state.counts.namespaces == 1, "kept while a sync was planned from them")
        state.forgetModule(common)
        #expect(state.counts.namespaces == 0)
        #expect(state.planInputs("default") >= changed, "a sync planned before the change must still see one")
        state.planInputsChanged(in: "nodes-only")
        state.forgetNode("a", of: ModuleKey(namespace: "nodes-only", module: "missing"))
        #expect(state.counts.isEmpty, "\(state.counts)")
        state.planInputsChanged(in: "default")
        #expect(state.planInputs("default") > changed)
    }

    @Test("a delivery is remembered until it is forgotten")
    func deliveries() {
        let state = OperatorState()
        #expect(state.markDelivered("uid-1"))
        #expect(!state.markDelivered("uid-1"))
        #expect(state.counts.delivered == 1)
        state.forgetDelivery("uid-1")
        #expect(!state.wasDelivered("uid-1"))
        #expect(state.counts.isEmpty)
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
