import CRDModels
import ComponentKit
import Foundation
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
import Logging
import ModuleHostAPI
import Synchronization

/// What the operator does with the hosts' status reports: records them, queues
/// the nodes whose state changed, re-syncs modules whose host lost nodes, and
/// forgets addresses no module uses.
extension TinyflowOperator {
    // MARK: Host status

    /// The host addresses of the cached TinyModules.
    func addressesInUse() -> Set<String> {
        let scopes = self.scopes.withLock { Array($0.values) }
        return Set(scopes.flatMap { $0.modules.store.objects.compactMap(ClusterPlan.address(of:)) })
    }

    /// Stops the status watch of every host address no cached TinyModule has, and
    /// forgets its reports and owners. Under the `watchedAddresses` lock, like
    /// ``watchHost(_:)`` and ``received(_:from:)``, so that neither brings back an
    /// address just forgotten.
    func forgetUnusedAddresses() {
        watchedAddresses.withLock { watched in
            let used = addressesInUse()
            state.retainAddresses(used)
            for address in watched where !used.contains(address) {
                watched.remove(address)
                feed.stopWatching(address)
            }
        }
    }

    /// Forgets what the operator keeps about module `key`, which is gone (or has
    /// no address), but for the syncer's entry.
    func forgetModuleState(_ key: ModuleKey) {
        state.forgetModule(key)
        if cachedModules(in: key.namespace).isEmpty {
            _ = validationCaches.withLock { $0.removeValue(forKey: key.namespace) }
        }
        forgetUnusedAddresses()
    }

    /// A TinyModule left the cache: forgets it now, and, on the leader, once more
    /// after any sync of it in flight (which would record it again).
    func moduleDeleted(_ key: ModuleKey) {
        forgetModuleState(key)
        // The sync finds the module gone, forgets it and drops the queue's entry.
        if manager.leadership?.isLeader ?? true { syncs.schedule(key) } else { syncs.forget(key) }
    }

    /// How much the operator keeps in memory about modules, nodes, hosts and
    /// signals (not the caches of the API's objects): everything is zero once
    /// none exist any more.
    struct Retained: Equatable, Sendable, CustomStringConvertible {
        var state: OperatorState.Counts
        /// The host addresses with a status watch.
        var watchedAddresses: Set<String>
        var validationCaches: Int
        var syncerEntries: Int

        var isEmpty: Bool { state.isEmpty && watchedAddresses.isEmpty && validationCaches == 0 && syncerEntries == 0 }

        var description: String {
            "\(state); watches of \(watchedAddresses.sorted()), \(validationCaches) validation caches, \(syncerEntries) syncer entries"
        }
    }

    /// What the operator keeps now.
    func retained() async -> Retained {
        Retained(
            state: state.counts, watchedAddresses: watchedAddresses.withLock { $0 },
            validationCaches: validationCaches.withLock { $0.count }, syncerEntries: syncs.count)
    }

    /// Watches the status of the host at `address` (once, however often asked),
    /// unless no module uses it any more.
    func watchHost(_ address: String) {
        watchedAddresses.withLock { watched in
            guard !watched.contains(address), addressesInUse().contains(address) else { return }
            watched.insert(address)
            feed.watch(address)
        }
    }

    func received(_ reports: [NodeStatusReport], from address: String) {
        // Reports of a watch being stopped are dropped with the address.
        let recorded = watchedAddresses.withLock { watched in
            watched.contains(address) ? state.recordReports(address: address, reports) : nil
        }
        guard let recorded else { return }
        let (changed, countersChanged) = recorded
        checkForLostNodes(at: address)
        guard !changed.isEmpty || !countersChanged.isEmpty else { return }
        for key in state.owners(of: address) {
            enqueueNodes(changed, in: key.namespace)
            // Counters change with every message: folded in at most once per statusInterval.
            enqueueNodes(countersChanged, in: key.namespace, after: configuration.statusInterval)
        }
    }

    /// How long after a sync its host's reports must reflect it: a report
    /// reflects every sync older than a few report intervals.
    var reportSettling: Duration { max(configuration.watchInterval * 4, .seconds(1)) }

    /// Syncs again the modules whose host at `address` no longer reports nodes it
    /// accepted (it restarted). If a more recent sync may explain the difference,
    /// the module's sync is asked for once that sync is old enough: the sync then
    /// looks again (``hostLostNodes(_:at:)``), since a host sends its reports only
    /// when they change.
    func checkForLostNodes(at address: String) {
        let settling = reportSettling
        let now = ContinuousClock.now
        let missing = state.modulesMissingNodes(at: address, syncedBefore: now)
        for key in missing {
            let syncedAt = state.lastSync(key)?.at ?? now
            if syncedAt < now - settling {
                logger.info("the host at \(address) lost nodes of \(key) it had accepted (it restarted?); syncing it again")
                syncs.schedule(key, force: true)
            } else {
                syncs.schedule(key, after: settling - (now - syncedAt))
            }
        }
    }

    /// Whether the host at `address` no longer reports nodes of `key` it accepted
    /// in a sync old enough to be reflected in its reports.
    func hostLostNodes(_ key: ModuleKey, at address: String) -> Bool {
        let now = ContinuousClock.now
        guard state.modulesMissingNodes(at: address, syncedBefore: now).contains(key) else { return false }
        return (state.lastSync(key)?.at ?? now) < now - reportSettling
    }
}
