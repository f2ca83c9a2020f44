import Foundation
import ModuleHostAPI
import Synchronization

/// What the operator knows about the module hosts between reconciles: the
/// last sync per module, the latest status reports per host address, and how
/// often each namespace's plan inputs changed.
///
/// Nothing here outlives what it is about: ``forgetModule(_:)``,
/// ``forgetNode(_:of:)``, ``retainAddresses(_:)`` and ``forgetDelivery(_:)`` drop
/// the state of deleted modules, nodes, unused host addresses and settled
/// signals, so memory follows what exists, not how much came and went.
final class OperatorState: Sendable {
    struct SentSync: Sendable {
        /// The `hashValue` of the desired nodes sent (they are kept by the host, not
        /// here: equal hashes of two plans mean an unchanged plan, but for a 2⁻⁶⁴ chance).
        var desiredHash: Int
        var address: String
        var generation: Int64
        var at: ContinuousClock.Instant
        var results: [String: NodeSyncResult]
        /// The namespace's ``OperatorState/planInputs(_:)`` the desired nodes were planned from.
        var inputs: Int
    }

    struct HostReports: Sendable {
        var sequence = 0
        var nodes: [String: NodeStatusReport] = [:]
        /// Per node, the last report of a run that ended (the host restarted, or stopped
        /// reporting the node): its last word, for ``CumulativeMetrics``.
        var endedRuns: [String: NodeStatusReport] = [:]
    }

    /// How much the state holds, to check that it shrinks back.
    struct Counts: Equatable, Sendable, CustomStringConvertible {
        /// Modules with a last sync.
        var syncs = 0
        /// Host addresses with reports or owners.
        var addresses: Set<String> = []
        /// Node reports, over every address.
        var reportedNodes = 0
        /// Signals marked delivered.
        var delivered = 0
        /// Namespaces with a plan input count of their own.
        var namespaces = 0

        var isEmpty: Bool { self == Counts() }

        var description: String {
            "\(syncs) syncs, addresses \(addresses.sorted()), \(reportedNodes) reported nodes, \(delivered) delivered signals, "
                + "\(namespaces) namespaces with plan inputs"
        }
    }

    private struct Contents {
        var syncs: [ModuleKey: SentSync] = [:]
        var reports: [String: HostReports] = [:]
        var owners: [String: Set<ModuleKey>] = [:]
        var delivered: Set<String> = []
        /// Per namespace, the value of `planInputChanges` at its latest change.
        var planInputs: [String: Int] = [:]
        /// The plan input changes of every namespace so far.
        var planInputChanges = 0
        /// The plan inputs of a namespace without an entry: `planInputChanges` when entries
        /// were last dropped, so that a namespace's value never goes back to one a sync may have
        /// recorded before a change.
        var planInputsFloor = 0

        /// Drops the plan inputs of `namespace` if no sync was planned from them.
        mutating func dropPlanInputsIfUnused(in namespace: String) {
            guard planInputs[namespace] != nil, !syncs.keys.contains(where: { $0.namespace == namespace }) else { return }
            planInputs[namespace] = nil
            planInputsFloor = planInputChanges
        }

        /// Removes `key` from the owners of `address`, and the entry once it has none.
        mutating func disown(_ address: String, by key: ModuleKey) {
            owners[address]?.remove(key)
            if owners[address]?.isEmpty == true { owners[address] = nil }
        }
    }

    private let contents = Mutex(Contents())

    func lastSync(_ key: ModuleKey) -> SentSync? { contents.withLock { $0.syncs[key] } }

    func forgetSync(_ key: ModuleKey) { _ = contents.withLock { $0.syncs.removeValue(forKey: key) } }

    /// Notes a change of what a namespace's plan is made from: TinyNode specs,
    /// finalizers, creations and deletions, and any TinyModule change. Status writes
    /// of nodes do not count, so a module whose inputs did not change need not be
    /// planned again.
    func planInputsChanged(in namespace: String) {
        contents.withLock { contents in
            contents.planInputChanges += 1
            contents.planInputs[namespace] = contents.planInputChanges
        }
    }

    /// A number that grows with every ``planInputsChanged(in:)`` for `namespace`
    /// and never decreases (it may grow without one, when state is dropped).
    func planInputs(_ namespace: String) -> Int {
        contents.withLock { $0.planInputs[namespace] ?? $0.planInputsFloor }
    }

    /// Notes that the last sync of `key` is still what a plan from `inputs` gives.
    func notePlanned(_ key: ModuleKey, inputs: Int) { contents.withLock { $0.syncs[key]?.inputs = inputs } }

    /// Records a sync; returns the names whose result changed.
    func recordSync(_ key: ModuleKey, _ sync: SentSync) -> Set<String> {
        contents.withLock { contents in
            let previous = contents.syncs[key]?.results ?? [:]
            if let moved = contents.syncs[key]?.address, moved != sync.address { contents.disown(moved, by: key) }
            contents.syncs[key] = sync
            contents.owners[sync.address, default: []].insert(key)
            let names = Set(previous.keys).union(sync.results.keys)
            return names.filter { previous[$0] != sync.results[$0] }
        }
    }

    func syncResult(_ key: ModuleKey, node: String) -> NodeSyncResult? {
        contents.withLock { $0.syncs[key]?.results[node] }
    }

    func report(address: String, node: String) -> NodeStatusReport? {
        contents.withLock { $0.reports[address]?.nodes[node] }
    }

    /// The last report the host at `address` gave of the node's previous run, if that run ended.
    func endedRun(address: String, node: String) -> NodeStatusReport? {
        contents.withLock { $0.reports[address]?.endedRuns[node] }
    }

    func owners(of address: String) -> Set<ModuleKey> { contents.withLock { $0.owners[address] ?? [] } }

    /// Stores a host's reports; returns the names whose phase, generation,
    /// restarts or error changed, and those whose counters alone changed (folded
    /// into their status at a bounded rate).
    func recordReports(address: String, _ reports: [NodeStatusReport]) -> (changed: Set<String>, countersChanged: Set<String>) {
        contents.withLock { contents in
            let previous = contents.reports[address]?.nodes ?? [:]
            var host = contents.reports[address] ?? HostReports()
            host.sequence += 1
            host.nodes = Dictionary(reports.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
            for (name, old) in previous where old.run != nil && host.nodes[name]?.run != old.run {
                host.endedRuns[name] = old
            }
            contents.reports[address] = host
            var changed: Set<String> = []
            var countersChanged: Set<String> = []
            for name in Set(previous.keys).union(host.nodes.keys) {
                let old = previous[name]
                let new = host.nodes[name]
                if old?.phase != new?.phase || old?.generation != new?.generation || old?.restarts != new?.restarts
                    || old?.lastError != new?.lastError
                {
                    changed.insert(name)
                } else if old?.counters != new?.counters {
                    countersChanged.insert(name)
                }
            }
            return (changed, countersChanged)
        }
    }

    /// The modules synced to `address` whose host no longer reports some of the
    /// nodes it accepted: the host restarted (or lost them) and needs them again.
    /// Only syncs made before `settled` count, so that a report produced while a
    /// sync was on its way is not mistaken for a loss.
    func modulesMissingNodes(at address: String, syncedBefore settled: ContinuousClock.Instant) -> [ModuleKey] {
        contents.withLock { contents in
            guard let reported = contents.reports[address]?.nodes else { return [] }
            return (contents.owners[address] ?? []).filter { key in
                guard let sync = contents.syncs[key], sync.address == address, sync.at < settled else { return false }
                // Nodes the host rejected at the sync are not expected in its reports.
                return sync.results.contains { name, result in result.phase != .failed && reported[name] == nil }
            }
        }
    }

    /// Marks a TinySignal delivered; `false` if it already was.
    func markDelivered(_ uid: String) -> Bool { contents.withLock { $0.delivered.insert(uid).inserted } }

    func wasDelivered(_ uid: String) -> Bool { contents.withLock { $0.delivered.contains(uid) } }

    // MARK: Forgetting

    /// Forgets a signal once its status left `Pending` in the cache (or it was
    /// deleted): no reconcile can then see it pending and deliver it again.
    func forgetDelivery(_ uid: String) { _ = contents.withLock { $0.delivered.remove(uid) } }

    /// Forgets a module that is gone (deleted, or without an address): its last
    /// sync, its ownership of host addresses (an address without owners keeps its
    /// reports until ``retainAddresses(_:)``), and its namespace's plan inputs if
    /// no other module was synced from them.
    func forgetModule(_ key: ModuleKey) {
        contents.withLock { contents in
            contents.syncs[key] = nil
            for address in contents.owners.keys where contents.owners[address]?.contains(key) == true {
                contents.disown(address, by: key)
            }
            contents.dropPlanInputsIfUnused(in: key.namespace)
        }
    }

    /// Forgets a deleted node of module `key`: its report at the hosts the module
    /// was synced to (a host stops reporting a node it no longer runs, but one
    /// that still lists it stopped would keep it), and its namespace's plan
    /// inputs if no module was synced from them.
    func forgetNode(_ name: String, of key: ModuleKey) {
        contents.withLock { contents in
            var addresses = Set(contents.owners.compactMap { $0.value.contains(key) ? $0.key : nil })
            if let address = contents.syncs[key]?.address { addresses.insert(address) }
            for address in addresses where contents.reports[address] != nil {
                contents.reports[address]?.nodes[name] = nil
                contents.reports[address]?.endedRuns[name] = nil
            }
            contents.dropPlanInputsIfUnused(in: key.namespace)
        }
    }

    /// Keeps the reports and owners of the host addresses in `used` (those of the
    /// existing TinyModules) and drops the others; returns the addresses dropped.
    @discardableResult
    func retainAddresses(_ used: Set<String>) -> Set<String> {
        contents.withLock { contents in
            let gone = Set(contents.reports.keys).union(contents.owners.keys).subtracting(used)
            for address in gone {
                contents.reports[address] = nil
                contents.owners[address] = nil
            }
            return gone
        }
    }

    /// How much the state holds.
    var counts: Counts {
        contents.withLock { contents in
            Counts(
                syncs: contents.syncs.count, addresses: Set(contents.reports.keys).union(contents.owners.keys),
                reportedNodes: contents.reports.values.reduce(0) { $0 + $1.nodes.count + $1.endedRuns.count },
                delivered: contents.delivered.count,
                namespaces: contents.planInputs.count)
        }
    }
}
