public import CRDModels
import Synchronization

/// What the operator keeps of a TinyNode in its cache, so that 10,000 cached
/// nodes fit in tens of MiB (the cache holds every node of every watched namespace):
///
/// - of `metadata.managedFields` only the manager of the most recent write of the
///   object itself (not of its status) stays, one shared copy per manager: the flow
///   history names the last writer; the other entries, times and `fieldsV1`, the
///   field sets server-side apply needs, go;
/// - the `kubectl.kubernetes.io/last-applied-configuration` annotation, a
///   copy of the whole object kubectl keeps for client-side apply, is dropped;
/// - `status.ports`, the component's ports with their JSON schemas, is the same
///   for every node of a component: identical lists share one copy;
/// - label sets that repeat from node to node (a flow's nodes share theirs) share one
///   copy, and so do strings that repeat (API version, finalizers, module and
///   component names, condition reasons and messages).
///
/// Nothing the operator reads is removed; writes never send cached objects back.
public final class NodeCacheCompaction: Sendable {
    /// Port lists seen, each stored once. Bounded: cleared when it holds too many
    /// distinct lists (new module versions), which only costs sharing.
    private let portLists = Mutex<Set<[PortDescription]>>([])
    private let maximumPortLists = 512
    /// Strings seen, each stored once; bounded the same way.
    private let strings = Mutex<Set<String>>([])
    private let maximumStrings = 4096
    /// Label sets seen, each stored once; bounded the same way.
    private let labelSets = Mutex<Set<[String: String]>>([])
    /// The kept managedFields of each manager seen; bounded the same way.
    private let writers = Mutex<[String: [JSONValue]]>([:])

    /// kubectl's copy of the object for client-side apply.
    public static let lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

    /// A compaction with an empty table of port lists.
    public init() {}

    /// The cached form of `node`.
    public func compact(_ node: TinyNode) -> TinyNode {
        var node = node
        if let entries = node.metadata.managedFields {
            node.metadata.managedFields = Self.mostRecent(entries).map { entry in
                guard case .string(let manager)? = entry["manager"] else { return [] }
                return managedFields(of: manager)
            }
        }
        if node.metadata.annotations?[Self.lastAppliedAnnotation] != nil {
            node.metadata.annotations?[Self.lastAppliedAnnotation] = nil
        }
        if let ports = node.status?.ports, !ports.isEmpty {
            node.status?.ports = shared(ports)
        }
        internStrings(of: &node)
        return node
    }

    /// The entry with the latest `time` (the last of equals) among those of writes
    /// to the object itself, not to its status subresource.
    static func mostRecent(_ entries: [JSONValue]) -> JSONValue? {
        entries.enumerated().filter { ($0.element["subresource"]?.stringValue ?? "") != "status" }.max { first, second in
            let (a, b) = (first.element["time"]?.stringValue ?? "", second.element["time"]?.stringValue ?? "")
            return a == b ? first.offset < second.offset : a < b
        }?.element
    }

    private func internStrings(of node: inout TinyNode) {
        node.apiVersion = shared(node.apiVersion)
        node.kind = shared(node.kind)
        if let namespace = node.metadata.namespace { node.metadata.namespace = shared(namespace) }
        if let labels = node.metadata.labels { node.metadata.labels = shared(labels) }
        node.metadata.finalizers = node.metadata.finalizers?.map(shared)
        node.spec.module = shared(node.spec.module)
        node.spec.component = shared(node.spec.component)
        guard var status = node.status else { return }
        status.conditions = status.conditions.map { condition in
            var condition = condition
            condition.type = shared(condition.type)
            condition.reason = shared(condition.reason)
            condition.message = shared(condition.message)
            return condition
        }
        if var module = status.module {
            module.name = shared(module.name)
            module.version = module.version.map(shared)
            module.address = module.address.map(shared)
            status.module = module
        }
        if var component = status.component {
            component.name = shared(component.name)
            component.description = shared(component.description)
            component.tags = component.tags.map(shared)
            status.component = component
        }
        node.status = status
    }

    private func shared(_ text: String) -> String {
        guard text.utf8.count > 15 else { return text }  // shorter ones are stored inline anyway
        return strings.withLock { strings in
            if let existing = strings.firstIndex(of: text) { return strings[existing] }
            if strings.count >= maximumStrings { strings.removeAll() }
            strings.insert(text)
            return text
        }
    }

    private func shared(_ labels: [String: String]) -> [String: String] {
        labelSets.withLock { sets in
            if let existing = sets.firstIndex(of: labels) { return sets[existing] }
            if sets.count >= maximumStrings { sets.removeAll() }
            sets.insert(labels)
            return labels
        }
    }

    /// The managedFields kept for a write by `manager`: one entry naming it.
    private func managedFields(of manager: String) -> [JSONValue] {
        writers.withLock { writers in
            if let kept = writers[manager] { return kept }
            if writers.count >= maximumPortLists { writers.removeAll() }
            let kept: [JSONValue] = [["manager": .string(manager)]]
            writers[manager] = kept
            return kept
        }
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
