import Foundation
import ModuleHostAPI
import Synchronization

/// What the operator knows about the module hosts between reconciles: the
/// last sync per module, the latest status reports per host address, and how
/// often each namespace's plan inputs changed.
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
    }

    private struct Contents {
        var syncs: [ModuleKey: SentSync] = [:]
        var reports: [String: HostReports] = [:]
        var owners: [String: Set<ModuleKey>] = [:]
        var delivered: Set<String> = []
        var planInputs: [String: Int] = [:]
    }

    private let contents = Mutex(Contents())

    func lastSync(_ key: ModuleKey) -> SentSync? { contents.withLock { $0.syncs[key] } }

    func forgetSync(_ key: ModuleKey) { _ = contents.withLock { $0.syncs.removeValue(forKey: key) } }

    /// Counts the changes of what a namespace's plan is made from: TinyNode specs,
    /// finalizers, creations and deletions, and any TinyModule change. Status writes
    /// of nodes do not count, so a module whose inputs did not change need not be
    /// planned again.
    func planInputsChanged(in namespace: String) { contents.withLock { $0.planInputs[namespace, default: 0] += 1 } }

    /// The count of ``planInputsChanged(in:)`` for `namespace`.
    func planInputs(_ namespace: String) -> Int { contents.withLock { $0.planInputs[namespace] ?? 0 } }

    /// Notes that the last sync of `key` is still what a plan from `inputs` gives.
    func notePlanned(_ key: ModuleKey, inputs: Int) { contents.withLock { $0.syncs[key]?.inputs = inputs } }

    /// Records a sync; returns the names whose result changed.
    func recordSync(_ key: ModuleKey, _ sync: SentSync) -> Set<String> {
        contents.withLock { contents in
            let previous = contents.syncs[key]?.results ?? [:]
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
}
