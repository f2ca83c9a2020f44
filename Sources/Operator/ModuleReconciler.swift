import CRDModels
import ComponentKit
import Foundation
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
import Logging
import ModuleHostAPI
import Synchronization

/// The TinyModule controller: asks each module's host for its catalogue and
/// writes it, with the host's address and readiness, into the module's status.
extension TinyflowOperator {
    // MARK: TinyModule

    func reconcileModule(_ module: TinyModule, _ context: ReconcileContext) async throws -> ReconcileAction {
        guard let namespace = module.metadata.namespace, let name = module.metadata.name else { return .done }
        let generation = module.metadata.generation
        var status = module.status ?? TinyModuleStatus()
        status.observedGeneration = generation
        let now = Timestamp.now()
        var failure: (any Error)?
        if let address = ClusterPlan.address(of: module) {
            do {
                let catalogue = try await hosts.connection(to: address).catalogue()
                status.components = catalogue.components
                status.address = address
                status.readyReplicas = 1
                status.conditions.set(Condition(
                    type: "Ready", status: .true, reason: "CatalogueReceived",
                    message: "\(catalogue.components.count) components from \(address)", observedGeneration: generation,
                    lastTransitionTime: now))
                status.conditions.set(Condition(
                    type: "Available", status: .true, reason: "HostReachable", message: "the host at \(address) answers",
                    observedGeneration: generation, lastTransitionTime: now))
                watchHost(address)
            } catch {
                failure = error
                status.readyReplicas = 0
                status.conditions.set(Condition(
                    type: "Ready", status: .false, reason: "HostUnreachable", message: "\(address): \(error)",
                    observedGeneration: generation, lastTransitionTime: now))
                status.conditions.set(Condition(
                    type: "Available", status: .false, reason: "HostUnreachable", message: "\(address): \(error)",
                    observedGeneration: generation, lastTransitionTime: now))
            }
        } else {
            status.readyReplicas = 0
            for type in ["Ready", "Available"] {
                status.conditions.set(Condition(
                    type: type, status: .false, reason: "NoAddress", message: "neither spec.address nor status.address is set",
                    observedGeneration: generation, lastTransitionTime: now))
            }
        }
        if status != module.status {
            _ = try await client.api(TinyModule.self, namespace: namespace).patchStatus(
                name, .merge(["status": try JSONValue(encoding: status)]))
        }
        if let failure { throw failure }
        return .requeue(after: configuration.moduleResyncInterval)
    }
}
