/// What is wrong with a TinyNode against the catalogue it runs on, split the
/// way the node's conditions report it.
public struct NodeValidation: Sendable, Hashable {
    /// Problems with `spec.module`, `spec.component` or `spec.ports` (the `ConfigValid` condition).
    public var configuration: [SchemaViolation] = []
    /// Problems with `spec.edges` (the `EdgesResolved` condition).
    public var edges: [SchemaViolation] = []

    /// Whether the node can run.
    public var isValid: Bool { configuration.isEmpty && edges.isEmpty }

    /// Every problem, configuration first.
    public var all: [SchemaViolation] { configuration + edges }

    /// Creates an empty result.
    public init() {}
}

extension TinyNodeSpec {
    /// Validates the node against its component and the nodes its edges point at.
    ///
    /// - Parameters:
    ///   - component: the component the node names, or `nil` if it could not
    ///     be resolved (then `componentProblem` says why).
    ///   - componentProblem: why `component` is `nil`, reported on `spec.component`
    ///     (or `spec.module`, with `path`).
    ///   - target: the component of another node in the same namespace, by
    ///     node name; `nil` when there is no such node. A node whose component
    ///     is not known yet resolves to a description with no ports and is
    ///     accepted without checking the port.
    public func validate(
        component: ComponentDescription?, componentProblem: SchemaViolation? = nil,
        target: (String) -> TargetNode?
    ) -> NodeValidation {
        var result = NodeValidation()
        if let component {
            result.configuration += component.violations(of: ports)
        } else if let componentProblem {
            result.configuration.append(componentProblem)
        }
        var ids: Set<String> = []
        for (index, edge) in edges.enumerated() {
            let path = "spec.edges[\(index)]"
            if !ids.insert(edge.id).inserted {
                result.edges.append(SchemaViolation(path: "\(path).id", message: "edge id \"\(edge.id)\" is used twice"))
            }
            if let component, !component.ports.contains(where: { $0.name == edge.port && $0.direction == .output }) {
                let outputs = component.ports.filter { $0.direction == .output }.map(\.name).joined(separator: ", ")
                result.edges.append(
                    SchemaViolation(
                        path: "\(path).port",
                        message: "component \"\(component.info.name)\" has no output port \"\(edge.port)\" (outputs: \(outputs))"))
            }
            guard let (nodeName, portName) = edge.target else {
                result.edges.append(SchemaViolation(path: "\(path).to", message: "expected <node>:<port>, got \"\(edge.to)\""))
                continue
            }
            switch target(nodeName) {
            case nil:
                result.edges.append(SchemaViolation(path: "\(path).to", message: "no node \"\(nodeName)\""))
            case .unresolved:
                continue
            case .resolved(let targetComponent):
                let inputs = targetComponent.ports.filter { $0.direction == .input && !$0.isSettings }
                if !inputs.contains(where: { $0.name == portName }) {
                    result.edges.append(
                        SchemaViolation(
                            path: "\(path).to",
                            message: "node \"\(nodeName)\" (\(targetComponent.info.name)) has no input port \"\(portName)\" (inputs: \(inputs.map(\.name).joined(separator: ", ")))"))
                }
            }
        }
        return result
    }
}

/// The node an edge points at, as far as it is known.
public enum TargetNode: Sendable, Hashable {
    /// The node exists and runs this component.
    case resolved(ComponentDescription)
    /// The node exists but its component is not known yet.
    case unresolved
}
