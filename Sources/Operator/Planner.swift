public import CRDModels
import ComponentKit
import ConfigurationReferences
import Expressions
import Foundation
public import ModuleHostAPI
import Synchronization

/// How a TinyNode's module and component resolved against the cached TinyModules.
///
/// Indirect, and resolved once per module and component in a plan: the nodes of one
/// component share one copy of their module and its catalogue entry.
public indirect enum ComponentResolution: Sendable, Hashable {
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
    /// `maxHops` holds the hop limit of each flow by name (its TinyFlow's
    /// `spec.maxHops`); a node of a flow not named there, or of none, gets the
    /// host's default.
    ///
    /// `parameters` holds the parameters of each cached flow by name (its TinyFlow's
    /// `spec.parameters`): what `${param:NAME}` in its nodes' configurations means
    /// (``NodeReferences``).
    ///
    /// `deliveries` holds each flow's default edge delivery (its TinyFlow's
    /// `spec.delivery`) and `pausedFlows` the flows whose `spec.paused` is true: each
    /// definition's edges carry the delivery they resolve to, each carries the input ports
    /// durable edges lead to (`durableInputs`) and whether its flow is paused.
    ///
    /// With a `cache`, a node whose spec, module and edge targets are unchanged
    /// since the previous plan made with that cache reuses its validation, and
    /// the cache keeps exactly the nodes of this plan: pass one only to plans of
    /// a whole namespace.
    public init(
        nodes: [TinyNode], modules: [TinyModule], maxHops: [String: Int] = [:], parameters: [String: [FlowParameter]] = [:],
        deliveries: [String: EdgeDelivery] = [:], pausedFlows: Set<String> = [], cache: ValidationCache? = nil
    ) {
        let modulesByName = Dictionary(modules.compactMap { module in module.metadata.name.map { ($0, module) } }, uniquingKeysWith: { first, _ in first })
        let live = nodes.filter { $0.metadata.deletionTimestamp == nil }
        var resolutions: [String: ComponentResolution] = [:]
        var resolved: [ComponentKey: ComponentResolution] = [:]
        for node in nodes {
            guard let name = node.metadata.name else { continue }
            let key = ComponentKey(module: node.spec.module, component: node.spec.component)
            let resolution = resolved[key] ?? Self.resolve(node, modules: modulesByName)
            resolved[key] = resolution
            resolutions[name] = resolution
        }
        let liveNames = Set(live.compactMap(\.metadata.name))

        var plans: [String: NodePlan] = [:]
        var validated: [String: ValidationCache.Entry] = [:]
        let cached = cache?.entries ?? [:]
        var reused = 0
        for node in nodes {
            guard let name = node.metadata.name, let resolution = resolutions[name] else { continue }
            let fingerprint = cache.map { _ in
                ValidationCache.Fingerprint(
                    node, resolution: resolution,
                    targets: node.spec.edges.map { edge in
                        edge.target.map { target in
                            liveNames.contains(target.node) ? resolutions[target.node].map(ValidationCache.Fingerprint.Resolution.init) : nil
                        } ?? nil
                    },
                    flowParameters: node.flowName.flatMap { parameters[$0] })
            }
            if let fingerprint, let entry = cached[name], entry.fingerprint == fingerprint {
                validated[name] = entry
                reused += 1
                plans[name] = NodePlan(node: node, resolution: resolution, validation: entry.validation)
                continue
            }
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
            // References: checked here, values put in for validation only where literal (parameters);
            // Secrets and ConfigMaps are read by the module hosts, never by the operator.
            let references = NodeReferences(node: node, flowParameters: node.flowName.flatMap { parameters[$0] })
            var checked = node.spec
            checked.ports = references.portsForValidation
            var validation = checked.validate(component: component, componentProblem: problem) { target in
                guard liveNames.contains(target) else { return nil }
                if case .resolved(_, let description)? = resolutions[target] { return .resolved(description) }
                return .unresolved
            }
            validation.configuration = references.relevant(validation.configuration) + references.violations
            for (index, edge) in node.spec.edges.enumerated() {
                guard let mapping = edge.mapping else { continue }
                do {
                    _ = try Template(compiling: mapping, at: "spec.edges[\(index)].mapping")
                } catch {
                    validation.edges.append(SchemaViolation(path: error.path, message: error.detail))
                }
            }
            plans[name] = NodePlan(node: node, resolution: resolution, validation: validation)
            if let fingerprint { validated[name] = ValidationCache.Entry(fingerprint: fingerprint, validation: validation) }
        }
        cache?.store(validated, reused: reused)

        // Each schedulable node's edges with their delivery resolved (the flow's default
        // where the edge names none), and the input ports durable edges lead to.
        var resolvedEdges: [String: [Edge]] = [:]
        var durableInputs: [String: Set<String>] = [:]
        var durableRetryPolicies: [String: [String: RetryPolicy]] = [:]
        for (name, plan) in plans where plan.isSchedulable {
            let flowDelivery = plan.node.flowName.flatMap { deliveries[$0] }
            resolvedEdges[name] = plan.node.spec.edges.map { edge in
                var edge = edge
                if edge.delivery(flowDefault: flowDelivery) == .durable { edge.delivery = .durable }
                if edge.delivery == .durable, let (target, port) = edge.target {
                    durableInputs[target, default: []].insert(port)
                    if let policy = edge.retryPolicy { durableRetryPolicies[target, default: [:]]["\(name)/\(edge.id)"] = policy }
                }
                return edge
            }
        }

        var desired: [String: DesiredNodes] = [:]
        var syncBytes: [String: Int] = [:]
        for module in modulesByName.keys { desired[module] = DesiredNodes(generation: 0, nodes: []) }
        for name in plans.keys.sorted() {
            guard let plan = plans[name], plan.isSchedulable else { continue }
            let node = plan.node
            let module = node.spec.module
            // One sync carries every node of a module: a node that would make it larger than a
            // host takes is left out with the reason, instead of every sync of the module failing.
            let size = Self.syncSize(of: node)
            guard syncBytes[module, default: 0] + size <= Self.maximumSyncBytes else {
                plans[name]?.validation.configuration.append(SchemaViolation(
                    path: "spec",
                    message: "module \"\(module)\" has no room for this node (\(size) bytes): with it, its nodes would pass the "
                        + "\(Self.maximumSyncBytes >> 20) MiB one sync to its hosts may carry; shrink the nodes' configuration or "
                        + "move nodes to another module"))
                continue
            }
            syncBytes[module, default: 0] += size
            // The parameters the node uses go with it; the host puts them in with the Secrets.
            let used = node.spec.ports.contains { ConfigurationSubstitution.mayHoldReferences($0.configuration) }
                ? NodeReferences(node: node, flowParameters: node.flowName.flatMap { parameters[$0] }).parameters : [:]
            desired[module, default: DesiredNodes(generation: 0, nodes: [])].nodes.append(
                NodeDefinition(
                    name: node.metadata.name ?? "", component: node.spec.component,
                    generation: node.metadata.generation ?? 1, ports: node.spec.ports, edges: resolvedEdges[name] ?? node.spec.edges,
                    namespace: node.metadata.namespace, flow: node.flowName, maxHops: node.flowName.flatMap { Self.hopLimit(maxHops[$0]) },
                    parameters: used.isEmpty ? nil : used, durableInputs: durableInputs[name].map { $0.sorted() },
                    durableRetryPolicies: durableRetryPolicies[name],
                    paused: node.flowName.map { pausedFlows.contains($0) } == true ? true : nil))
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

    /// The most a module's nodes may take, estimated as JSON, in one sync to its hosts: below
    /// the 16 MiB a host reads (`ModuleHostServer.maximumRequestBytes`), with room for what the
    /// estimate leaves out (escaping, the envelope).
    public static let maximumSyncBytes = 12 << 20

    /// What `node` adds to its module's sync, estimated from its spec (never overstated).
    static func syncSize(of node: TinyNode) -> Int {
        var size = 256 + node.spec.edges.count * 96
        for port in node.spec.ports { size += port.port.utf8.count + 16 + port.configuration.minimumEncodedSize() }
        for edge in node.spec.edges { size += edge.mapping?.minimumEncodedSize() ?? 0 }
        return size
    }

    /// The hop limit a node definition carries: `nil` for the hosts' default
    /// (so that flows that keep it sync as they did before there was a limit).
    static func hopLimit(_ maxHops: Int?) -> Int? {
        maxHops == Message.defaultMaxHops ? nil : maxHops
    }

    /// Where a module's hosts listen: the spec's address (the declared one, which a
    /// restarted host may have changed), else the last address the operator reached.
    public static func address(of module: TinyModule) -> String? {
        module.spec.address ?? module.status?.address
    }

    private struct ComponentKey: Hashable {
        var module: String
        var component: String
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

/// Validations of earlier plans, so that planning a namespace after one node
/// changed validates that node, not all of them again (see
/// ``ClusterPlan/init(nodes:modules:cache:)``).
public final class ValidationCache: Sendable {
    /// What a node's validation depends on (and all it depends on): its spec, its module's catalogue
    /// and whether and how each edge target resolved.
    struct Fingerprint: Hashable {
        struct Resolution: Hashable {
            var module: String?
            var moduleVersion: String?
            var component: String?

            init(_ resolution: ComponentResolution) {
                switch resolution {
                case .resolved(let module, let component):
                    self.module = module.metadata.name
                    moduleVersion = module.metadata.resourceVersion
                    self.component = component.info.name
                case .catalogueUnknown(let module), .componentNotFound(let module):
                    self.module = module.metadata.name
                    moduleVersion = module.metadata.resourceVersion
                case .moduleNotFound:
                    break
                }
            }
        }

        var spec: TinyNodeSpec
        var resolution: Resolution
        var targets: [Resolution?]
        /// The node's flow and that flow's parameters (what `${param:…}` means).
        var flow: String?
        var flowParameters: [FlowParameter]?

        init(_ node: TinyNode, resolution: ComponentResolution, targets: [Resolution?], flowParameters: [FlowParameter]? = nil) {
            spec = node.spec
            self.resolution = Resolution(resolution)
            self.targets = targets
            flow = node.flowName
            self.flowParameters = flowParameters
        }
    }

    struct Entry: Sendable {
        var fingerprint: Fingerprint
        var validation: NodeValidation
    }

    private let storage = Mutex<(entries: [String: Entry], reused: Int)>(([:], 0))

    /// An empty cache.
    public init() {}

    /// How many nodes the cache holds validations for (those of the last plan).
    public var count: Int { storage.withLock { $0.entries.count } }

    /// How many nodes the last plan made with this cache did not validate again.
    public var reusedByLastPlan: Int { storage.withLock { $0.reused } }

    var entries: [String: Entry] { storage.withLock { $0.entries } }

    func store(_ entries: [String: Entry], reused: Int) { storage.withLock { $0 = (entries, reused) } }
}
