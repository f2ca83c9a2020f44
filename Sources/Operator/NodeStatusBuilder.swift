public import CRDModels
import ComponentKit
public import ModuleHostAPI

/// Builds a TinyNode's status from the operator's plan for it, the module
/// hosts' answer to the last sync, and the latest status report of its host.
/// Pure, so every path from spec to condition is unit-tested.
public enum NodeStatusBuilder {
    /// The status the operator should write for `plan.node`.
    ///
    /// - Parameters:
    ///   - sync: the node's entry in the last `SyncNodes` answer, if it was sent.
    ///   - report: the node's latest report from `WatchNodeStatus`, if any.
    ///   - ended: the last report of the node's previous run, if that run ended since
    ///     (``CumulativeMetrics``).
    ///   - flowPaused: whether the node's flow is paused: `Paused=True`; when it is not, a
    ///     `Paused` condition the node has turns `False` (a node never paused gets none).
    public static func status(
        for plan: NodePlan, sync: NodeSyncResult?, report: NodeStatusReport?, ended: NodeStatusReport? = nil,
        flowPaused: Bool = false, now: Timestamp
    ) -> TinyNodeStatus {
        let node = plan.node
        let generation = node.metadata.generation
        var status = node.status ?? TinyNodeStatus()
        status.observedGeneration = generation

        switch plan.resolution {
        case .resolved(let module, let component):
            status.module = ModuleReference(
                name: module.metadata.name ?? node.spec.module, version: module.spec.version,
                address: ClusterPlan.address(of: module))
            status.component = component.info
            status.ports = component.ports
        case .catalogueUnknown(let module), .componentNotFound(let module):
            status.module = ModuleReference(
                name: module.metadata.name ?? node.spec.module, version: module.spec.version,
                address: ClusterPlan.address(of: module))
            status.component = nil
            status.ports = []
        case .moduleNotFound:
            status.module = nil
            status.component = nil
            status.ports = []
        }

        var conditions = status.conditions
        NodeConditions.apply(plan.validation, generation: generation, now: now, to: &conditions)
        if case .catalogueUnknown = plan.resolution {
            conditions.set(condition(TinyNodeCondition.configValid, .unknown, NodeConditions.Reason.catalogueUnavailable,
                                     plan.validation.configuration.map(\.description).joined(separator: "; "), generation, now))
        }

        typealias Reason = NodeConditions.Reason
        let isSchedulable = plan.isSchedulable
        let settingsRejection = report.flatMap { report in
            report.phase != .running && report.generation == (generation ?? report.generation) ? report.lastError : nil
        }.flatMap { Self.settingsRejection($0, in: node.spec) }
        // A reference the hosts could not resolve (a missing Secret or key): a configuration
        // error too. The latest word on it is the host's report, else the sync's answer.
        let referenceRejection = Self.referenceRejection(sync: sync, report: report, generation: generation)
        if node.metadata.deletionTimestamp != nil {
            conditions.set(condition(TinyNodeCondition.scheduled, .false, Reason.terminating, "the node is being deleted", generation, now))
            conditions.set(condition(TinyNodeCondition.ready, .false, Reason.terminating, "the node is being deleted", generation, now))
        } else if !isSchedulable {
            let message = plan.validation.all.map(\.description).joined(separator: "; ")
            conditions.set(condition(TinyNodeCondition.scheduled, .false, Reason.invalidSpec, message, generation, now))
            if case .catalogueUnknown = plan.resolution {
                conditions.set(condition(TinyNodeCondition.ready, .unknown, Reason.catalogueUnavailable, message, generation, now))
            }
        } else if let sync, sync.phase == .failed,
            !(report.map { $0.phase == .running && $0.generation == generation && sync.reason != nil } ?? false)
        {
            // (A node whose reference failed at the sync but resolved since, when its Secret
            // was created, runs: its report says so.)
            let message = sync.error ?? "rejected by its module host"
            conditions.set(condition(TinyNodeCondition.scheduled, .false, Reason.hostRejected, message, generation, now))
            conditions.set(condition(TinyNodeCondition.ready, .false, Reason.hostRejected, message, generation, now))
        } else if sync == nil {
            conditions.set(condition(TinyNodeCondition.scheduled, .unknown, Reason.pending, "waiting for the module hosts", generation, now))
            conditions.set(condition(TinyNodeCondition.ready, .unknown, Reason.pending, "waiting for the module hosts", generation, now))
        } else {
            let module = node.spec.module
            conditions.set(condition(TinyNodeCondition.scheduled, .true, Reason.scheduled, "running on the hosts of module \"\(module)\"", generation, now))
            // The host's sync answer says the node runs this generation; a later report says
            // more (failures, restarts) and wins when it is about this generation.
            let syncRuns = sync?.phase == .running && sync?.generation != nil && sync?.generation == generation
            switch report {
            case let report? where report.phase == .running && report.generation == (generation ?? report.generation):
                conditions.set(condition(TinyNodeCondition.ready, .true, Reason.running, "the node runs", generation, now))
            case let report? where syncRuns && report.generation != generation:
                conditions.set(condition(TinyNodeCondition.ready, .true, Reason.running, "the node runs", generation, now))
            case nil where syncRuns:
                conditions.set(condition(TinyNodeCondition.ready, .true, Reason.running, "the node runs", generation, now))
            case let report? where report.phase == .backingOff:
                conditions.set(condition(
                    TinyNodeCondition.ready, .false, Reason.backingOff,
                    "restarted \(report.restarts) times after failures; last error: \(report.lastError ?? "unknown")", generation, now))
            case let report? where report.phase == .failed:
                conditions.set(condition(
                    TinyNodeCondition.ready, .false, settingsRejection == nil ? Reason.hostRejected : Reason.settingsRejected,
                    settingsRejection ?? report.lastError ?? "the node failed", generation, now))
            case let report? where report.generation != generation:
                conditions.set(condition(
                    TinyNodeCondition.ready, .false, Reason.updating,
                    "the host runs generation \(report.generation), the spec is at \(generation ?? 0)", generation, now))
            default:
                conditions.set(condition(TinyNodeCondition.ready, .unknown, Reason.pending, "waiting for the node to start", generation, now))
            }
        }
        // A component that rejects its settings (a template that does not compile) is a
        // configuration error: ConfigValid=False at the spec's path, not a host's mystery.
        if let rejection = settingsRejection {
            conditions.set(condition(TinyNodeCondition.configValid, .false, Reason.settingsRejected, rejection, generation, now))
        }
        // Durable edges on a host without a persistent store: the edges cannot be carried.
        if let sync, sync.phase == .failed, sync.reason == NodeRejection.durableStoreUnavailable,
            node.metadata.deletionTimestamp == nil
        {
            let message = sync.error ?? "the module hosts keep no persistent store for durable edges"
            conditions.set(condition(TinyNodeCondition.edgesResolved, .false, Reason.durableStoreUnavailable, message, generation, now))
            conditions.set(condition(TinyNodeCondition.ready, .false, Reason.durableStoreUnavailable, message, generation, now))
        }
        if let (reason, message) = referenceRejection, node.metadata.deletionTimestamp == nil, isSchedulable {
            conditions.set(condition(TinyNodeCondition.configValid, .false, reason, message, generation, now))
            conditions.set(condition(TinyNodeCondition.ready, .false, reason, message, generation, now))
        }
        if flowPaused {
            conditions.set(condition(
                TinyNodeCondition.paused, .true, Reason.paused,
                "flow \"\(node.flowName ?? "")\" is paused: sources stopped, durable deliveries held", generation, now))
        } else if conditions.contains(where: { $0.type == TinyNodeCondition.paused }) {
            conditions.set(condition(TinyNodeCondition.paused, .false, Reason.resumed, "the flow runs", generation, now))
        }
        status.conditions = conditions
        // A host's report is newer than its sync answer: a report without an error clears it.
        let hostError: String? = if let report { report.lastError } else { sync?.error }
        status.error = settingsRejection ?? referenceRejection?.message ?? hostError
        if let report {
            (status.metrics, status.counted) = CumulativeMetrics.fold(
                metrics: status.metrics, counted: status.counted, ended: ended, report: report)
        }
        return status
    }

    /// The reason and message of a reference the hosts could not resolve
    /// (``NodeRejection``), from the latest report about this generation, else the sync's
    /// answer; nil when the node's references resolved.
    static func referenceRejection(
        sync: NodeSyncResult?, report: NodeStatusReport?, generation: Int64?
    ) -> (reason: String, message: String)? {
        func mapped(_ reason: String?, _ error: String?) -> (reason: String, message: String)? {
            guard let reason, [NodeRejection.secretNotFound, NodeRejection.invalidReference].contains(reason) else { return nil }
            return (reason, error ?? reason)
        }
        if let report, report.generation == (generation ?? report.generation) {
            return report.phase == .failed ? mapped(report.reason, report.lastError) : nil
        }
        guard let sync, sync.phase == .failed else { return nil }
        return mapped(sync.reason, sync.error)
    }

    /// The host's "settings rejected: _settings.template.a: …" as the spec's path,
    /// `spec.ports[0].configuration.template.a: …`; `nil` for any other error.
    static func settingsRejection(_ error: String, in spec: TinyNodeSpec) -> String? {
        let prefix = "settings rejected: "
        guard error.hasPrefix(prefix) else { return nil }
        let detail = error.dropFirst(prefix.count)
        let settings = PortDefinition.settingsName
        let port = spec.ports.firstIndex { $0.port == settings }
            .map { "spec.ports[\($0)].configuration" } ?? "spec.ports (\(settings) defaults)"
        guard detail.hasPrefix(settings) else { return "\(port): \(detail)" }
        return port + detail.dropFirst(settings.count)
    }

    private static func condition(
        _ type: String, _ status: ConditionStatus, _ reason: String, _ message: String, _ generation: Int64?, _ now: Timestamp
    ) -> Condition {
        Condition(type: type, status: status, reason: reason, message: message, observedGeneration: generation, lastTransitionTime: now)
    }
}
