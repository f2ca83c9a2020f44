import CRDModels
import ComponentKit
import Foundation
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
import Logging
import ModuleHostAPI
import Synchronization

/// The TinySignal controller: delivers each signal once.
extension TinyflowOperator {
    // MARK: TinySignal

    struct SignalNotDeliverable: Error, CustomStringConvertible {
        var reason: String
        var description: String
    }

    func reconcileSignal(_ signal: TinySignal, _ context: ReconcileContext) async throws -> ReconcileAction {
        guard let namespace = signal.metadata.namespace, let name = signal.metadata.name else { return .done }
        if let phase = signal.status?.phase, phase != .pending { return .done }
        let uid = Self.deliveryID(of: signal)
        let api = client.api(TinySignal.self, namespace: namespace)
        if state.wasDelivered(uid) {
            try await writeSignal(api, name, .delivered, "Delivered", "delivered to \(signal.spec.node):\(signal.spec.port)", signal)
            return .done
        }
        // A delivery is forgotten once the cache holds the signal's final status; `signal` may predate it.
        let cached = scope(for: namespace)?.signals.store.get(ObjectKey(namespace: namespace, name: name))
        if let phase = cached?.status?.phase, phase != .pending { return .done }
        let node = scope(for: namespace)?.nodes.store.get(ObjectKey(namespace: namespace, name: signal.spec.node))
            .flatMap { $0.metadata.deletionTimestamp == nil ? $0 : nil }
        let module = node.flatMap { node in cachedModules(in: namespace).first { $0.metadata.name == node.spec.module } }
        guard let node, let module, let address = ClusterPlan.address(of: module),
            node.status?.conditions.isTrue(TinyNodeCondition.ready) ?? false
        else {
            let problem =
                node == nil
                ? SignalNotDeliverable(reason: "NodeNotFound", description: "no TinyNode \"\(signal.spec.node)\"")
                : SignalNotDeliverable(reason: "NodeNotReady", description: "node \"\(signal.spec.node)\" is not Ready")
            if context.failures < 8 { throw problem }
            try await writeSignal(api, name, .failed, problem.reason, problem.description, signal)
            return .done
        }
        do {
            let message = Message(to: PortAddress(node: signal.spec.node, port: signal.spec.port), payload: signal.spec.payload)
            guard state.markDelivered(uid) else { return .requeue(after: .milliseconds(10)) }
            try await hosts.connection(to: address).deliver(message)
        } catch {
            try await writeSignal(api, name, .failed, "DeliveryFailed", "\(error)", signal)
            _ = try? await recorder.publish(.warning, reason: "DeliveryFailed", action: "Deliver", note: "\(error)", regarding: signal)
            return .done
        }
        let note = "delivered to \(node.metadata.name ?? ""):\(signal.spec.port)"
        try await writeSignal(api, name, .delivered, "Delivered", note, signal)
        _ = try? await recorder.publish(reason: "Delivered", action: "Deliver", note: note, regarding: signal)
        return .done
    }

    /// What identifies a signal's delivery: its uid.
    static func deliveryID(of signal: TinySignal) -> String {
        signal.metadata.uid ?? "\(signal.metadata.namespace ?? "")/\(signal.metadata.name ?? "")"
    }

    func writeSignal(
        _ api: Api<TinySignal>, _ name: String, _ phase: SignalPhase, _ reason: String, _ message: String, _ signal: TinySignal
    ) async throws {
        var status = signal.status ?? TinySignalStatus()
        status.observedGeneration = signal.metadata.generation
        status.phase = phase
        status.reason = reason
        status.message = message
        status.completionTime = .now()
        _ = try await api.patchStatus(name, .merge(["status": try JSONValue(encoding: status)]))
    }
}
