import FlowRevisions
import CRDModels
import ComponentKit
import Foundation
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
import Logging
import ModuleHostAPI
import Synchronization

/// The TinyFlow controller: revisions of the flow's node set, health and conditions, and
/// the flow finalizer (a deleted flow's context is deleted before it goes).
extension TinyflowOperator {
    // MARK: TinyFlow

    func reconcileFlow(_ flow: TinyFlow, _ context: ReconcileContext) async throws -> ReconcileAction {
        workDone.add(1, ordering: .relaxed)
        guard let namespace = flow.metadata.namespace, flow.metadata.name != nil else { return .done }
        let api = client.api(TinyFlow.self, namespace: namespace)
        do {
            return try await finalizer(api: api, name: Self.flowFinalizer, object: flow) { event in
                switch event {
                case .apply(let flow): return try await recordAndReport(flow, in: namespace)
                case .cleanup(let flow):
                    if let name = flow.metadata.name {
                        try await deleteContext(.flow(namespace: namespace, flow: name), in: namespace)
                        _ = flowStatusWrites.withLock { $0.removeValue(forKey: ObjectKey(namespace: namespace, name: name)) }
                    }
                    return .done
                }
            }
        } catch let error as KubernetesError where error.isNotFound && flow.metadata.deletionTimestamp != nil {
            return .done  // the cache lagged behind: the flow is already gone
        }
    }

    /// Records a revision when the flow's node set settled, and writes health and
    /// conditions; warns (Event and `Ready` message) about cycles nothing slows down.
    func recordAndReport(_ flow: TinyFlow, in namespace: String) async throws -> ReconcileAction {
        guard let name = flow.metadata.name else { return .done }
        let nodes = (scope(for: namespace)?.nodes.store.byIndex("flow", name) ?? []).filter { $0.metadata.namespace == namespace }
        var status = flow.status ?? TinyFlowStatus()
        let current = status.revisions.first { $0.number == status.currentRevision }
        let before = Dictionary((current?.nodes ?? []).map { ($0.name, $0.spec) }, uniquingKeysWith: { first, _ in first })
        let changed = nodes.filter { node in
            node.metadata.name.map { before[$0] != node.spec } ?? false
        }.sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
        let summary =
            flow.metadata.annotations?[Self.changeSummaryAnnotation]
            ?? changed.compactMap { $0.metadata.annotations?[Self.changeSummaryAnnotation] }.first
        let author = changed.compactMap(Self.lastAuthor(of:)).first
        var recorded: Int?
        var settlesIn: Duration?
        let key = ObjectKey(namespace: namespace, name: name)
        if let updated = FlowHistory.record(
            nodes, in: status, author: author, summary: summary, now: .now(), limit: flow.spec.revisionHistoryLimit)
        {
            settlesIn = unsettledTime(of: key, nodes: updated.revisions.last?.nodes ?? [], in: namespace)
            if settlesIn == nil {
                status = updated
                recorded = updated.currentRevision
            }
        }
        if settlesIn == nil { _ = unsettledRevisions.withLock { $0.removeValue(forKey: key) } }
        let live = nodes.filter { $0.metadata.deletionTimestamp == nil }
        status.observedGeneration = flow.metadata.generation
        (status.nodeCount, status.readyNodes, status.health) = FlowHealth.of(live)
        let now = Timestamp.now()
        switch status.health {
        case .healthy:
            status.conditions.set(Condition(
                type: "Ready", status: .true, reason: "AllNodesReady", message: "\(live.count) of \(live.count) nodes are Ready",
                observedGeneration: flow.metadata.generation, lastTransitionTime: now))
        case .degraded:
            status.conditions.set(Condition(
                type: "Ready", status: .false, reason: "NodesNotReady",
                message: "\(status.readyNodes) of \(live.count) nodes are Ready", observedGeneration: flow.metadata.generation,
                lastTransitionTime: now))
        case .unknown:
            status.conditions.set(Condition(
                type: "Ready", status: .unknown, reason: "NoNodes", message: "the flow has no nodes",
                observedGeneration: flow.metadata.generation, lastTransitionTime: now))
        }
        if flow.spec.paused {
            status.conditions.set(Condition(
                type: TinyNodeCondition.paused, status: .true, reason: NodeConditions.Reason.paused,
                message: "sources stopped, durable deliveries held (spec.paused)", observedGeneration: flow.metadata.generation,
                lastTransitionTime: now))
        } else if status.conditions[type: TinyNodeCondition.paused] != nil {
            status.conditions.set(Condition(
                type: TinyNodeCondition.paused, status: .false, reason: NodeConditions.Reason.resumed, message: "the flow runs",
                observedGeneration: flow.metadata.generation, lastTransitionTime: now))
        }
        // Cycles are warned about, not refused: the hop limit stops what goes round them.
        let cycleWarning = FlowCycles.warning(FlowCycles.unpaced(live), maxHops: flow.spec.maxHops)
        if let cycleWarning, var ready = status.conditions[type: "Ready"] {
            ready.message += "; warning: \(cycleWarning)"
            status.conditions.set(ready)
        }
        let warnedBefore = flow.status?.conditions[type: "Ready"]?.message.hasSuffix("; warning: \(cycleWarning ?? "")") ?? false
        if status != flow.status {
            // Counts and health are written at most once per flowStatusInterval; a revision at once.
            if recorded == nil, let wait = statusWriteWait(for: key) {
                return .requeue(after: settlesIn.map { min($0, wait) } ?? wait)
            }
            let patch = try FlowHistory.statusPatch(from: flow.status, to: status)
            _ = try await client.api(TinyFlow.self, namespace: namespace).patchStatus(name, .json(patch))
            flowStatusWrites.withLock { $0[key] = .now }
            if let recorded {
                let text = status.revisions.last?.summary ?? ""
                _ = try? await recorder.publish(
                    reason: "RevisionRecorded", action: "Record", note: "revision \(recorded): \(text)", regarding: flow)
            }
            if let cycleWarning, !warnedBefore {
                _ = try? await recorder.publish(.warning, reason: "UnpacedCycle", action: "Validate", note: cycleWarning, regarding: flow)
            }
        }
        // Queued again whenever one of its nodes changes; until a new node set settles, when it may have.
        return settlesIn.map { .requeue(after: $0) } ?? .done
    }

    /// How long until the flow's status may be written again, or nil if it may now.
    func statusWriteWait(for flow: ObjectKey) -> Duration? {
        guard let last = flowStatusWrites.withLock({ $0[flow] }) else { return nil }
        let remaining = configuration.flowStatusInterval - (ContinuousClock.now - last)
        return remaining > .zero ? remaining : nil
    }

    /// How long until the flow's node set `nodes` has been unchanged for
    /// `revisionSettleTime`; `nil` once it has.
    func unsettledTime(of flow: ObjectKey, nodes: [FlowNodeSnapshot], in namespace: String) -> Duration? {
        let now = ContinuousClock.now
        var since = unsettledRevisions.withLock { table in table[flow].flatMap { $0.nodes == nodes ? $0.since : nil } }
        if since == nil {
            let liveFlows = Set(scope(for: namespace)?.flows.store.keys ?? [])
            unsettledRevisions.withLock { table in
                table = table.filter { liveFlows.contains($0.key) }  // forget deleted flows
                table[flow] = (nodes, now)
            }
            since = now
        }
        let remaining = configuration.revisionSettleTime - (now - (since ?? now))
        return remaining > .zero ? remaining : nil
    }

    /// Who made the most recent write to the node itself (status writes are the
    /// operator's): the author it named (the console's user), else its field manager.
    static func lastAuthor(of node: TinyNode) -> String? {
        guard let entry = NodeCacheCompaction.mostRecent(node.metadata.managedFields ?? []) else { return nil }
        return NodeCacheCompaction.author(of: entry, annotations: node.metadata.annotations) ?? entry["manager"]?.stringValue
    }
}
