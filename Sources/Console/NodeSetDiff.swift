public import CRDModels

/// The difference between two node sets, as the history view shows it: nodes added,
/// removed, and for changed nodes each changed field with its path
/// (`spec.ports[0].configuration.interval`) and values. Pure.
public struct NodeSetDiff: Codable, Sendable, Hashable {
    /// One changed field.
    public struct FieldChange: Codable, Sendable, Hashable {
        /// The field's path in the TinyNode.
        public var path: String
        /// Its value before (absent: it was not set).
        public var before: JSONValue?
        /// Its value after (absent: it is no longer set).
        public var after: JSONValue?

        /// A change of the field at `path`.
        public init(path: String, before: JSONValue?, after: JSONValue?) {
            self.path = path
            self.before = before
            self.after = after
        }
    }

    /// A node both sets have, with different specs.
    public struct NodeChange: Codable, Sendable, Hashable {
        public var name: String
        public var changes: [FieldChange]
    }

    /// Nodes only `to` has.
    public var added: [String] = []
    /// Nodes only `from` has.
    public var removed: [String] = []
    /// Nodes whose spec differs.
    public var changed: [NodeChange] = []

    /// Whether the sets are equal.
    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }

    /// What turns `from` into `to`.
    public init(from: [FlowNodeSnapshot], to: [FlowNodeSnapshot]) {
        let before = Dictionary(from.map { ($0.name, $0.spec) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(to.map { ($0.name, $0.spec) }, uniquingKeysWith: { first, _ in first })
        added = after.keys.filter { before[$0] == nil }.sorted()
        removed = before.keys.filter { after[$0] == nil }.sorted()
        for name in after.keys.sorted() {
            guard let old = before[name], let new = after[name], old != new else { continue }
            var changes: [FieldChange] = []
            Self.compare((try? JSONValue(encoding: old)) ?? .null, (try? JSONValue(encoding: new)) ?? .null, at: "spec", into: &changes)
            changed.append(NodeChange(name: name, changes: changes))
        }
    }

    /// Appends the leaf differences of two JSON values; arrays of equal length are
    /// compared element by element, others as a whole.
    private static func compare(_ old: JSONValue?, _ new: JSONValue?, at path: String, into changes: inout [FieldChange]) {
        guard old != new else { return }
        switch (old, new) {
        case (.object(let a)?, .object(let b)?):
            for key in Set(a.keys).union(b.keys).sorted() {
                compare(a[key], b[key], at: "\(path).\(key)", into: &changes)
            }
        case (.array(let a)?, .array(let b)?) where a.count == b.count:
            for index in a.indices { compare(a[index], b[index], at: "\(path)[\(index)]", into: &changes) }
        default:
            changes.append(FieldChange(path: path, before: old, after: new))
        }
    }
}
