import Foundation
import JSONSchemaKit

/// The writes: ``Admission`` computes what to store, these commit it and run the side
/// effects a write has on other objects (CRDs define types, namespaces and CRDs delete
/// their content).
extension APIServer {
    // MARK: Create

    /// Creates an object from `body` (see ``Admission/create(_:type:version:namespace:manager:fieldValidation:applyManager:store:uid:now:nameSuffix:)``);
    /// with `dryRun`, returns it without storing it.
    func create(type: ResourceType, version: String, namespace: String?, body: JSONValue, manager: String,
                dryRun: Bool, fieldValidation: String, applyManager: Bool = false) throws(APIError) -> JSONValue {
        let object = try Admission.create(body, type: type, version: version, namespace: namespace, manager: manager,
                                          fieldValidation: fieldValidation, applyManager: applyManager, store: store)
        if dryRun { return object }
        let stored = try commitPut(type, object, previous: nil)
        afterPut(type, stored)
        return stored
    }

    // MARK: Update

    /// The common end of PUT, PATCH and apply (see ``Admission/update(_:of:type:version:subresource:manager:fieldValidation:isApply:requireVersion:now:)``):
    /// commits the outcome and answers with the status code and the object.
    func update(type: ResourceType, version: String, old: JSONValue, candidate: JSONValue, subresource: Subresource,
                manager: String, dryRun: Bool, fieldValidation: String, isApply: Bool, requireVersion: Bool) throws(APIError) -> (Int, JSONValue) {
        let outcome = try Admission.update(candidate, of: old, type: type, version: version, subresource: subresource, manager: manager,
                                           fieldValidation: fieldValidation, isApply: isApply, requireVersion: requireVersion)
        switch outcome {
        case .unchanged:
            return (200, old)  // A no-op write does not change the resourceVersion.
        case .store(let new):
            if dryRun { return (200, new) }
            let stored = try commitPut(type, new, previous: old)
            afterPut(type, stored)
            return (200, stored)
        case .remove(let new):
            if dryRun { return (200, new) }
            return (200, try commitDelete(type, new))
        }
    }

    // MARK: Delete

    /// Deletes `old`: at once, or — with finalizers — by marking it and waiting for them.
    /// Namespaces delete their content first; CRDs delete their objects with them.
    func delete(type: ResourceType, old: JSONValue, options: JSONValue?, dryRun: Bool) throws(APIError) -> (Int, JSONValue) {
        try Admission.checkPreconditions(options, of: old, type: type)
        if type.storageKey == ResourceRegistry.namespaces.storageKey {
            return try deleteNamespace(old, dryRun: dryRun)
        }
        var honourFinalizers = true
        if type.storageKey == ResourceRegistry.customResourceDefinitions.storageKey, !dryRun,
           let defined = ResourceRegistry.resourceType(fromCRD: old) {
            for key in store.objects(of: defined.storageKey).keys.sorted() {
                if let object = store.object(defined.storageKey, key) { _ = try commitDelete(defined, object) }
            }
            honourFinalizers = false
        }
        switch Admission.deletion(of: old, honourFinalizers: honourFinalizers) {
        case .alreadyPending:
            return (202, old)
        case .markForDeletion:
            let new = Admission.markedForDeletion(old, type: type, now: timestamp())
            if dryRun { return (202, new) }
            return (202, try commitPut(type, new, previous: old))
        case .remove:
            if dryRun { return (200, old) }
            let deleted = try commitDelete(type, old)
            let name = old["metadata"]?["name"]?.stringValue ?? ""
            return (200, type.returnsDeletedObject ? deleted : successStatus(type, name: name, uid: old["metadata"]?["uid"]?.stringValue))
        }
    }

    /// Starts a namespace's deletion: `Terminating`, then every object in it deleted (those
    /// with finalizers keep it terminating until they are gone, see ``afterDelete(_:_:)``).
    private func deleteNamespace(_ ns: JSONValue, dryRun: Bool) throws(APIError) -> (Int, JSONValue) {
        let name = ns["metadata"]?["name"]?.stringValue ?? ""
        if dryRun { return (200, ns) }
        if ns["metadata"]?["deletionTimestamp"] != nil { return (202, ns) }
        let current = try commitPut(ResourceRegistry.namespaces, Admission.terminating(namespace: ns, now: timestamp()), previous: ns)
        let prefix = name + "/"
        for type in registry.types.values where type.namespaced {
            for key in store.objects(of: type.storageKey).keys.sorted() where key.hasPrefix(prefix) {
                guard let object = store.object(type.storageKey, key) else { continue }
                _ = try delete(type: type, old: object, options: nil, dryRun: false)
            }
        }
        if let still = store.object(ResourceRegistry.namespaces.storageKey, ObjectStore.objectKey(namespace: nil, name: name)) {
            if !store.hasContent(namespace: name) {
                return (200, try commitDelete(ResourceRegistry.namespaces, still))
            }
            return (202, still)
        }
        return (200, current)
    }

    // MARK: Side effects

    /// Side effects of a stored object: CRDs (re)define the types served.
    func afterPut(_ type: ResourceType, _ object: JSONValue) {
        guard type.storageKey == ResourceRegistry.customResourceDefinitions.storageKey,
              let defined = ResourceRegistry.resourceType(fromCRD: object) else { return }
        registry.register(defined)
    }

    /// Side effects of a deletion: namespaces finish terminating, CRDs stop serving.
    func afterDelete(_ type: ResourceType, _ object: JSONValue) {
        if type.storageKey == ResourceRegistry.customResourceDefinitions.storageKey, let defined = ResourceRegistry.resourceType(fromCRD: object) {
            registry.unregister(storageKey: defined.storageKey)
        }
        if type.namespaced, let namespace = object["metadata"]?["namespace"]?.stringValue {
            let nsKey = ObjectStore.objectKey(namespace: nil, name: namespace)
            if let ns = store.object(ResourceRegistry.namespaces.storageKey, nsKey), ns["metadata"]?["deletionTimestamp"] != nil,
               !store.hasContent(namespace: namespace) {
                _ = try? commitDelete(ResourceRegistry.namespaces, ns)
            }
        }
    }
}
