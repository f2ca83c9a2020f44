public import CRDModels
import Expressions
import Foundation
public import ModuleHost

/// How a TinyNode's module and component resolved against the cached TinyModules.
public enum ComponentResolution: Sendable, Hashable {
    /// The component was found in its module's catalogue.
    case resolved(module: TinyModule, component: ComponentDescription)
    /// No TinyModule has the node's `spec.module` name in its namespace.
    case moduleNotFound
    /// The module has not reported its catalogue yet.
    case catalogueUnknown(module: TinyModule)
    /// The module's catalogue has no such component.
    case componentNotFound(module: TinyModule)
}

/// What the operator concluded about one TinyNode.
public struct NodePlan: Sendable, Hashable {
    /// The node as cached.
    public var node: TinyNode
    /// Its module and component.
    public var resolution: ComponentResolution
    /// Problems with its spec; empty when it can run.
    public var validation: NodeValidation

    /// Whether the node goes to its module's hosts.
    public var isSchedulable: Bool {
        guard case .resolved = resolution else { return false }
        return validation.isValid && node.metadata.deletionTimestamp == nil
    }
}

/// What every module host of a namespace should run, computed from cached
/// TinyNodes and TinyModules. Pure: no I/O, so it is tested exhaustively.
public struct ClusterPlan: Sendable {
    /// Per node, by name.
    public var nodes: [String: NodePlan]
    /// Per module, by name: the desired node set of its hosts (generation 0;
    /// the syncer stamps a generation when it sends it).
    public var modules: [String: DesiredNodes]

    /// Plans the namespace of `nodes` and `modules` (all in one namespace).
    public init(nodes: [TinyNode], modules: [TinyModule]) {
        let modulesByName = Dictionary(modules.compactMap { module in module.metadata.name.map { ($0, module) } }, uniquingKeysWith: { first, _ in first })
        let live = nodes.filter { $0.metadata.deletionTimestamp == nil }
        var resolutions: [String: ComponentResolution] = [:]
        for node in nodes {
            guard let name = node.metadata.name else { continue }
            resolutions[name] = Self.resolve(node, modules: modulesByName)
        }
        let liveNames = Set(live.compactMap(\.metadata.name))

        var plans: [String: NodePlan] = [:]
        for node in nodes {
            guard let name = node.metadata.name, let resolution = resolutions[name] else { continue }
            var component: ComponentDescription?
            var problem: SchemaViolation?
            switch resolution {
            case .resolved(_, let description): component = description
            case .moduleNotFound:
                problem = SchemaViolation(path: "spec.module", message: "no TinyModule \"\(node.spec.module)\" in this namespace")
            case .catalogueUnknown(let module):
                problem = SchemaViolation(
                    path: "spec.component",
                    message: "module \"\(module.metadata.name ?? "")\" has not reported its components yet")
            case .componentNotFound(let module):
                let names = (module.status?.components ?? []).map(\.info.name).sorted().joined(separator: ", ")
                problem = SchemaViolation(
                    path: "spec.component",
                    message: "module \"\(module.metadata.name ?? "")\" has no component \"\(node.spec.component)\" (components: \(names))")
            }
            var validation = node.spec.validate(component: component, componentProblem: problem) { target in
                guard liveNames.contains(target) else { return nil }
                if case .resolved(_, let description)? = resolutions[target] { return .resolved(description) }
                return .unresolved
            }
            for (index, edge) in node.spec.edges.enumerated() {
                guard let mapping = edge.mapping else { continue }
                do {
                    _ = try Template(compiling: mapping, at: "spec.edges[\(index)].mapping")
                } catch {
                    validation.edges.append(SchemaViolation(path: error.path, message: error.detail))
                }
            }
            plans[name] = NodePlan(node: node, resolution: resolution, validation: validation)
        }

        var desired: [String: DesiredNodes] = [:]
        for module in modulesByName.keys { desired[module] = DesiredNodes(generation: 0, nodes: []) }
        let schedulable = plans.values.filter(\.isSchedulable).sorted { ($0.node.metadata.name ?? "") < ($1.node.metadata.name ?? "") }
        for plan in schedulable {
            let node = plan.node
            let module = node.spec.module
            desired[module, default: DesiredNodes(generation: 0, nodes: [])].nodes.append(
                NodeDefinition(
                    name: node.metadata.name ?? "", component: node.spec.component,
                    generation: node.metadata.generation ?? 1, ports: node.spec.ports, edges: node.spec.edges))
            for edge in node.spec.edges {
                guard let (target, _) = edge.target, let targetPlan = plans[target], targetPlan.isSchedulable,
                    targetPlan.node.spec.module != module
                else { continue }
                let targetModule = targetPlan.node.spec.module
                desired[module]?.remoteNodes[target] = targetModule
                if let address = modulesByName[targetModule].flatMap(Self.address(of:)) {
                    desired[module]?.moduleAddresses[targetModule] = [address]
                }
            }
        }
        self.nodes = plans
        self.modules = desired
    }

    /// Where a module's hosts listen: the reported address, else the spec's.
    public static func address(of module: TinyModule) -> String? {
        module.status?.address ?? module.spec.address
    }

    private static func resolve(_ node: TinyNode, modules: [String: TinyModule]) -> ComponentResolution {
        guard let module = modules[node.spec.module] else { return .moduleNotFound }
        let components = module.status?.components ?? []
        guard !components.isEmpty else { return .catalogueUnknown(module: module) }
        guard let component = components.first(where: { $0.info.name == node.spec.component }) else {
            return .componentNotFound(module: module)
        }
        return .resolved(module: module, component: component)
    }
}
