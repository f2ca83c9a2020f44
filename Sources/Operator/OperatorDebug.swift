import CRDModels
public import ComponentKit
import KubernetesRuntime
import ModuleHostAPI

/// The debug endpoint's lookups (``OperatorDebugServer``): from a node to its module's host,
/// through the operator's caches and its host connections (with the installation's credentials).
extension TinyflowOperator: RecentMessagesSource {
    /// What node `node` of `namespace` kept of its recent messages (debug nodes keep them),
    /// asked of the module host its TinyModule names.
    public func recentMessages(namespace: String, node name: String) async throws(DebugLookupError) -> [Message] {
        if let namespaces = configuration.namespaces, !namespaces.contains(namespace) {
            throw .namespaceNotManaged(namespace)
        }
        guard let node = scope(for: namespace)?.nodes.store.get(ObjectKey(namespace: namespace, name: name)) else {
            throw .nodeNotFound(namespace: namespace, node: name)
        }
        let module = cachedModules(in: namespace).first { $0.metadata.name == node.spec.module }
        guard let address = module.flatMap(ClusterPlan.address(of:)) ?? node.status?.module?.address else {
            throw .noHostAddress(namespace: namespace, node: name, module: node.spec.module)
        }
        let messages: [Message]?
        do {
            messages = try await hosts.connection(to: address).recentMessages(node: name)
        } catch {
            throw .hostFailed(namespace: namespace, node: name, address: address, error: "\(error)")
        }
        guard let messages else { throw .nodeNotRunning(namespace: namespace, node: name, address: address) }
        return messages
    }
}

/// The operator as the debug endpoint's source without keeping it alive: the endpoint is a
/// service of the operator's own manager.
struct WeakRecentMessagesSource: RecentMessagesSource {
    let reference: WeakReference<TinyflowOperator>

    func recentMessages(namespace: String, node: String) async throws(DebugLookupError) -> [Message] {
        guard let target = reference.value else { throw .namespaceNotManaged(namespace) }
        return try await target.recentMessages(namespace: namespace, node: node)
    }
}
