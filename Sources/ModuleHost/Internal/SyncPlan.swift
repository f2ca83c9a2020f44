import ComponentKit
import CRDModels
import Expressions
import ModuleHostAPI

/// What a sync does, decided before anything is done: the desired nodes
/// compared with the running ones and validated against the module's
/// components. A value, computed without side effects; ``ModuleRuntime``
/// executes it (stop, then start and reconfigure, then rebuild the routes).
///
/// - A desired node whose component the module lacks, whose configuration
///   breaks its component's schemas, or whose edge mappings do not compile has
///   **failed**, with the TinyNode field paths; the other nodes are not affected.
/// - A running node that is no longer desired, has failed, or runs another
///   component, namespace or flow now is **stopped** (and, in the last cases, started anew).
/// - A valid node that does not run is **started**; one that runs another
///   definition (generation or spec) is **reconfigured** in place.
///
/// A node that runs this very definition, with edges to nodes of the same
/// components as when it started, is not validated again: it was validated
/// when it started, so a sync of thousands of unchanged nodes stays cheap.
struct SyncPlan {
    /// A node as it runs now: what the plan compares a desired node with.
    struct RunningNode {
        /// The definition it runs.
        var definition: NodeDefinition
        /// The component it runs.
        var componentType: any Component.Type
    }

    /// A node to start.
    struct Start {
        /// Its definition.
        var definition: NodeDefinition
        /// Its component.
        var componentType: any Component.Type
        /// Its port configurations, with the schemas' defaults applied.
        var configurations: [String: JSONValue]
    }

    /// A running node to move to another definition of the same component.
    struct Reconfiguration {
        /// The new definition.
        var definition: NodeDefinition
        /// Its port configurations, with the schemas' defaults applied.
        var configurations: [String: JSONValue]
        /// The settings to deliver again, when the `_settings` configuration
        /// changed (then `run` restarts too); nil when it did not.
        var newSettings: JSONValue?
    }

    /// One node to start or reconfigure.
    enum Change {
        /// Start a node that does not run.
        case start(Start)
        /// Reconfigure a running node in place.
        case reconfigure(Reconfiguration)

        /// The node's name.
        var name: String {
            switch self {
            case .start(let start): start.definition.name
            case .reconfigure(let reconfiguration): reconfiguration.definition.name
            }
        }
    }

    /// Running nodes to stop, by name: gone, failed now, or running another component.
    private(set) var stops: [String] = []
    /// Nodes to start or reconfigure, by name.
    private(set) var changes: [Change] = []
    /// Desired nodes that failed validation: name → the error, with field paths.
    private(set) var failures: [String: String] = [:]
    /// Desired nodes that run as desired already, by name: nothing to do.
    private(set) var unchanged: [String] = []

    /// Plans the sync of `running` to `desired` on a host of `module`.
    init(desired: [NodeDefinition], running: [String: RunningNode], module: ModuleDefinition) {
        let descriptions = Dictionary(desired.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var valid: [String: (NodeDefinition, any Component.Type)] = [:]
        for definition in desired {
            guard let componentType = module.components[definition.component] else {
                let names = module.components.keys.sorted().joined(separator: ", ")
                failures[definition.name] =
                    "spec.component: module \"\(module.name)\" has no component \"\(definition.component)\" (components: \(names))"
                continue
            }
            if let node = running[definition.name], node.definition == definition, node.componentType == componentType,
                definition.edges.allSatisfy({ edge in
                    guard let target = edge.target?.node else { return true }
                    return running[target]?.definition.component == descriptions[target]?.component
                })
            {
                valid[definition.name] = (definition, componentType)
                continue
            }
            let violations = Self.violations(of: definition, componentType: componentType, desired: descriptions, module: module)
            if violations.isEmpty {
                valid[definition.name] = (definition, componentType)
            } else {
                failures[definition.name] = violations.map(\.description).joined(separator: "; ")
            }
        }

        // A node whose component, namespace or flow changed is a new node: its instance and its
        // context (which scopes it reads) are made again.
        stops = running.values.filter { node in
            guard let (definition, componentType) = valid[node.definition.name] else { return true }
            return componentType != node.componentType || definition.namespace != node.definition.namespace
                || definition.flow != node.definition.flow
        }.map(\.definition.name).sorted()
        let stopping = Set(stops)

        for (name, (definition, componentType)) in valid.sorted(by: { $0.key < $1.key }) {
            let configurations = { componentType.componentDescription.effectiveConfigurations(of: definition.ports) }
            guard let node = running[name], !stopping.contains(name) else {
                changes.append(.start(Start(definition: definition, componentType: componentType, configurations: configurations())))
                continue
            }
            guard node.definition != definition else {
                unchanged.append(name)
                continue
            }
            let effective = configurations()
            let settings = PortDefinition.settingsName
            let settingsChanged =
                node.definition.ports.first(where: { $0.port == settings }) != definition.ports.first(where: { $0.port == settings })
            changes.append(.reconfigure(Reconfiguration(
                definition: definition, configurations: effective, newSettings: settingsChanged ? effective[settings] : nil)))
        }
    }

    /// What is wrong with a definition of a known component: its port
    /// configurations and edges against the component's description (edges to
    /// nodes this host does not know are not the node's fault: the operator
    /// reports them, and sends on them fail to the error port), then the edge
    /// mappings, which must compile.
    private static func violations(
        of definition: NodeDefinition, componentType: any Component.Type, desired: [String: NodeDefinition],
        module: ModuleDefinition
    ) -> [SchemaViolation] {
        let spec = TinyNodeSpec(module: module.name, component: definition.component, ports: definition.ports, edges: definition.edges)
        var validation = spec.validate(component: componentType.componentDescription) { target in
            guard let local = desired[target] else { return .unresolved }
            return module.components[local.component].map { .resolved($0.componentDescription) } ?? .unresolved
        }
        for (index, edge) in definition.edges.enumerated() {
            guard let mapping = edge.mapping else { continue }
            do {
                _ = try Template(compiling: mapping, at: "spec.edges[\(index)].mapping")
            } catch {
                validation.edges.append(SchemaViolation(path: error.path, message: error.detail))
            }
        }
        return validation.isValid ? [] : validation.all
    }
}
