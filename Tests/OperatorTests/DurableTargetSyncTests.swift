import CRDModels
import CommonComponents
import ComponentKit
import KubernetesClient
import KubernetesModels
import Logging
import ModuleHost
@testable import Operator
import Synchronization
import TestSupport
import Testing

/// Passes calls to the harness's hosts, and those to `late:0` to a host of its own that answers
/// only once ``open()`` was called (before, as a host that is not up yet).
final class LateHost: ModuleHostConnector {
    struct NotUp: Error {}

    let base: any ModuleHostConnector
    let runtime: ModuleRuntime
    private let isOpen = Mutex(false)

    init(_ base: any ModuleHostConnector, runtime: ModuleRuntime) {
        self.base = base
        self.runtime = runtime
    }

    func open() { isOpen.withLock { $0 = true } }

    func connection(to address: String) async throws -> any ModuleHostConnection {
        guard address == "late:0" else { return try await base.connection(to: address) }
        guard isOpen.withLock({ $0 }) else { throw NotUp() }
        return try await LocalModuleHostConnector(hosts: [address: runtime]).connection(to: address)
    }

    func shutdown() async { await base.shutdown() }
}

@Suite("Durable edges: what the operator sends a target's module", .timeLimit(.minutes(2)))
struct DurableTargetSyncTests {
    // Found by the acceptance tests (tinyflow up, LocalModeTests): a durable edge's target was
    // synced while its source's module had not reported its components yet, so without the
    // input port; when the source's module came up, only the modules of the source and of the
    // nodes sending to it synced again, and nothing ever took the target's messages.
    @Test("when a durable edge's source becomes schedulable (its module's host comes up), the target's module syncs again with the input port")
    func targetSyncsWhenTheSourceComesUp() async throws {
        let late = ModuleRuntime(module: CommonModule.definition, logger: Logger(label: "tinyflow.test.late"))
        let connector = Mutex<LateHost?>(nil)
        try await withOperator(hosts: { base in
            let host = LateHost(base, runtime: late)
            connector.withLock { $0 = host }
            return host
        }) { harness in
            let host = try #require(connector.withLock { $0 })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await late.run() }
                defer {
                    group.cancelAll()
                }
                _ = try await harness.modules.create(
                    TinyModule(metadata: ObjectMeta(name: "late"), spec: TinyModuleSpec(image: "tinyflow/common", address: "late:0")))
                var feed = node("feed", "transform", settings: [:], edges: [Edge(id: "stored", port: "out", to: "sink:in", delivery: .durable)])
                feed.spec.module = "late"
                _ = try await harness.nodes.create(feed)
                _ = try await harness.nodes.create(node("sink", "debug", settings: ["log": false]))
                // The harness's host (module common) keeps no message store: it runs the sink as long as
                // no durable edge leads to it, and refuses it once one does.
                try await harness.waitUntilReady(["sink"])
                host.open()
                try await eventually("the sink's host told of its durable input (and refusing it)", timeout: .seconds(30)) {
                    try await harness.condition("sink", TinyNodeCondition.edgesResolved)?.reason == NodeRejection.durableStoreUnavailable
                }
                await late.shutdown()
            }
        }
    }

    // Also found by them: a resumed flow's nodes kept Paused=True while nothing else about them changed.
    @Test("pausing and resuming a flow turns its idle nodes' Paused condition True, then False")
    func pausedConditionFollowsTheFlow() async throws {
        try await withOperator { harness in
            _ = try await harness.flows.create(TinyFlow(metadata: ObjectMeta(name: "quiet"), spec: TinyFlowSpec()))
            _ = try await harness.nodes.create(node("idle", "debug", settings: ["log": false], flow: "quiet"))
            try await harness.waitUntilReady(["idle"])
            for paused in [true, false] {
                _ = try await harness.flows.patch("quiet", .merge(["spec": ["paused": .bool(paused)]]))
                try await eventually("Paused=\(paused)", timeout: .seconds(15)) {
                    try await harness.condition("idle", TinyNodeCondition.paused)?.status == (paused ? .true : .false)
                }
            }
        }
    }
}
