public import CRDModels
import Synchronization

/// What the operator keeps of a TinyNode in its cache, so that 10,000 cached
/// nodes fit in tens of MiB (the cache holds every node of every watched namespace):
///
/// - of `metadata.managedFields` only the manager of the most recent write of the
///   object itself (not of its status) stays, with the author that write named (see
///   ``author(of:annotations:)``), one shared copy per manager and author: the flow
///   history names the last writer; the other entries, times and `fieldsV1`, the
///   field sets server-side apply needs, go;
/// - the `kubectl.kubernetes.io/last-applied-configuration` annotation, a
///   copy of the whole object kubectl keeps for client-side apply, is dropped;
/// - `status.ports`, the component's ports with their JSON schemas, is the same
///   for every node of a component: identical lists share one copy;
/// - label sets that repeat from node to node (a flow's nodes share theirs) share one
///   copy, and so do port configurations (nodes made from one template), lists of
///   finalizers and of conditions (those of nodes that changed within the same second
///   are equal) and strings that repeat (API version, module and component names,
///   condition reasons and messages).
///
/// Nothing the operator reads is removed; writes never send cached objects back.
public final class NodeCacheCompaction: Sendable {
    /// Values seen, each stored once: a value equal to one seen before is replaced
    /// by that one, so that both share storage.
    private let portLists = SharedValues<[PortDescription]>(capacity: 512)
    private let strings = SharedValues<String>(capacity: 4096)
    private let labelSets = SharedValues<[String: String]>(capacity: 4096)
    private let stringLists = SharedValues<[String]>(capacity: 512)
    private let conditionLists = SharedValues<[Condition]>(capacity: 4096)
    private let portConfigurations = SharedValues<[PortConfiguration]>(capacity: 4096)
    private let writers = SharedValues<[JSONValue]>(capacity: 512)

    /// kubectl's copy of the object for client-side apply.
    public static let lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

    /// A compaction with empty tables of shared values.
    public init() {}

    /// The cached form of `node`.
    public func compact(_ node: TinyNode) -> TinyNode {
        var node = node
        if let entries = node.metadata.managedFields {
            node.metadata.managedFields = Self.mostRecent(entries).map { entry in
                guard case .string(let manager)? = entry["manager"] else { return [] }
                guard let author = Self.author(of: entry, annotations: node.metadata.annotations) else {
                    return writers.shared([["manager": .string(manager)]])
                }
                return writers.shared([["manager": .string(manager), "author": .string(author)]])
            }
        }
        if node.metadata.annotations?[Self.lastAppliedAnnotation] != nil {
            node.metadata.annotations?[Self.lastAppliedAnnotation] = nil
        }
        if let ports = node.status?.ports, !ports.isEmpty {
            node.status?.ports = portLists.shared(ports)
        }
        shareRepeatedValues(of: &node)
        return node
    }

    /// Who made the write of `entry`, when the write set the `tinyflow.dev/change-author`
    /// annotation (the console does, for its user): the annotation's value; `nil` for
    /// writes that did not set it — an author annotation left by an earlier write names
    /// nobody. A compacted entry carries the answer as `author`.
    static func author(of entry: JSONValue, annotations: [String: String]?) -> String? {
        if let author = entry["author"]?.stringValue { return author }
        let key = "f:\(TinyFlow.changeAuthorAnnotation)"
        guard entry["fieldsV1"]?["f:metadata"]?["f:annotations"]?[key] != nil,
            let author = annotations?[TinyFlow.changeAuthorAnnotation], !author.isEmpty
        else { return nil }
        return author
    }

    /// The entry with the latest `time` (the last of equals) among those of writes
    /// to the object itself: not to its status subresource, and not the operator's own
    /// writes of finalizers alone, which change nothing the flow history records.
    static func mostRecent(_ entries: [JSONValue]) -> JSONValue? {
        entries.enumerated().filter { ($0.element["subresource"]?.stringValue ?? "") != "status" && !setsFinalizersOnly($0.element) }
            .max { first, second in
                let (a, b) = (first.element["time"]?.stringValue ?? "", second.element["time"]?.stringValue ?? "")
                return a == b ? first.offset < second.offset : a < b
            }?.element
    }

    /// Whether the write of `entry` set `metadata.finalizers` and nothing else.
    private static func setsFinalizersOnly(_ entry: JSONValue) -> Bool {
        guard case .object(let fields)? = entry["fieldsV1"], fields.count == 1, case .object(let metadata)? = fields["f:metadata"]
        else { return false }
        return Set(metadata.keys) == ["f:finalizers"]
    }

    private func shareRepeatedValues(of node: inout TinyNode) {
        node.apiVersion = shared(node.apiVersion)
        node.kind = shared(node.kind)
        if let namespace = node.metadata.namespace { node.metadata.namespace = shared(namespace) }
        if let labels = node.metadata.labels { node.metadata.labels = labelSets.shared(labels) }
        if let finalizers = node.metadata.finalizers { node.metadata.finalizers = stringLists.shared(finalizers.map(shared)) }
        node.spec.module = shared(node.spec.module)
        node.spec.component = shared(node.spec.component)
        if !node.spec.ports.isEmpty { node.spec.ports = portConfigurations.shared(node.spec.ports) }
        guard var status = node.status else { return }
        // Nodes whose conditions changed within the same second share their list.
        status.conditions = conditionLists.shared(status.conditions.map { condition in
            var condition = condition
            condition.type = shared(condition.type)
            condition.reason = shared(condition.reason)
            condition.message = shared(condition.message)
            return condition
        })
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
        text.utf8.count > 15 ? strings.shared(text) : text  // shorter ones are stored inline anyway
    }
}

/// A bounded table of values stored once (interning). When it holds `capacity`
/// distinct values it starts afresh, which only costs sharing.
private final class SharedValues<Value: Hashable & Sendable>: Sendable {
    private let values = Mutex<Set<Value>>([])
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// The stored value equal to `value`, or `value`, now stored.
    func shared(_ value: Value) -> Value {
        values.withLock { values in
            if let existing = values.firstIndex(of: value) { return values[existing] }
            if values.count >= capacity { values.removeAll() }
            values.insert(value)
            return value
        }
    }
}
