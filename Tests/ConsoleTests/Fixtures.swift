import CRDModels
import CommonComponents
import ComponentKit

/// The `common` module as the operator publishes it: a TinyModule whose status lists the
/// real components' descriptions.
func commonModule(namespace: String = "default") -> TinyModule {
    var module = TinyModule(metadata: ObjectMeta(name: "common", namespace: namespace), spec: TinyModuleSpec(image: "local"))
    module.status = TinyModuleStatus(components: CommonModule.definition.catalogue, readyReplicas: 1)
    return module
}

/// A ticker node sending to `to` every `interval` ms.
func ticker(_ name: String, interval: JSONValue = 1000, to: String? = nil) -> FlowNodeSnapshot {
    FlowNodeSnapshot(name: name, spec: TinyNodeSpec(
        module: "common", component: "ticker",
        ports: [PortConfiguration(port: "_settings", configuration: ["interval": interval])],
        edges: to.map { [Edge(id: "\(name)-out", port: "out", to: $0)] } ?? []))
}

/// A debug node.
func debug(_ name: String) -> FlowNodeSnapshot {
    FlowNodeSnapshot(name: name, spec: TinyNodeSpec(module: "common", component: "debug"))
}
