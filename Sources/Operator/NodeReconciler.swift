import CRDModels
import ComponentKit
import Foundation
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
import Logging
import ModuleHostAPI
import Synchronization

/// The TinyNode controller: the node finalizer (a deleted node is stopped by its
/// host, and its context and durable queues deleted, before it goes) and the node's status
/// and conditions.
extension TinyflowOperator {
    // MARK: TinyNode

    struct NodeStillRunning: Error, CustomStringConvertible {
        var node: String
        var description: String { "module host still runs node \"\(node)\"" }
    }

    func reconcileNode(_ node: TinyNode, _ context: ReconcileContext) async throws -> ReconcileAction {
        workDone.add(1, ordering: .relaxed)
        guard let namespace = node.metadata.namespace, node.metadata.name != nil else { return .done }
        let api = client.api(TinyNode.self, namespace: namespace)
        do {
            return try await reconcileNode(node, in: namespace, api: api)
        } catch let error as KubernetesError where error.isNotFound && node.metadata.deletionTimestamp != nil {
            return .done  // the cache lagged behind: the node is already gone
        }
    }

    func reconcileNode(_ node: TinyNode, in namespace: String, api: Api<TinyNode>) async throws -> ReconcileAction {
        try await finalizer(api: api, name: Self.nodeFinalizer, object: node) { event in
            switch event {
            case .apply(let node):
                await scheduleSyncs(for: node, in: namespace)
                try await writeStatus(of: node, in: namespace)
                return .done  // queued again when the node, its sync result or its host's report changes
            case .cleanup(let node):
                try await cleanUp(node, in: namespace)
                return .done
            }
        }
    }

    func scheduleSyncs(for node: TinyNode, in namespace: String) async {
        guard let name = node.metadata.name, let scope = scope(for: namespace) else { return }
        var modules: Set<String> = [node.spec.module]
        for source in scope.nodes.store.byIndex("target", name) where source.metadata.namespace == namespace {
            modules.insert(source.spec.module)
        }
        // The targets of its durable edges carry them in their definitions (`durableInputs`, the
        // retry policies), which change when this node becomes schedulable or changes: their
        // modules sync again too. (Without this, a target synced while this node's module had not
        // reported its components yet never got the input port, and nothing took its messages.)
        // Its own flow looked up (not every flow of the namespace): this runs for every node change.
        let flowDelivery = node.flowName.flatMap { scope.flows.store.get(ObjectKey(namespace: namespace, name: $0))?.spec.delivery }
        for edge in node.spec.edges where edge.delivery(flowDefault: flowDelivery) == .durable {
            guard let (target, _) = edge.target,
                let targetNode = scope.nodes.store.get(ObjectKey(namespace: namespace, name: target))
            else { continue }
            modules.insert(targetNode.spec.module)
        }
        for module in modules { syncs.schedule(ModuleKey(namespace: namespace, module: module)) }
    }

    func cleanUp(_ node: TinyNode, in namespace: String) async throws {
        guard let name = node.metadata.name else { return }
        let key = ModuleKey(namespace: namespace, module: node.spec.module)
        let contextScope = ContextScope.node(namespace: namespace, node: name)
        guard let module = cachedModules(in: namespace).first(where: { $0.metadata.name == node.spec.module }),
            let address = ClusterPlan.address(of: module)
        else {
            // No host of its own runs it; any host of the namespace reaches the shared store.
            try await deleteContext(contextScope, in: namespace)
            try await deleteQueues(of: name, in: namespace)
            return
        }
        let requested = ContinuousClock.now
        await syncs.syncNow(key)
        guard let sync = state.lastSync(key), sync.at >= requested else {
            throw NodeStillRunning(node: name)  // the sync failed: the host may still run it
        }
        // Modules with edges to the node drop them too.
        if let scope = scope(for: namespace) {
            for source in Set(scope.nodes.store.byIndex("target", name).map(\.spec.module)) where source != node.spec.module {
                syncs.schedule(ModuleKey(namespace: namespace, module: source))
            }
        }
        if state.syncResult(key, node: name) != nil {
            throw NodeStillRunning(node: name)
        }
        if let report = state.report(address: address, node: name), report.phase != .stopped {
            throw NodeStillRunning(node: name)
        }
        // Stopped everywhere: its context, stored messages and dead letters go with it
        // (through a host, which holds the store).
        try await deleteContext(contextScope, in: namespace, preferring: address)
        try await deleteQueues(of: name, in: namespace, preferring: address)
        logger.debug("node \(namespace)/\(name) stopped; removing its finalizer")
    }

    func writeStatus(of node: TinyNode, in namespace: String) async throws {
        guard let name = node.metadata.name else { return }
        // A node's status depends on itself, its edges' targets and the modules: plan just those.
        let targets = Set(node.spec.edges.compactMap { $0.target?.node }).subtracting([name])
        let targetNodes = targets.compactMap { scope(for: namespace)?.nodes.store.get(ObjectKey(namespace: namespace, name: $0)) }
        let modules = cachedModules(in: namespace)
        let plan = ClusterPlan(nodes: targetNodes + [node], modules: modules, parameters: flowParameters(in: namespace))
        guard let nodePlan = plan.nodes[name] else { return }
        let key = ModuleKey(namespace: namespace, module: node.spec.module)
        let address = modules.first { $0.metadata.name == node.spec.module }.flatMap(ClusterPlan.address(of:))
        let report = address.flatMap { state.report(address: $0, node: name) }
        let status = NodeStatusBuilder.status(
            for: nodePlan, sync: state.syncResult(key, node: name), report: report,
            ended: address.flatMap { state.endedRun(address: $0, node: name) },
            flowPaused: node.flowName.map { pausedFlows(in: namespace).contains($0) } ?? false, now: .now())
        guard status != node.status else { return }
        var patch = try JSONValue(encoding: status)
        if case .object(var fields) = patch {
            for field in ["module", "component", "error", "metrics", "counted"] where fields[field] == nil { fields[field] = .null }
            patch = .object(fields)
        }
        _ = try await client.api(TinyNode.self, namespace: namespace).patchStatus(name, .merge(["status": patch]))
        let wasReady = node.status?.conditions.isTrue(TinyNodeCondition.ready) ?? false
        if status.conditions.isTrue(TinyNodeCondition.ready), !wasReady {
            _ = try? await recorder.publish(reason: "Ready", action: "Schedule", note: "the node runs", regarding: node)
        }
        let oldValid = node.status?.conditions[type: TinyNodeCondition.configValid]
        if let valid = status.conditions[type: TinyNodeCondition.configValid], valid.status == .false,
            oldValid?.status != .false || oldValid?.message != valid.message
        {
            _ = try? await recorder.publish(.warning, reason: "ValidationFailed", action: "Validate", note: valid.message, regarding: node)
        }
        // Dead letters since the last status: one Event says how many, and where to look.
        let deadLettered = (status.metrics?.deadLettered ?? 0) - (node.status?.metrics?.deadLettered ?? 0)
        if deadLettered > 0 {
            let note = "\(deadLettered) durable message\(deadLettered == 1 ? " was" : "s were") dead-lettered"
                + (status.error.map { ": \(String($0.prefix(300)))" } ?? "") + "; see tinyflow dlq list --node \(name)"
            _ = try? await recorder.publish(.warning, reason: "DeadLettered", action: "Deliver", note: note, regarding: node)
        }
    }
}
