import FlowRevisions
import CRDModels
@testable import ControlPlane
import Foundation
import KubernetesClient
import ModuleHost
import Operator
import Testing

/// Catalogue entries as module hosts report them.
enum Catalogue {
    static let ticker = ComponentDescription(
        info: ComponentSummary(name: "ticker"),
        ports: [
            PortDescription(
                name: "_settings", direction: .input, isSettings: true,
                configurationSchema: [
                    "type": "object", "additionalProperties": false,
                    "properties": ["interval": ["type": "integer", "minimum": 1, "default": 1000]],
                ]),
            PortDescription(name: "out", direction: .output),
        ])
    static let debug = ComponentDescription(
        info: ComponentSummary(name: "debug"), ports: [PortDescription(name: "in", direction: .input)])
    static let client = ComponentDescription(
        info: ComponentSummary(name: "http-request"),
        ports: [PortDescription(name: "in", direction: .input), PortDescription(name: "response", direction: .output)])
}

func module(_ name: String, components: [ComponentDescription], address: String? = nil) -> TinyModule {
    TinyModule(
        metadata: ObjectMeta(name: name, namespace: "default"), spec: TinyModuleSpec(image: "img", version: "1.0"),
        status: TinyModuleStatus(components: components, address: address))
}

func node(
    _ name: String, module: String = "common", component: String, settings: JSONValue? = nil, edges: [Edge] = [],
    generation: Int64 = 1, deleting: Bool = false
) -> TinyNode {
    var metadata = ObjectMeta(name: name, namespace: "default")
    metadata.generation = generation
    if deleting { metadata.deletionTimestamp = Timestamp(Date(timeIntervalSince1970: 5)) }
    return TinyNode(
        metadata: metadata,
        spec: TinyNodeSpec(
            module: module, component: component,
            ports: settings.map { [PortConfiguration(port: "_settings", configuration: $0)] } ?? [], edges: edges))
}

@Suite("Planning module hosts' node sets")
struct PlannerTests {
    let modules = [
        module("common", components: [Catalogue.ticker, Catalogue.debug], address: "common:9000"),
        module("http", components: [Catalogue.client], address: "http:9000"),
    ]

    @Test("valid nodes go to their module; cross-module targets become remote nodes with addresses")
    func desiredNodes() {
        let plan = ClusterPlan(
            nodes: [
                node("tick", component: "ticker", settings: ["interval": 5], edges: [
                    Edge(id: "a", port: "out", to: "sink:in"), Edge(id: "b", port: "out", to: "fetch:in"),
                ]),
                node("sink", component: "debug"),
                node("fetch", module: "http", component: "http-request", edges: [Edge(id: "c", port: "response", to: "sink:in")]),
            ],
            modules: modules)
        #expect(plan.modules["common"]?.nodes.map(\.name) == ["sink", "tick"])
        #expect(plan.modules["common"]?.remoteNodes == ["fetch": "http"])
        #expect(plan.modules["common"]?.moduleAddresses == ["http": ["http:9000"]])
        #expect(plan.modules["http"]?.nodes.map(\.name) == ["fetch"])
        #expect(plan.modules["http"]?.remoteNodes == ["sink": "common"])
        #expect(plan.nodes.values.allSatisfy { $0.isSchedulable })
    }

    @Test("nodes that would make a module's sync larger than its hosts take are left out with the reason; the rest of the module and other modules run")
    func syncSizeBudget() {
        let blob = ComponentDescription(
            info: ComponentSummary(name: "blob"),
            ports: [PortDescription(name: "_settings", direction: .input, isSettings: true, configurationSchema: ["type": "object"])])
        let modules = [module("big", components: [blob], address: "big:9000"), module("common", components: [Catalogue.debug], address: "common:9000")]
        let megabyte = String(repeating: "x", count: 1 << 20)
        let nodes = (0..<20).map { node(String(format: "n%02d", $0), module: "big", component: "blob", settings: ["data": .string(megabyte)]) }
            + [node("sink", component: "debug")]
        let plan = ClusterPlan(nodes: nodes, modules: modules)
        let scheduled = plan.modules["big"]?.nodes.map(\.name) ?? []
        #expect(scheduled == (0..<11).map { String(format: "n%02d", $0) }, "the first nodes by name fill the budget: \(scheduled)")
        let sent = plan.modules["big"]?.nodes.reduce(0) { $0 + ($1.ports.first?.configuration.minimumEncodedSize() ?? 0) } ?? 0
        #expect(sent <= ClusterPlan.maximumSyncBytes)
        let left = plan.nodes["n11"]
        #expect(left?.isSchedulable == false)
        #expect(left?.validation.configuration.first?.message.contains("module \"big\" has no room for this node") == true)
        #expect(plan.modules["common"]?.nodes.map(\.name) == ["sink"])
    }

    @Test("an invalid node is left out and reported, and never affects the others")
    func invalidNodeIsolated() {
        let plan = ClusterPlan(
            nodes: [
                node("bad", component: "ticker", settings: ["interval": "fast"], edges: [Edge(id: "a", port: "out", to: "sink:in")]),
                node("sink", component: "debug"),
                node("lost", module: "nowhere", component: "ticker"),
                node("alien", component: "teleporter"),
            ],
            modules: modules)
        #expect(plan.modules["common"]?.nodes.map(\.name) == ["sink"])
        #expect(plan.nodes["bad"]?.validation.configuration.map(\.description) == [
            #"spec.ports[0].configuration.interval: expected integer >= 1, got "fast""#
        ])
        #expect(plan.nodes["lost"]?.resolution == .moduleNotFound)
        #expect(plan.nodes["alien"]?.validation.configuration.first?.path == "spec.component")
        #expect(plan.nodes["sink"]?.isSchedulable == true)
    }

    @Test("edges to missing or deleting nodes are unresolved; mappings are compiled")
    func edges() {
        let plan = ClusterPlan(
            nodes: [
                node("tick", component: "ticker", edges: [
                    Edge(id: "a", port: "out", to: "gone:in"), Edge(id: "b", port: "out", to: "ghost:in"),
                    Edge(id: "c", port: "out", to: "sink:in", mapping: ["x": "{{ $.payload + }}"]),
                ]),
                node("gone", component: "debug", deleting: true),
                node("sink", component: "debug"),
            ],
            modules: modules)
        let edges = plan.nodes["tick"]?.validation.edges.map(\.description) ?? []
        #expect(edges.count == 3)
        #expect(edges[0] == #"spec.edges[0].to: no node "gone""#)
        #expect(edges[1] == #"spec.edges[1].to: no node "ghost""#)
        #expect(edges[2].hasPrefix("spec.edges[2].mapping.x: expected"))
        #expect(plan.modules["common"]?.nodes.map(\.name) == ["sink"], "deleting and invalid nodes are not scheduled")
    }

    @Test("a module that has not reported its catalogue leaves its nodes unscheduled")
    func catalogueUnknown() {
        let plan = ClusterPlan(nodes: [node("tick", component: "ticker")], modules: [module("common", components: [])])
        guard case .catalogueUnknown? = plan.nodes["tick"]?.resolution else {
            Issue.record("expected catalogueUnknown")
            return
        }
        #expect(plan.modules["common"]?.nodes.isEmpty == true)
    }
}

@Suite("TinyNode status")
struct NodeStatusBuilderTests {
    let now = Timestamp(Date(timeIntervalSince1970: 100))
    let modules = [module("common", components: [Catalogue.ticker, Catalogue.debug], address: "common:9000")]

    func plan(_ node: TinyNode) throws -> NodePlan {
        try #require(ClusterPlan(nodes: [node], modules: modules).nodes[node.metadata.name ?? ""])
    }

    @Test("a running node is Ready with its module, component, ports and metrics")
    func ready() throws {
        let node = node("tick", component: "ticker", generation: 3)
        var counters = NodeCounters(received: 0, delivered: 0, errored: 0, expired: 0, sent: 7)
        counters.lastMessageTime = Date(timeIntervalSince1970: 90)
        let status = NodeStatusBuilder.status(
            for: try plan(node), sync: NodeSyncResult(name: "tick", phase: .running),
            report: NodeStatusReport(name: "tick", generation: 3, phase: .running, counters: counters), now: now)
        #expect(status.observedGeneration == 3)
        #expect(status.module == ModuleReference(name: "common", version: "1.0", address: "common:9000"))
        #expect(status.component?.name == "ticker")
        #expect(status.ports.map(\.name) == ["_settings", "out"])
        #expect(status.conditions.map(\.type) == ["ConfigValid", "EdgesResolved", "Scheduled", "Ready"])
        #expect(status.conditions.allSatisfy { $0.status == .true && $0.observedGeneration == 3 })
        #expect(status.metrics == NodeMetrics(messagesOut: 7, lastMessageTime: Timestamp(Date(timeIntervalSince1970: 90)), delivered: 0))
    }

    @Test(
        "Ready says why a node is not running",
        arguments: [
            (NodeSyncResult?.none, NodeStatusReport?.none, ConditionStatus.unknown, "Pending"),
            (NodeSyncResult(name: "tick", phase: .failed, error: "boom"), nil, .false, "HostRejected"),
            (NodeSyncResult(name: "tick", phase: .running), NodeStatusReport(name: "tick", generation: 1, phase: .backingOff, restarts: 2, lastError: "x"), .false, "BackingOff"),
            (NodeSyncResult(name: "tick", phase: .running), NodeStatusReport(name: "tick", generation: 0, phase: .running), .false, "Updating"),
            (NodeSyncResult(name: "tick", phase: .running), nil, .unknown, "Pending"),
            (NodeSyncResult(name: "tick", phase: .running, generation: 0), nil, .unknown, "Pending"),
        ])
    func notReady(sync: NodeSyncResult?, report: NodeStatusReport?, status expected: ConditionStatus, reason: String) throws {
        let status = NodeStatusBuilder.status(for: try plan(node("tick", component: "ticker")), sync: sync, report: report, now: now)
        #expect(status.conditions[type: "Ready"]?.status == expected)
        #expect(status.conditions[type: "Ready"]?.reason == reason)
    }

    @Test("settings the component rejects make ConfigValid false at the spec's path, not only Ready")
    func settingsRejected() throws {
        let node = node("greet", component: "ticker", settings: ["interval": 5], generation: 2)
        let report = NodeStatusReport(
            name: "greet", generation: 2, phase: .failed,
            lastError: "settings rejected: _settings.template.a: expected an expression after '+'")
        let status = NodeStatusBuilder.status(
            for: try plan(node), sync: NodeSyncResult(name: "greet", phase: .running), report: report, now: now)
        let expected = "spec.ports[0].configuration.template.a: expected an expression after '+'"
        #expect(status.conditions[type: "ConfigValid"]?.status == .false)
        #expect(status.conditions[type: "ConfigValid"]?.reason == "SettingsRejected")
        #expect(status.conditions[type: "ConfigValid"]?.message == expected)
        #expect(status.conditions[type: "Ready"]?.reason == "SettingsRejected")
        #expect(status.error == expected)

        // Another failure stays the host's; a report of an older generation says nothing about this spec.
        let crashed = NodeStatusReport(name: "greet", generation: 2, phase: .failed, lastError: "handler crashed")
        let other = NodeStatusBuilder.status(for: try plan(node), sync: NodeSyncResult(name: "greet", phase: .running), report: crashed, now: now)
        #expect(other.conditions[type: "ConfigValid"]?.status == .true)
        #expect(other.conditions[type: "Ready"]?.reason == "HostRejected")
        var stale = report
        stale.generation = 1
        let older = NodeStatusBuilder.status(for: try plan(node), sync: NodeSyncResult(name: "greet", phase: .running), report: stale, now: now)
        #expect(older.conditions[type: "ConfigValid"]?.status == .true)
    }

    @Test("a host's sync answer that it runs the spec's generation makes the node Ready before any report")
    func readyFromSync() throws {
        let node = node("tick", component: "ticker", generation: 2)
        let sync = NodeSyncResult(name: "tick", phase: .running, generation: 2)
        let beforeReports = NodeStatusBuilder.status(for: try plan(node), sync: sync, report: nil, now: now)
        #expect(beforeReports.conditions[type: "Ready"]?.status == .true)
        let staleReport = NodeStatusReport(name: "tick", generation: 1, phase: .running)
        #expect(NodeStatusBuilder.status(for: try plan(node), sync: sync, report: staleReport, now: now).conditions[type: "Ready"]?.status == .true)
        let failing = NodeStatusReport(name: "tick", generation: 2, phase: .backingOff, restarts: 1, lastError: "x")
        #expect(NodeStatusBuilder.status(for: try plan(node), sync: sync, report: failing, now: now).conditions[type: "Ready"]?.reason == "BackingOff")
    }

    @Test("an invalid node is not scheduled and says which field is wrong")
    func invalid() throws {
        let status = NodeStatusBuilder.status(
            for: try plan(node("tick", component: "ticker", settings: ["interval": 0])), sync: nil, report: nil, now: now)
        #expect(status.conditions[type: "ConfigValid"]?.status == .false)
        #expect(status.conditions[type: "ConfigValid"]?.message == "spec.ports[0].configuration.interval: expected integer >= 1, got 0")
        #expect(status.conditions[type: "Scheduled"]?.reason == "InvalidSpec")
        #expect(status.conditions[type: "Ready"]?.reason == "InvalidSpec")
    }
}

@Suite("Flow history")
struct FlowHistoryTests {
    let t1 = Timestamp(Date(timeIntervalSince1970: 1))
    let t2 = Timestamp(Date(timeIntervalSince1970: 2))

    @Test("each change of the node set is a new numbered revision; no change records nothing")
    func revisions() throws {
        let v1 = [node("a", component: "ticker", settings: ["interval": 1]), node("b", component: "debug")]
        let first = try #require(FlowHistory.record(v1, in: TinyFlowStatus(), author: "alice", summary: nil, now: t1, limit: 10))
        #expect(first.currentRevision == 1)
        #expect(first.revisions.first?.summary == "added a, b")
        #expect(FlowHistory.record(v1, in: first, author: "alice", summary: nil, now: t2, limit: 10) == nil)

        let v2 = [node("a", component: "ticker", settings: ["interval": 2]), node("c", component: "debug")]
        let second = try #require(FlowHistory.record(v2, in: first, author: "bob", summary: "faster ticks", now: t2, limit: 10))
        #expect(second.revisions.map(\.number) == [1, 2])
        #expect(second.revisions.last?.summary == "faster ticks")
        #expect(second.revisions.last?.author == "bob")
        #expect(FlowHistory.describeChange(from: first.revisions[0].nodes, to: second.revisions[1].nodes) == "added c; changed a; removed b")
    }

    @Test("rolling back computes the specs to apply and the nodes to delete")
    func rollback() throws {
        let v1 = [node("a", component: "ticker", settings: ["interval": 1]), node("b", component: "debug")]
        let status = try #require(FlowHistory.record(v1, in: TinyFlowStatus(), author: nil, summary: nil, now: t1, limit: 10))
        let current = [node("a", component: "ticker", settings: ["interval": 2]), node("c", component: "debug")]
        let plan = FlowHistory.rollback(to: status.revisions[0], current: current)
        #expect(plan.apply.map(\.name) == ["a", "b"])
        #expect(plan.apply.first?.spec.configuration(of: "_settings") == ["interval": 1])
        #expect(plan.delete == ["c"])
    }

    @Test("the history keeps at most revisionHistoryLimit revisions")
    func limit() throws {
        var status = TinyFlowStatus()
        for interval in 1...5 {
            status = try #require(FlowHistory.record(
                [node("a", component: "ticker", settings: ["interval": .integer(interval)])], in: status, author: nil,
                summary: nil, now: t1, limit: 3))
        }
        #expect(status.revisions.map(\.number) == [3, 4, 5])
        #expect(status.currentRevision == 5)
    }

    /// A flow's stored status after `limit`-bounded revisions of node `a` with intervals `intervals`.
    func history(_ intervals: ClosedRange<Int>, limit: Int = 3) throws -> TinyFlowStatus {
        var status = TinyFlowStatus()
        for interval in intervals {
            status = try #require(FlowHistory.record(
                [node("a", component: "ticker", settings: ["interval": .integer(interval)])], in: status, author: nil,
                summary: nil, now: t1, limit: limit))
        }
        return status
    }

    @Test("the operator caches the nodes of the current revision only, and every revision's number and summary")
    func cachedForm() throws {
        let flow = TinyFlow(metadata: ObjectMeta(name: "f"), spec: TinyFlowSpec(), status: try history(1...3))
        let cached = FlowHistory.cachedForm(of: flow)
        #expect(cached.status?.revisions.map(\.number) == [1, 2, 3])
        #expect(cached.status?.revisions.map(\.summary) == flow.status?.revisions.map(\.summary))
        #expect(cached.status?.revisions.map(\.nodes.count) == [0, 0, 1])
        #expect(cached.status?.revisions.last == flow.status?.revisions.last)
    }

    @Test("a status write from the cached form appends the new revision, drops the oldest, and keeps the stored nodes of the rest")
    func statusPatch() throws {
        let stored = try history(1...3)
        let cached = try #require(FlowHistory.cachedForm(of: TinyFlow(metadata: ObjectMeta(name: "f"), spec: TinyFlowSpec(), status: stored)).status)
        var next = try #require(FlowHistory.record(
            [node("a", component: "ticker", settings: ["interval": 9])], in: cached, author: "bob", summary: nil, now: t2, limit: 3))
        next.readyNodes = 1
        let patch = try FlowHistory.statusPatch(from: cached, to: next)
        let document: JSONValue = ["status": try JSONValue(encoding: stored)]
        let written = try applyJSONPatch(document, try JSONValue(encoding: patch))
        let result = try #require(try written["status"].map { try $0.decode(as: TinyFlowStatus.self) })
        #expect(result.revisions.map(\.number) == [2, 3, 4])
        #expect(result.revisions.prefix(2).map(\.nodes) == stored.revisions.suffix(2).map(\.nodes), "the nodes the cache dropped are still stored")
        #expect(result.revisions.last?.nodes.first?.spec.configuration(of: "_settings") == ["interval": 9])
        #expect(result.currentRevision == 4)
        #expect(result.readyNodes == 1)

        // Written over a history that moved on meanwhile, the patch fails instead of losing a revision.
        let movedOn: JSONValue = ["status": try JSONValue(encoding: try history(1...4))]
        #expect(throws: JSONPatchError.self) { try applyJSONPatch(movedOn, try JSONValue(encoding: patch)) }
    }

    @Test("the first status of a flow is written whole")
    func firstStatusPatch() throws {
        let status = try history(1...1)
        #expect(try FlowHistory.statusPatch(from: nil, to: status) == [.add("/status", try JSONValue(encoding: status))])
    }
}

@Suite("Reusing validations between plans")
struct ValidationCacheTests {
    let modules = [module("common", components: [Catalogue.ticker, Catalogue.debug], address: "common:9000")]

    func nodes(interval: Int = 5, sinks: Int = 3) -> [TinyNode] {
        [node("tick", component: "ticker", settings: ["interval": .integer(interval)], edges: [Edge(id: "a", port: "out", to: "sink-0:in")])]
            + (0..<sinks).map { node("sink-\($0)", component: "debug") }
    }

    @Test("unchanged nodes are not validated again; the cache keeps exactly the nodes of the last plan")
    func reuse() {
        let cache = ValidationCache()
        let first = ClusterPlan(nodes: nodes(), modules: modules, cache: cache)
        #expect(cache.reusedByLastPlan == 0)
        #expect(cache.count == 4)
        let second = ClusterPlan(nodes: nodes(), modules: modules, cache: cache)
        #expect(cache.reusedByLastPlan == 4)
        #expect(second.modules == first.modules)
        _ = ClusterPlan(nodes: nodes(sinks: 2), modules: modules, cache: cache)
        #expect(cache.count == 3, "a deleted node's validation is dropped")
    }

    @Test("a changed spec, a vanished edge target or a changed catalogue is validated again")
    func invalidation() {
        let cache = ValidationCache()
        _ = ClusterPlan(nodes: nodes(), modules: modules, cache: cache)

        let invalid = ClusterPlan(nodes: nodes(interval: 0), modules: modules, cache: cache)
        #expect(cache.reusedByLastPlan == 3)
        #expect(invalid.nodes["tick"]?.validation.configuration.first?.path == "spec.ports[0].configuration.interval")

        let withoutTarget = ClusterPlan(nodes: nodes().filter { $0.metadata.name != "sink-0" }, modules: modules, cache: cache)
        #expect(withoutTarget.nodes["tick"]?.validation.edges.first?.message == "no node \"sink-0\"")

        var changed = modules
        changed[0].metadata.resourceVersion = "2"
        changed[0].status?.components = [Catalogue.debug]
        let uncatalogued = ClusterPlan(nodes: nodes(), modules: changed, cache: cache)
        #expect(cache.reusedByLastPlan == 0)
        #expect(uncatalogued.nodes["tick"]?.isSchedulable == false)
        #expect(uncatalogued.nodes["sink-1"]?.isSchedulable == true)
    }
}

/// The storage reference of a copy-on-write collection: equal for two copies of one storage.
private func identity<T>(of value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

@Suite("What the operator caches of a TinyNode")
struct NodeCacheCompactionTests {
    @Test("managedFields shrink to who last wrote the node (not its status, not the operator's finalizer); kubectl's last-applied copy goes; the rest is untouched")
    func compaction() {
        var original = node("tick", component: "ticker", settings: ["interval": 5])
        original.metadata.managedFields = [
            ["manager": "kubectl", "operation": "Update", "time": "2026-11-23T10:00:00Z", "fieldsV1": ["f:spec": ["f:ports": [:]]]],
            ["manager": "tinyflow-operator", "operation": "Update", "subresource": "status", "time": "2026-11-23T10:05:00Z",
             "fieldsV1": ["f:status": [:]]],
            ["manager": "helm", "operation": "Apply", "time": "2026-11-23T09:00:00Z"],
            ["manager": "tinyflow-kubernetes-client", "operation": "Update", "time": "2026-11-23T10:06:00Z",
             "fieldsV1": ["f:metadata": ["f:finalizers": [:]]]],
        ]
        original.metadata.annotations = [
            NodeCacheCompaction.lastAppliedAnnotation: String(repeating: "{}", count: 500), "tinyflow.dev/change-summary": "why",
        ]
        let compacted = NodeCacheCompaction().compact(original)
        // The operator's status and finalizer writes are later, but the node itself was last written by kubectl.
        #expect(compacted.metadata.managedFields == [["manager": "kubectl"]])
        #expect(compacted.metadata.annotations == ["tinyflow.dev/change-summary": "why"])
        #expect(compacted.spec == original.spec)
        #expect(compacted.status == original.status)
        #expect(compacted.metadata.labels == original.metadata.labels)
    }

    @Test("a write that set the change-author annotation (the console's) names its author; an annotation left by an earlier write does not")
    func author() {
        var original = node("tick", component: "ticker", settings: ["interval": 5])
        original.metadata.annotations = [TinyFlow.changeAuthorAnnotation: "alice"]
        let consoleWrite: JSONValue = [
            "manager": "tinyflow-console", "operation": "Apply", "time": "2026-11-23T10:00:00Z",
            "fieldsV1": ["f:metadata": ["f:annotations": ["f:tinyflow.dev/change-author": [:]]], "f:spec": [:]],
        ]
        original.metadata.managedFields = [consoleWrite]
        #expect(NodeCacheCompaction().compact(original).metadata.managedFields == [["manager": "tinyflow-console", "author": "alice"]])
        // kubectl edits the spec later: the annotation is still there, but names nobody.
        original.metadata.managedFields = [
            consoleWrite, ["manager": "kubectl-edit", "operation": "Update", "time": "2026-11-23T11:00:00Z", "fieldsV1": ["f:spec": [:]]],
        ]
        #expect(NodeCacheCompaction().compact(original).metadata.managedFields == [["manager": "kubectl-edit"]])
    }

    @Test("label sets, writers, port configurations, finalizers, conditions and strings repeated from node to node are stored once, and equal what was served")
    func stringSharing() {
        let compaction = NodeCacheCompaction()
        func served(_ name: String) -> TinyNode {
            var node = node(name, component: "ticker", settings: ["interval": 1000])
            node.metadata.labels = ["tinyflow.dev/flow": "a-rather-long-flow-name"]
            node.metadata.finalizers = [TinyflowOperator.nodeFinalizer]
            node.metadata.managedFields = [["manager": "kubectl", "operation": "Update", "time": .string("2026-11-23T10:00:0\(name.count)Z")]]
            node.status = TinyNodeStatus(conditions: [Condition(
                type: "ConfigValid", status: .true, reason: "ConfigurationMatchesSchemas",
                message: "the configuration of every port matches its schema", lastTransitionTime: Timestamp(Date(timeIntervalSince1970: 1_000)))])
            return node
        }
        let (a, b) = (compaction.compact(served("a")), compaction.compact(served("b")))
        #expect(a.metadata.finalizers == [TinyflowOperator.nodeFinalizer])
        #expect(b.status?.conditions.first?.message == "the configuration of every port matches its schema")
        func storage(_ text: String?) -> UnsafeRawPointer? {
            var text = text ?? ""
            return text.withUTF8 { UnsafeRawPointer($0.baseAddress) }
        }
        #expect(storage(a.status?.conditions.first?.message) == storage(b.status?.conditions.first?.message))
        #expect(storage(a.metadata.labels?["tinyflow.dev/flow"]) == storage(b.metadata.labels?["tinyflow.dev/flow"]))
        #expect(storage(a.apiVersion) == storage(b.apiVersion))
        #expect(a.metadata.labels == ["tinyflow.dev/flow": "a-rather-long-flow-name"])
        #expect(identity(of: a.metadata.labels) == identity(of: b.metadata.labels))
        #expect(b.metadata.managedFields == [["manager": "kubectl"]])
        #expect(identity(of: a.metadata.managedFields) == identity(of: b.metadata.managedFields))
        #expect(identity(of: a.metadata.finalizers) == identity(of: b.metadata.finalizers))
        #expect(identity(of: a.status?.conditions) == identity(of: b.status?.conditions))
        #expect(a.spec.ports == [PortConfiguration(port: "_settings", configuration: ["interval": 1000])])
        #expect(identity(of: a.spec.ports) == identity(of: b.spec.ports))
    }

    @Test("identical port lists of many nodes are stored once, and stay equal to what was served")
    func sharing() {
        let compaction = NodeCacheCompaction()
        func withPorts(_ name: String) -> TinyNode {
            var node = node(name, component: "ticker")
            node.status = TinyNodeStatus(ports: Catalogue.ticker.ports)
            return node
        }
        let a = compaction.compact(withPorts("a"))
        let b = compaction.compact(withPorts("b"))
        #expect(a.status?.ports == Catalogue.ticker.ports)
        let shared = (a.status?.ports ?? []).withUnsafeBufferPointer { first in
            (b.status?.ports ?? []).withUnsafeBufferPointer { second in first.baseAddress == second.baseAddress }
        }
        #expect(shared)
    }
}
