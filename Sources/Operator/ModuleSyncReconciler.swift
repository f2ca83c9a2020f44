import CRDModels
import ComponentKit
import Foundation
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
import Logging
import ModuleHostAPI
import Synchronization

/// The module sync controller's reconcile: plan a module's nodes, send
/// `SyncNodes`, record the result (``ModuleSyncQueue`` runs it per module).
extension TinyflowOperator {
    // MARK: Syncing

    /// Plans module `key`'s nodes, sends them to its host and records the
    /// result. `force` sends even when nothing the plan is made from changed.
    func performSync(_ key: ModuleKey, force: Bool) async -> SyncOutcome {
        workDone.add(1, ordering: .relaxed)
        // Read before the caches: a change while planning counts for the next sync.
        let inputs = state.planInputs(key.namespace)
        let modules = cachedModules(in: key.namespace)
        guard let module = modules.first(where: { $0.metadata.name == key.module }),
            let address = ClusterPlan.address(of: module)
        else {
            // Deleted, or without an address: it has no host.
            forgetModuleState(key)
            syncs.forget(key)
            return .done
        }
        let last = state.lastSync(key)
        // A host that lost nodes it accepted (it restarted) gets them again.
        let force = force || hostLostNodes(key, at: address)
        // A recent sync to this address may be the one to keep (re-sent after 30 s regardless).
        let recent = !force && (last.map { $0.address == address && ContinuousClock.now - $0.at < .seconds(30) } ?? false)
        // Nothing the plan is made from changed: it would give what was sent.
        if recent, last?.inputs == inputs { return .done }
        let cache = validationCaches.withLock { caches in
            if let cache = caches[key.namespace] { return cache }
            let cache = ValidationCache()
            caches[key.namespace] = cache
            return cache
        }
        let plan = ClusterPlan(
            nodes: cachedNodes(in: key.namespace), modules: modules, maxHops: flowHopLimits(in: key.namespace),
            parameters: flowParameters(in: key.namespace), deliveries: flowDeliveries(in: key.namespace),
            pausedFlows: pausedFlows(in: key.namespace), cache: cache)
        let desired = plan.modules[key.module] ?? DesiredNodes(generation: 0, nodes: [])
        if recent, last?.desiredHash == desired.hashValue {
            state.notePlanned(key, inputs: inputs)
            return .done
        }
        let milliseconds = Int64(Date().timeIntervalSince1970 * 1000)
        let generation = max((last?.generation ?? 0) + 1, milliseconds)
        var sent = desired
        sent.generation = generation
        // Hosts order syncs by term first: a deposed leader cannot hold them against this one.
        if let term = manager.leadership?.term, term > 0 { sent.term = term }
        do {
            let result = try await hosts.connection(to: address).sync(sent)
            guard result.generation == generation else {
                // The host keeps a sync it ordered after this one (a later term, or an
                // outsized generation from another caller): say so, and try again.
                logger.warning(
                    "module host \(address) of \(key) ignored sync generation \(generation) (term \(sent.term ?? 0)): it keeps generation \(result.generation) of another sender")
                state.forgetSync(key)
                return .retry(after: .seconds(5))
            }
            let results = Dictionary(result.nodes.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
            let changed = state.recordSync(
                key, OperatorState.SentSync(
                    desiredHash: desired.hashValue, address: address, generation: generation, at: .now, results: results,
                    inputs: inputs))
            watchHost(address)
            // The module moved: its old address may be unused now.
            if let last, last.address != address { forgetUnusedAddresses() }
            enqueueNodes(changed, in: key.namespace)
            return .done
        } catch {
            logger.warning("sync of module \(key) at \(address) failed: \(error)")
            state.forgetSync(key)
            return .retry(after: .seconds(1))
        }
    }
}
