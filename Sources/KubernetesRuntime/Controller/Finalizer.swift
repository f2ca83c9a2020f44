public import KubernetesClient
public import KubernetesModels
public import JSONSchemaKit

/// What a finalizer-guarded reconcile is asked to do.
public enum FinalizerEvent<K: KubernetesObject>: Sendable {
    /// The object is live and carries the finalizer: create or update external state.
    case apply(K)
    /// The object is being deleted: remove external state; the finalizer is removed afterwards.
    case cleanup(K)
}

/// Guards external state with finalizer `name` (kube-rs's `finalizer`):
///
/// - a live object without the finalizer gets it first (JSON patch, with a
///   `test` op so concurrent writers cannot be overwritten), then `body(.apply)`
///   runs on the patched object — so the finalizer is in place before any
///   external state exists;
/// - an object being deleted (`deletionTimestamp`) that still has it gets
///   `body(.cleanup)`, and only if that succeeds is the finalizer removed,
///   again with a JSON patch that tests the finalizer's position first;
/// - an object being deleted without it is left alone.
public func finalizer<K: KubernetesObject>(
    api: Api<K>, name finalizerName: String, object: K,
    _ body: (FinalizerEvent<K>) async throws -> ReconcileAction
) async throws -> ReconcileAction {
    guard let objectName = object.metadata.name else { return .done }
    let finalizers = object.metadata.finalizers ?? []
    if object.metadata.deletionTimestamp != nil {
        guard let index = finalizers.firstIndex(of: finalizerName) else { return .done }
        let action = try await body(.cleanup(object))
        _ = try await api.patch(objectName, .json([
            .test("/metadata/finalizers/\(index)", .string(finalizerName)),
            .remove("/metadata/finalizers/\(index)"),
        ]))
        return action
    }
    guard finalizers.contains(finalizerName) else {
        let operations: [JSONPatchOperation]
        if finalizers.isEmpty {
            operations = [
                .test("/metadata/resourceVersion", .string(object.metadata.resourceVersion ?? "")),
                .add("/metadata/finalizers", [.string(finalizerName)]),
            ]
        } else {
            operations = [
                .test("/metadata/finalizers", .array(finalizers.map(JSONValue.string))),
                .add("/metadata/finalizers/-", .string(finalizerName)),
            ]
        }
        let patched = try await api.patch(objectName, .json(operations))
        return try await body(.apply(patched))
    }
    return try await body(.apply(object))
}
