public import CRDModels
import Synchronization

/// What the operator keeps of a TinyNode in its cache, so that 10,000 cached
/// nodes fit in tens of MiB (the cache holds every node of every watched namespace):
///
/// - `metadata.managedFields` keep manager, operation and time (the flow history
///   names the last writer) but not `fieldsV1`, the field sets server-side apply needs;
/// - the `kubectl.kubernetes.io/last-applied-configuration` annotation, a
///   copy of the whole object kubectl keeps for client-side apply, is dropped;
/// - `status.ports`, the component's ports with their JSON schemas, is the same
///   for every node of a component: identical lists share one copy.
///
/// Nothing the operator reads is removed; writes never send cached objects back.
public final class NodeCacheCompaction: Sendable {
    /// Port lists seen, each stored once. Bounded: cleared when it holds too many
    /// distinct lists (new module versions), which only costs sharing.
    private let portLists = Mutex<Set<[PortDescription]>>([])
    private let maximumPortLists = 512

    /// kubectl's copy of the object for client-side apply.
    public static let lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

    /// A compaction with an empty table of port lists.
    public init() {}

    /// The cached form of `node`.
    public func compact(_ node: TinyNode) -> TinyNode {
        var node = node
        if let entries = node.metadata.managedFields {
            node.metadata.managedFields = entries.map { entry in
                guard case .object(var fields) = entry else { return entry }
                fields["fieldsV1"] = nil
                return .object(fields)
            }
        }
        if node.metadata.annotations?[Self.lastAppliedAnnotation] != nil {
            node.metadata.annotations?[Self.lastAppliedAnnotation] = nil
        }
        if let ports = node.status?.ports, !ports.isEmpty {
            node.status?.ports = shared(ports)
        }
        return node
    }

    private func shared(_ ports: [PortDescription]) -> [PortDescription] {
        portLists.withLock { lists in
            if let existing = lists.firstIndex(of: ports) { return lists[existing] }
            if lists.count >= maximumPortLists { lists.removeAll() }
            lists.insert(ports)
            return ports
        }
    }
}
