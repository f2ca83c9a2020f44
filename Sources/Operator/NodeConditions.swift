public import CRDModels

/// Turns a TinyNode's validation into the `ConfigValid` and `EdgesResolved`
/// conditions the operator writes to its status, with CamelCase reasons and
/// messages that name every offending field.
public enum NodeConditions {
    /// Condition reasons the operator uses.
    public enum Reason {
        /// Configuration is valid against every port schema.
        public static let valid = "Valid"
        /// `spec.module` names no TinyModule.
        public static let moduleNotFound = "ModuleNotFound"
        /// The module has no component named `spec.component`.
        public static let componentNotFound = "ComponentNotFound"
        /// A port configuration breaks its schema or names an unknown port.
        public static let invalidConfiguration = "InvalidConfiguration"
        /// Every edge points at an existing node's input port.
        public static let resolved = "Resolved"
        /// Some edge points nowhere.
        public static let unresolvedEdges = "UnresolvedEdges"
        /// The node cannot run until its spec is fixed.
        public static let invalidSpec = "InvalidSpec"
        /// The module has not reported its catalogue yet.
        public static let catalogueUnavailable = "CatalogueUnavailable"
        /// The module hosts accepted the node.
        public static let scheduled = "Scheduled"
        /// The node waits for its module hosts.
        public static let pending = "Pending"
        /// A module host rejected the node.
        public static let hostRejected = "HostRejected"
        /// The component rejected the node's settings (a template or expression that does not compile).
        public static let settingsRejected = "SettingsRejected"
        /// A Secret, ConfigMap or key the node's configuration refers to does not exist (or
        /// cannot be read by its module hosts); the message names it, never a value.
        public static let secretNotFound = "SecretNotFound"
        /// A reference the module host could not resolve (e.g. a parameter it was not given).
        public static let invalidReference = "InvalidReference"
        /// The node has durable edges (out or in) but its module hosts keep no persistent
        /// store (their `--context-store` is `memory`).
        public static let durableStoreUnavailable = "DurableStoreUnavailable"
        /// The node's flow is paused (`spec.paused`).
        public static let paused = "Paused"
        /// The node's flow runs.
        public static let resumed = "Resumed"
        /// The node runs on its module hosts.
        public static let running = "Running"
        /// The node runs an older generation than its spec.
        public static let updating = "Updating"
        /// The node's handler kept failing; it is restarting.
        public static let backingOff = "BackingOff"
        /// The node is being deleted.
        public static let terminating = "Terminating"
    }

    /// `conditions` with `ConfigValid` and `EdgesResolved` set from `validation`,
    /// and `Ready=False` if the node cannot run. Transition times move only on
    /// a status flip.
    public static func apply(
        _ validation: NodeValidation, generation: Int64?, now: Timestamp, to conditions: inout [Condition]
    ) {
        let configReason: String
        if validation.configuration.isEmpty {
            configReason = Reason.valid
        } else if validation.configuration.contains(where: { $0.path == "spec.module" }) {
            configReason = Reason.moduleNotFound
        } else if validation.configuration.contains(where: { $0.path == "spec.component" }) {
            configReason = Reason.componentNotFound
        } else {
            configReason = Reason.invalidConfiguration
        }
        conditions.set(
            Condition(
                type: TinyNodeCondition.configValid, status: validation.configuration.isEmpty ? .true : .false,
                reason: configReason, message: message(validation.configuration, otherwise: "every port configuration is valid"),
                observedGeneration: generation, lastTransitionTime: now))
        conditions.set(
            Condition(
                type: TinyNodeCondition.edgesResolved, status: validation.edges.isEmpty ? .true : .false,
                reason: validation.edges.isEmpty ? Reason.resolved : Reason.unresolvedEdges,
                message: message(validation.edges, otherwise: "every edge points at an input port"),
                observedGeneration: generation, lastTransitionTime: now))
        if !validation.isValid {
            conditions.set(
                Condition(
                    type: TinyNodeCondition.ready, status: .false, reason: Reason.invalidSpec,
                    message: message(validation.all, otherwise: ""), observedGeneration: generation,
                    lastTransitionTime: now))
        }
    }

    /// Violations joined into a condition message, capped at the API's 32 KiB limit.
    private static func message(_ violations: [SchemaViolation], otherwise: String) -> String {
        guard !violations.isEmpty else { return otherwise }
        let text = violations.map(\.description).joined(separator: "; ")
        return text.count > 32_000 ? String(text.prefix(31_997)) + "..." : text
    }
}
