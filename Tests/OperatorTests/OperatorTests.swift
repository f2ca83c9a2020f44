import FlowRevisions
import CRDModels
import ComponentKit
import Foundation
import KubernetesClient
import KubernetesModels
import ModuleHost
import Operator
import TestSupport
import Synchronization
import Testing

@Suite("The operator against an API server and an in-process module host", .timeLimit(.minutes(5)))
struct OperatorTests {
    @Test("applying the hello flow makes every node Ready, debug messages appear and the flow is healthy")
    func helloFlowRuns() async throws {
        try await withOperator(namespaces: nil, leaderElection: true) { harness in
            _ = try await harness.flows.create(TinyFlow(metadata: ObjectMeta(name: "hello")))
            for node in helloFlow() { _ = try await harness.nodes.create(node) }
            try await harness.waitUntilReady(["hello-ticker", "hello-debug"])
            try await eventually("ticks at the debug node") { await latestGreeting(harness.debugPayloads("hello-debug")) == "hello" }
            let ticker = try await harness.nodes.get("hello-ticker")
            #expect(ticker.metadata.finalizers?.contains(TinyflowOperator.nodeFinalizer) == true)
            #expect(ticker.status?.conditions[type: TinyNodeCondition.scheduled]?.status == .true)
            try await eventually("the flow healthy with a revision") {
                let status = try await harness.flows.get("hello").status
                return status?.health == .healthy && status?.readyNodes == 2 && status?.currentRevision != nil
            }
            try await eventually("message counters in the node status", timeout: .seconds(5)) {
                (try await harness.nodes.get("hello-debug").status?.metrics?.messagesIn ?? 0) > 0
            }
        }
    }

    @Test("patching a node's configuration changes what it does without restarting the host; counters stay consistent")
    func reconfigureInPlace() async throws {
        try await withOperator { harness in
            for node in helloFlow() { _ = try await harness.nodes.create(node) }
            try await harness.waitUntilReady(["hello-ticker", "hello-debug"])
            try await eventually("hello ticks") { await latestGreeting(harness.debugPayloads("hello-debug")) == "hello" }
            let runtime = harness.runtime
            let settings: JSONValue = ["interval": 20, "payload": ["greeting": "bye"]]
            // A merge patch, as kubectl patch sends: it cannot conflict with the operator's status writes.
            _ = try await harness.nodes.patch(
                "hello-ticker", .merge(["spec": ["ports": [["port": "_settings", "configuration": settings]]]]))
            try await eventually("bye ticks") { await latestGreeting(harness.debugPayloads("hello-debug")) == "bye" }
            try await eventually("the ticker Ready at generation 2") {
                let node = try await harness.nodes.get("hello-ticker")
                return node.metadata.generation == 2 && node.status?.conditions[type: TinyNodeCondition.ready]?.status == .true
                    && node.status?.observedGeneration == 2
            }
            let reports = runtime.statusReports()
            #expect(reports.first { $0.name == "hello-ticker" }?.generation == 2)
            for report in reports {
                let counters = report.counters
                #expect(counters.delivered + counters.errored + counters.expired <= counters.received, "\(report.name)")
            }
        }
    }

    @Test("an invalid configuration gives ConfigValid=False with the field path and leaves the other nodes running")
    func invalidConfiguration() async throws {
        try await withOperator { harness in
            for node in helloFlow() { _ = try await harness.nodes.create(node) }
            try await harness.waitUntilReady(["hello-ticker", "hello-debug"])
            _ = try await harness.nodes.create(node("broken", "ticker", settings: ["interval": 0]))
            try await eventually("broken has ConfigValid=False") {
                try await harness.condition("broken", TinyNodeCondition.configValid)?.status == .false
            }
            let valid = try #require(try await harness.condition("broken", TinyNodeCondition.configValid))
            #expect(valid.message.contains("interval"))
            #expect(valid.message.contains("spec.ports"))
            #expect(try await harness.condition("broken", TinyNodeCondition.scheduled)?.status == .false)
            #expect(await harness.runtime.recentMessages(node: "broken") == nil)
            #expect(try await harness.condition("hello-ticker", TinyNodeCondition.ready)?.status == .true)
            // The debug node keeps at most 50 messages, so count what it received instead.
            let runtime = harness.runtime
            let received = { runtime.statusReports().first { $0.name == "hello-debug" }?.counters.received ?? 0 }
            let before = received()
            try await eventually("the hello flow keeps ticking: hello-debug receives more than \(before) messages") {
                received() > before
            }
        }
    }

    @Test("deleting a node stops it on its host before the resource disappears")
    func deletionWaitsForTheHost() async throws {
        try await withOperator { harness in
            for node in helloFlow() { _ = try await harness.nodes.create(node) }
            _ = try await harness.nodes.create(node("extra", "debug", settings: ["keep": 5, "log": false]))
            try await harness.waitUntilReady(["hello-ticker", "hello-debug", "extra"])
            #expect(await harness.runtime.recentMessages(node: "extra") != nil)
            _ = try await harness.nodes.delete("extra")
            let runtime = harness.runtime
            try await eventually("extra gone from the API") {
                let present = try await harness.nodes.getOptional("extra") != nil
                if present { return false }
                // The resource is gone: the host must already have stopped the node.
                #expect(runtime.statusReports().allSatisfy { $0.name != "extra" || $0.phase == .stopped })
                return true
            }
            #expect(await runtime.recentMessages(node: "extra") == nil)
            #expect(try await harness.condition("hello-debug", TinyNodeCondition.ready)?.status == .true)
        }
    }

    @Test("a flow records revisions, and rolling back through the API makes the earlier configuration live again")
    func revisionsAndRollback() async throws {
        try await withOperator { harness in
            _ = try await harness.flows.create(TinyFlow(metadata: ObjectMeta(name: "hello")))
            for node in helloFlow() { _ = try await harness.nodes.create(node) }
            try await harness.waitUntilReady(["hello-ticker", "hello-debug"])
            // Nodes are created one by one, so the flow may first see one of them: the
            // baseline is the revision holding both.
            try await eventually("a revision with both nodes") {
                let status = try await harness.flows.get("hello").status
                return status?.revisions.first { $0.number == status?.currentRevision }?.nodes.count == 2
            }
            let baseline = try #require(try await harness.flows.get("hello").status?.currentRevision)
            _ = try await harness.nodes.patch("hello-ticker", .merge([
                "metadata": ["annotations": [.init(stringLiteral: TinyflowOperator.changeSummaryAnnotation): "say bye"]],
                "spec": ["ports": [["port": "_settings", "configuration": ["interval": 20, "payload": ["greeting": "bye"]]]]],
            ]))
            try await eventually("a revision after the change") {
                try await harness.flows.get("hello").status?.currentRevision == baseline + 1
            }
            try await eventually("bye ticks") { await latestGreeting(harness.debugPayloads("hello-debug")) == "bye" }
            let flow = try await harness.flows.get("hello")
            let revisions = flow.status?.revisions ?? []
            #expect(revisions.last?.summary == "say bye")
            let earlier = try #require(revisions.first { $0.number == baseline })
            let current = try await harness.nodes.list().items.filter { $0.metadata.labels?[TinyflowOperator.flowLabel] == "hello" }
            let plan = FlowHistory.rollback(to: earlier, current: current)
            #expect(plan.apply.map(\.name) == ["hello-ticker"])
            #expect(plan.delete.isEmpty)
            for snapshot in plan.apply {
                _ = try await harness.nodes.patch(snapshot.name, .merge(["spec": try JSONValue(encoding: snapshot.spec)]))
            }
            try await eventually("hello ticks again") { await latestGreeting(harness.debugPayloads("hello-debug")) == "hello" }
            try await eventually("a new revision equal to the baseline") {
                let status = try await harness.flows.get("hello").status
                guard let revision = status?.revisions.first(where: { $0.number == status?.currentRevision }) else { return false }
                return revision.number == baseline + 2 && revision.nodes == earlier.nodes
            }
            let history = try await harness.flows.get("hello").status?.revisions.map(\.number) ?? []
            #expect(Array(history.suffix(3)) == [baseline, baseline + 1, baseline + 2])
        }
    }

    @Test("a flow applied node by node becomes one revision once its node set settles")
    func revisionsSettle() async throws {
        try await withOperator(revisionSettleTime: .seconds(2)) { harness in
            _ = try await harness.flows.create(TinyFlow(metadata: ObjectMeta(name: "many")))
            let names = (0..<20).map { "many-\($0)" }
            for name in names {
                _ = try await harness.nodes.create(node(name, "debug", settings: ["keep": 1, "log": false], flow: "many"))
            }
            try await eventually("a revision") { try await harness.flows.get("many").status?.currentRevision != nil }
            let revisions = try await harness.flows.get("many").status?.revisions ?? []
            #expect(revisions.count == 1)
            #expect(revisions.first?.nodes.map(\.name) == names.sorted())
            #expect(revisions.first?.summary == "added " + names.sorted().joined(separator: ", "))
        }
    }

    @Test("a flow's counts and health are written at most once per flowStatusInterval while its nodes start")
    func flowStatusWritesAreSpaced() async throws {
        try await withOperator(revisionSettleTime: .milliseconds(100)) { harness in
            let flow = try await harness.flows.create(TinyFlow(metadata: ObjectMeta(name: "busy")))
            let names = (0..<40).map { "busy-\($0)" }
            let writes = Task {
                var count = 0
                for try await event in try await harness.flows.watch(resourceVersion: flow.metadata.resourceVersion) {
                    guard case .modified(let flow) = event else { continue }
                    count += 1
                    if flow.status?.readyNodes == names.count { break }
                }
                return count
            }
            let start = ContinuousClock.now
            for name in names {
                _ = try await harness.nodes.create(node(name, "debug", settings: ["keep": 1, "log": false], flow: "busy"))
            }
            try await eventually("every node counted Ready", timeout: .seconds(60)) {
                try await harness.flows.get("busy").status?.readyNodes == names.count
            }
            let seconds = Int((ContinuousClock.now - start).components.seconds) + 1
            let count = try await writes.value
            // One write per interval, plus the finalizer's and the revision's, which are not spaced.
            #expect(count <= seconds + 3, "\(count) writes of the flow in \(seconds) s for \(names.count) nodes")
        }
    }

    @Test("a burst of node changes is batched into few SyncNodes calls with increasing generations")
    func syncsAreBatched() async throws {
        let recorder = Mutex<SyncRecorder?>(nil)
        try await withOperator(syncWindow: .milliseconds(100), hosts: { base in
            let wrapped = SyncRecorder(base)
            recorder.withLock { $0 = wrapped }
            return wrapped
        }) { harness in
            let names = (0..<30).map { "sink-\($0)" }
            // Five at a time: a burst, as a pipelined apply sends it.
            for start in stride(from: 0, to: names.count, by: 5) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for name in names[start..<min(start + 5, names.count)] {
                        group.addTask { _ = try await harness.nodes.create(node(name, "debug", settings: ["log": false])) }
                    }
                    try await group.waitForAll()
                }
            }
            try await harness.waitUntilReady(names)
            let sent = try #require(recorder.withLock { $0 }).sent
            #expect(sent.count < names.count / 2, "\(sent.count) syncs for \(names.count) nodes")
            #expect(sent == sent.sorted() && Set(sent).count == sent.count)
            #expect(harness.runtime.statusReports().filter { $0.phase == .running }.count == names.count)
        }
    }

    @Test("a TinySignal is delivered to its node once and marked Delivered")
    func signalDeliveredOnce() async throws {
        try await withOperator { harness in
            for node in helloFlow() { _ = try await harness.nodes.create(node) }
            _ = try await harness.nodes.create(node("inbox", "debug", settings: ["keep": 20, "log": false]))
            try await harness.waitUntilReady(["inbox"])
            _ = try await harness.signals.create(TinySignal(
                metadata: ObjectMeta(name: "ping"), spec: TinySignalSpec(node: "inbox", port: "in", payload: ["ping": 1])))
            try await eventually("ping Delivered") { try await harness.signals.get("ping").status?.phase == .delivered }
            let status = try #require(try await harness.signals.get("ping").status)
            #expect(status.reason == "Delivered")
            #expect(status.completionTime != nil)
            // A spec change re-runs the reconcile; the signal must not go out again.
            _ = try await harness.signals.update("ping") { $0.spec.payload = ["ping": 2] }
            _ = try await harness.signals.create(TinySignal(
                metadata: ObjectMeta(name: "pong"), spec: TinySignalSpec(node: "inbox", port: "in", payload: ["pong": 1])))
            try await eventually("pong Delivered") { try await harness.signals.get("pong").status?.phase == .delivered }
            let payloads = await harness.debugPayloads("inbox")
            #expect(payloads.filter { $0 == ["ping": 1] }.count == 1)
            #expect(!payloads.contains(["ping": 2]))
            #expect(payloads.contains(["pong": 1]))
        }
    }

    @Test("a signal to a node that does not exist fails after retries")
    func signalToMissingNodeFails() async throws {
        try await withOperator { harness in
            _ = try await harness.signals.create(TinySignal(
                metadata: ObjectMeta(name: "lost"), spec: TinySignalSpec(node: "nowhere", port: "in")))
            try await eventually("lost Failed", timeout: .seconds(15)) {
                try await harness.signals.get("lost").status?.phase == .failed
            }
            #expect(try await harness.signals.get("lost").status?.reason == "NodeNotFound")
        }
    }
}

@Suite("The operator's API client enforces OperatorPermissions.rules", .timeLimit(.minutes(2)))
struct PermissionTests {
    @Test("requests map to RBAC verbs, resources and subresources")
    func attributes() {
        let base = "https://api:6443"
        let cases: [(String, String, String, String, String)] = [
            ("GET", "/apis/tinyflow.dev/v1alpha1/namespaces/a/tinynodes", "list", "tinyflow.dev", "tinynodes"),
            ("GET", "/apis/tinyflow.dev/v1alpha1/tinynodes?watch=true&resourceVersion=1", "watch", "tinyflow.dev", "tinynodes"),
            ("GET", "/apis/tinyflow.dev/v1alpha1/namespaces/a/tinynodes/x", "get", "tinyflow.dev", "tinynodes"),
            ("PATCH", "/apis/tinyflow.dev/v1alpha1/namespaces/a/tinynodes/x/status", "patch", "tinyflow.dev", "tinynodes/status"),
            ("POST", "/apis/events.k8s.io/v1/namespaces/a/events", "create", "events.k8s.io", "events"),
            ("PUT", "/apis/coordination.k8s.io/v1/namespaces/a/leases/l", "update", "coordination.k8s.io", "leases"),
            ("DELETE", "/api/v1/namespaces/a/secrets/s", "delete", "", "secrets"),
        ]
        for (method, path, verb, group, resource) in cases {
            let attributes = PermissionCheckingTransport.attributes(method: method, url: base + path)
            #expect(attributes?.verb == verb, "\(method) \(path)")
            #expect(attributes?.group == group, "\(method) \(path)")
            #expect(attributes?.resource == resource, "\(method) \(path)")
        }
    }

    @Test("calls inside the rules pass and calls outside them are denied")
    func denial() {
        #expect(PermissionCheckingTransport.check(method: "PATCH", url: "https://h/apis/tinyflow.dev/v1alpha1/namespaces/a/tinynodes/x") == nil)
        #expect(PermissionCheckingTransport.check(method: "GET", url: "https://h/api/v1/namespaces/a/secrets/s") != nil)
        #expect(PermissionCheckingTransport.check(method: "DELETE", url: "https://h/apis/coordination.k8s.io/v1/namespaces/a/leases/l") != nil)
        #expect(PermissionCheckingTransport.check(method: "PUT", url: "https://h/apis/tinyflow.dev/v1alpha1/namespaces/a/tinyflows/f/status") == nil)
    }
}

/// Answers every request with an empty object and counts what reached it.
final class CountingTransport: HTTPTransport {
    private let count = Synchronization.Mutex(0)
    var requests: Int { count.withLock { $0 } }

    func execute(_ request: TransportRequest) async throws -> TransportResponse {
        count.withLock { $0 += 1 }
        let body = #"{"apiVersion":"tinyflow.dev/v1alpha1","kind":"TinyNode","metadata":{"name":"x"},"spec":{"module":"m","component":"c"}}"#
        return TransportResponse(status: 200, headers: [("content-type", "application/json")], body: ResponseBody(data: Data(body.utf8)))
    }

    func shutdown() async throws {}
}

@Suite("The operator's client at the network seam", .timeLimit(.minutes(2)))
struct PermissionEnforcementTests {
    @Test("a call the chart does not grant fails before it reaches the server; a granted one goes through")
    func enforcedAtTheTransport() async throws {
        let transport = CountingTransport()
        let client = try KubernetesClient(
            configuration: ClientConfiguration(server: try #require(URL(string: "http://127.0.0.1:1"))), transport: transport)
        let checked = try client.enforcingOperatorPermissions()
        let error = await #expect(throws: KubernetesError.self) {
            _ = try await checked.api(ConfigMap.self, namespace: "a").get("settings")
        }
        #expect(error?.code == 403)
        #expect(error?.reason == "Forbidden")
        #expect(error?.status?.message?.contains("RBAC rules do not allow get on configmaps") == true)
        #expect(transport.requests == 0)
        _ = try await checked.api(TinyNode.self, namespace: "a").get("x")
        #expect(transport.requests == 1)
    }
}
