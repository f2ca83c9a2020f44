public import CRDModels

/// What deploying a node set to a flow means, decided without a server: the
/// operator's checks of every node (so the page and the API report the same field
/// paths as the node's conditions would), and which nodes to apply and delete.
public enum FlowDeployment {
    /// Nodes to apply, delete and leave alone.
    public struct Plan: Sendable, Hashable {
        /// New or changed nodes, with `spec.flow` set to the flow.
        public var apply: [FlowNodeSnapshot] = []
        /// Nodes of the flow the new set does not have.
        public var delete: [String] = []
        /// Nodes already as wanted.
        public var unchanged: [String] = []
    }

    /// The longest object name Kubernetes accepts (a DNS subdomain).
    static let maximumNameLength = 253

    /// Every problem with deploying `nodes` as flow `flow`: names, then each node
    /// against its module's catalogue (`modules`, by name) and the nodes its edges
    /// point at — the draft's own, else `others` of the namespace.
    public static func violations(
        of nodes: [FlowNodeSnapshot], flow: String, modules: [String: TinyModule], others: [TinyNode]
    ) -> [ConsoleError.Detail] {
        var found: [ConsoleError.Detail] = []
        var names: Set<String> = []
        for node in nodes {
            if let problem = nameProblem(node.name) {
                found.append(.init(node: node.name, field: "metadata.name", message: problem))
            } else if !names.insert(node.name).inserted {
                found.append(.init(node: node.name, field: "metadata.name", message: "node \"\(node.name)\" is in the set twice"))
            }
        }
        let draft = Dictionary(nodes.map { ($0.name, $0.spec) }, uniquingKeysWith: { first, _ in first })
        let existing = Dictionary(
            others.compactMap { node in node.metadata.name.map { ($0, node.spec) } }, uniquingKeysWith: { first, _ in first })
        func component(of spec: TinyNodeSpec) -> ComponentDescription? {
            modules[spec.module]?.status?.components.first { $0.info.name == spec.component }
        }
        for node in nodes {
            var problem: SchemaViolation?
            if node.spec.module.isEmpty {
                problem = SchemaViolation(path: "spec.module", message: "a node needs a module")
            } else if node.spec.component.isEmpty {
                problem = SchemaViolation(path: "spec.component", message: "a node needs a component")
            } else if let module = modules[node.spec.module] {
                let known = module.status?.components ?? []
                // A module whose hosts have not described it yet is checked by the operator later.
                if !known.isEmpty, component(of: node.spec) == nil {
                    let names = known.map(\.info.name).sorted().joined(separator: ", ")
                    problem = SchemaViolation(
                        path: "spec.component",
                        message: "module \"\(node.spec.module)\" has no component \"\(node.spec.component)\" (components: \(names))")
                }
            } else {
                problem = SchemaViolation(path: "spec.module", message: "no TinyModule \"\(node.spec.module)\" in this namespace")
            }
            let validation = node.spec.validate(component: component(of: node.spec), componentProblem: problem) { target in
                guard let spec = draft[target] ?? existing[target] else { return nil }
                return component(of: spec).map(TargetNode.resolved) ?? .unresolved
            }
            found += validation.all.map { .init(node: node.name, field: $0.path, message: $0.message) }
        }
        return found
    }

    /// Why `name` cannot name a TinyNode, or `nil` if it can: a DNS subdomain
    /// (lowercase letters, digits, `-` and `.`, starting and ending alphanumeric).
    static func nameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        func isAlphanumeric(_ byte: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        guard !bytes.isEmpty else { return "a node needs a name" }
        guard bytes.count <= maximumNameLength else { return "a name is at most \(maximumNameLength) characters, this one has \(bytes.count)" }
        guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last),
            bytes.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") })
        else {
            return "\"\(name)\" is not a valid name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
        }
        return nil
    }

    /// Which of `nodes` to apply and which of `current` (the flow's nodes now) to delete.
    public static func plan(_ nodes: [FlowNodeSnapshot], flow: String, current: [TinyNode]) -> Plan {
        var plan = Plan()
        let present = Dictionary(
            current.filter { $0.metadata.deletionTimestamp == nil }.compactMap { node in node.metadata.name.map { ($0, node) } },
            uniquingKeysWith: { first, _ in first })
        for node in nodes.sorted(by: { $0.name < $1.name }) {
            var spec = node.spec
            spec.flow = flow
            if let existing = present[node.name], existing.spec == spec, existing.metadata.labels?[TinyFlow.flowLabel] == flow {
                plan.unchanged.append(node.name)
            } else {
                plan.apply.append(FlowNodeSnapshot(name: node.name, spec: spec))
            }
        }
        let wanted = Set(nodes.map(\.name))
        plan.delete = present.keys.filter { !wanted.contains($0) }.sorted()
        return plan
    }
}
