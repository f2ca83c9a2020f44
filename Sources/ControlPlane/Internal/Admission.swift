import Foundation
import JSONSchemaKit

/// What the API server does to an object between a request and the store: the checks,
/// defaults and bookkeeping of create, update (PUT, PATCH, apply) and delete.
///
/// Pure functions over values: each takes the live object (or, for checks that need
/// other objects, the store), the candidate and the time, and returns the object to
/// store — or the answer to give — or throws the `APIError` kube-apiserver would answer
/// with, in the order it checks. The API server commits the result and runs the side
/// effects (registry changes, cascading deletes).
enum Admission {
    /// A validation failure: the field path, the message and the cause type (`FieldValueInvalid`, …).
    typealias Cause = (field: String, message: String, type: String)

    /// The letters `generateName` suffixes are made of (no vowels, no look-alikes), as in Kubernetes.
    static let generateNameAlphabet = Array("bcdfghjklmnpqrstvwxz2456789")

    /// A random five-letter `generateName` suffix.
    static func randomNameSuffix() -> String {
        String((0..<5).compactMap { _ in generateNameAlphabet.randomElement() })
    }

    // MARK: Validation and defaulting

    /// Validates `object` for `type` at `version` and applies what admission changes:
    /// for custom resources pruning of unknown fields (or `400` with `fieldValidation=Strict`),
    /// schema `default`s and structural-schema validation; for Secrets folding `stringData`
    /// into `data`; for Services and Endpoints what the service proxy reads (ports,
    /// addresses); for CRDs their own rules. Throws `422 Invalid` with every cause found.
    static func validate(_ object: JSONValue, type: ResourceType, version: String, fieldValidation: String) throws(APIError) -> JSONValue {
        var object = object
        let name = object["metadata"]?["name"]?.stringValue ?? ""
        var causes: [Cause] = []
        if !isDNSSubdomain(name) || (type.storageKey == ResourceRegistry.namespaces.storageKey && !isDNSLabel(name)) {
            causes.append(("metadata.name", "Invalid value: \"\(name)\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')", "FieldValueInvalid"))
        }
        if let labels = object["metadata"]?["labels"]?.objectValue {
            for (key, value) in labels where value.stringValue == nil {
                causes.append(("metadata.labels.\(key)", "Invalid value: \(value.jsonString): label values must be strings", "FieldValueTypeInvalid"))
            }
        }
        if type.isCustom, let schema = type.schemas[version] {
            let (pruned, removed) = StructuralSchema.prune(object, schema: schema, isRoot: true)
            if fieldValidation == "Strict", !removed.isEmpty {
                let list = removed.map { "unknown field \"\($0)\"" }.joined(separator: ", ")
                throw APIError.badRequest("\(type.kind) in version \"\(version)\" cannot be handled as a \(type.kind): strict decoding error: \(list)")
            }
            object = StructuralSchema.applyDefaults(pruned, schema: schema)
            causes += StructuralSchema.validate(object, schema: schema, isRoot: true).map { ($0.field, $0.message, $0.type) }
        }
        switch type.storageKey {
        case ResourceRegistry.configMaps.storageKey:
            for (key, value) in object["data"]?.objectValue ?? [:] where value.stringValue == nil {
                causes.append(("data.\(key)", "Invalid value: \(value.jsonString): must be a string", "FieldValueTypeInvalid"))
            }
        case ResourceRegistry.secrets.storageKey:
            var data = object["data"]?.objectValue ?? [:]
            for (key, value) in object["stringData"]?.objectValue ?? [:] {
                data[key] = .string(Data((value.stringValue ?? "").utf8).base64EncodedString())
            }
            for (key, value) in data where value.stringValue.flatMap({ Data(base64Encoded: $0) }) == nil {
                causes.append(("data[\(key)]", "Invalid value: \(value.jsonString): must be base64-encoded", "FieldValueInvalid"))
            }
            object["stringData"] = nil
            if data.isEmpty { object["data"] = Optional<JSONValue>.none } else { object["data"] = .object(data) }
            if object["type"] == nil { object["type"] = "Opaque" }
        case ResourceRegistry.services.storageKey:
            causes += ServiceProxy.validateService(&object)
        case ResourceRegistry.endpoints.storageKey:
            causes += ServiceProxy.validateEndpoints(object)
        case ResourceRegistry.customResourceDefinitions.storageKey:
            causes += validateCRD(object)
        default:
            break
        }
        if !causes.isEmpty { throw APIError.invalid(type, name, causes) }
        return object
    }

    /// The rules a CustomResourceDefinition must follow to be served.
    static func validateCRD(_ crd: JSONValue) -> [Cause] {
        var causes: [Cause] = []
        let spec = crd["spec"] ?? [:]
        let group = spec["group"]?.stringValue ?? ""
        let plural = spec["names"]?["plural"]?.stringValue ?? ""
        if group.isEmpty { causes.append(("spec.group", "Required value", "FieldValueRequired")) }
        if plural.isEmpty { causes.append(("spec.names.plural", "Required value", "FieldValueRequired")) }
        if spec["names"]?["kind"]?.stringValue?.isEmpty ?? true { causes.append(("spec.names.kind", "Required value", "FieldValueRequired")) }
        if let scope = spec["scope"]?.stringValue, scope != "Namespaced", scope != "Cluster" {
            causes.append(("spec.scope", "Unsupported value: \"\(scope)\": supported values: \"Cluster\", \"Namespaced\"", "FieldValueNotSupported"))
        }
        let name = crd["metadata"]?["name"]?.stringValue ?? ""
        if !group.isEmpty, !plural.isEmpty, name != "\(plural).\(group)" {
            causes.append(("metadata.name", "Invalid value: \"\(name)\": must be spec.names.plural+\".\"+spec.group", "FieldValueInvalid"))
        }
        let versions = spec["versions"]?.arrayValue ?? []
        if versions.isEmpty { causes.append(("spec.versions", "Invalid value: null: must have exactly one version marked as storage version", "FieldValueInvalid")) }
        if versions.filter({ $0["storage"]?.boolValue == true }).count != 1, !versions.isEmpty {
            causes.append(("spec.versions", "Invalid value: \(versions.count): must have exactly one version marked as storage version", "FieldValueInvalid"))
        }
        for (index, version) in versions.enumerated() {
            if version["schema"]?["openAPIV3Schema"] == nil {
                causes.append(("spec.versions[\(index)].schema.openAPIV3Schema", "Required value: schemas are required", "FieldValueRequired"))
            }
        }
        return causes
    }

    /// Whether `name` is a lowercase RFC 1123 subdomain (what most object names must be).
    static func isDNSSubdomain(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0), max: 253) }
    }

    /// Whether `name` is a lowercase RFC 1123 label (what namespace names must be).
    static func isDNSLabel(_ name: String, max: Int = 63) -> Bool {
        guard let first = name.first, let last = name.last, name.count <= max else { return false }
        let allowed = name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" }
        return allowed && first != "-" && last != "-"
    }

    /// `400` unless the body's `kind` and `apiVersion`, where given, are those of the endpoint.
    static func checkTypeMeta(_ body: JSONValue, type: ResourceType, version: String) throws(APIError) {
        if let kind = body["kind"]?.stringValue, !kind.isEmpty, kind != type.kind {
            throw APIError.badRequest("the kind of the provided object (\(kind)) does not match the kind of the endpoint (\(type.kind))")
        }
        if let apiVersion = body["apiVersion"]?.stringValue, !apiVersion.isEmpty, apiVersion != type.apiVersion(version) {
            throw APIError.badRequest("the API version in the data (\(apiVersion)) does not match the expected API version (\(type.apiVersion(version)))")
        }
    }

    /// `404` if `namespace` does not exist, `403` if it is being deleted: no new content then.
    static func checkNamespace(_ namespace: String?, for type: ResourceType, in store: ObjectStore) throws(APIError) {
        guard type.namespaced, let namespace else { return }
        guard let ns = store.object(ResourceRegistry.namespaces.storageKey, ObjectStore.objectKey(namespace: nil, name: namespace)) else {
            throw APIError.notFound(ResourceRegistry.namespaces, namespace)
        }
        if ns["metadata"]?["deletionTimestamp"] != nil {
            throw APIError(code: 403, reason: "Forbidden", message: "\(type.groupResource) is forbidden: unable to create new content in namespace \(namespace) because it is being terminated",
                           details: APIError.details(type, name: nil, causes: [["reason": "NamespaceTerminating", "message": .string("namespace \(namespace) is being terminated"), "field": "metadata.namespace"]]))
        }
    }

    // MARK: Create

    /// The object a create stores: name (or `generateName`), namespace, uid, timestamps,
    /// generation and the built-in kinds' fixed fields set; validated and defaulted;
    /// managedFields recorded for `manager` unless `applyManager` (server-side apply has
    /// recorded them already); a CRD's status computed. Checks that the namespace admits
    /// new content and that no object of that name exists in `store`.
    static func create(_ body: JSONValue, type: ResourceType, version: String, namespace: String?, manager: String,
                       fieldValidation: String, applyManager: Bool, store: ObjectStore,
                       uid: () -> String = { UUID().uuidString.lowercased() }, now: () -> String = { timestamp() },
                       nameSuffix: () -> String = randomNameSuffix) throws(APIError) -> JSONValue {
        guard var metadata = body["metadata"]?.objectValue ?? (body.objectValue != nil ? [:] : nil) else {
            throw APIError.badRequest("Object 'Kind' is missing in '\(body.jsonString.prefix(200))'")
        }
        try checkTypeMeta(body, type: type, version: version)
        if let bodyNamespace = metadata["namespace"]?.stringValue, let namespace, !bodyNamespace.isEmpty, bodyNamespace != namespace {
            throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        if type.namespaced { metadata["namespace"] = namespace.map(JSONValue.string) } else { metadata["namespace"] = nil }
        var name = metadata["name"]?.stringValue ?? ""
        if name.isEmpty, let prefix = metadata["generateName"]?.stringValue, !prefix.isEmpty {
            name = prefix + nameSuffix()
            metadata["name"] = .string(name)
        }
        guard !name.isEmpty else {
            throw APIError.invalid(type, "", [("metadata.name", "Required value: name or generateName is required", "FieldValueRequired")])
        }
        try checkNamespace(namespace, for: type, in: store)
        let key = ObjectStore.objectKey(namespace: type.namespaced ? namespace : nil, name: name)
        if store.object(type.storageKey, key) != nil { throw APIError.alreadyExists(type, name) }
        guard metadata["resourceVersion"] == nil || metadata["resourceVersion"]?.stringValue?.isEmpty == true else {
            throw APIError.badRequest("resourceVersion should not be set on objects to be created")
        }
        let now = now()
        metadata["uid"] = .string(uid())
        metadata["creationTimestamp"] = .string(now)
        metadata["deletionTimestamp"] = nil
        metadata["deletionGracePeriodSeconds"] = nil
        metadata["selfLink"] = nil
        if type.tracksGeneration { metadata["generation"] = 1 } else { metadata["generation"] = nil }
        var object = body
        object["apiVersion"] = .string(type.apiVersion(type.preferredVersion))
        object["kind"] = .string(type.kind)
        object["metadata"] = .object(metadata)
        if type.hasStatus && type.isCustom { object["status"] = nil }
        if type.storageKey == ResourceRegistry.namespaces.storageKey {
            var labels = metadata["labels"]?.objectValue ?? [:]
            labels["kubernetes.io/metadata.name"] = .string(name)
            metadata["labels"] = .object(labels)
            object["metadata"] = .object(metadata)
            object["spec"] = ["finalizers": ["kubernetes"]]
            object["status"] = ["phase": "Active"]
        }
        object = try validate(object, type: type, version: version, fieldValidation: fieldValidation)
        if !applyManager {
            object = ManagedFields.setting([], on: object)
            object = ManagedFields.recordUpdate(old: nil, new: object, manager: manager, apiVersion: type.apiVersion(version), subresource: "", time: now,
                                                schema: type.schemas[version])
        }
        if type.storageKey == ResourceRegistry.customResourceDefinitions.storageKey {
            object["status"] = crdStatus(object, now: now)
        }
        return object
    }

    // MARK: Update

    /// What an update comes to.
    enum UpdateOutcome {
        /// Nothing changed but volatile metadata: keep the live object and its resourceVersion.
        case unchanged
        /// Store this object.
        case store(JSONValue)
        /// The last finalizer of an object being deleted is gone: remove it (shown as it was last).
        case remove(JSONValue)
    }

    /// The common end of PUT, PATCH and apply: the resourceVersion precondition (`409`),
    /// what the subresource may change (`/status` only status, the main resource all but
    /// status), no new finalizers while deleting, validation and defaults, generation,
    /// managedFields (`Update` entries for `manager` unless `isApply`), a CRD's status.
    static func update(_ candidate: JSONValue, of old: JSONValue, type: ResourceType, version: String, subresource: Subresource,
                       manager: String, fieldValidation: String, isApply: Bool, requireVersion: Bool,
                       now: () -> String = { timestamp() }) throws(APIError) -> UpdateOutcome {
        let name = old["metadata"]?["name"]?.stringValue ?? ""
        try checkTypeMeta(candidate, type: type, version: version)
        let candidateVersion = candidate["metadata"]?["resourceVersion"]?.stringValue ?? ""
        if candidateVersion.isEmpty {
            if requireVersion && !type.allowUnconditionalUpdate {
                throw APIError.invalid(type, name, [("metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update", "FieldValueInvalid")])
            }
        } else if candidateVersion != old["metadata"]?["resourceVersion"]?.stringValue {
            throw APIError.conflict(type, name)
        }
        if let candidateName = candidate["metadata"]?["name"]?.stringValue, candidateName != name {
            throw APIError.badRequest("the name of the object (\(candidateName)) does not match the name on the URL (\(name))")
        }
        let oldMeta = old["metadata"]?.objectValue ?? [:]
        var new: JSONValue
        if subresource == .status {
            new = old
            new["status"] = candidate["status"]
            var metadata = oldMeta
            metadata["managedFields"] = candidate["metadata"]?["managedFields"] ?? oldMeta["managedFields"]
            new["metadata"] = .object(metadata)
        } else {
            new = candidate
            var metadata = candidate["metadata"]?.objectValue ?? [:]
            for key in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "resourceVersion"] {
                metadata[key] = oldMeta[key]
            }
            metadata["generateName"] = metadata["generateName"] ?? oldMeta["generateName"]
            new["metadata"] = .object(metadata)
            if type.hasStatus { new["status"] = old["status"] }
            if type.storageKey == ResourceRegistry.namespaces.storageKey {
                new["spec"] = old["spec"]
                new["status"] = old["status"]
            }
        }
        new["apiVersion"] = .string(type.apiVersion(type.preferredVersion))
        new["kind"] = .string(type.kind)
        if oldMeta["deletionTimestamp"] != nil {
            let before = Set(oldMeta["finalizers"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            let after = new["metadata"]?["finalizers"]?.arrayValue?.compactMap(\.stringValue) ?? []
            if let added = after.first(where: { !before.contains($0) }) {
                throw APIError.invalid(type, name, [("metadata.finalizers", "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"\(added)\"}", "FieldValueForbidden")])
            }
        }
        new = try validate(new, type: type, version: version, fieldValidation: fieldValidation)
        if type.tracksGeneration, specPart(new, hasStatus: type.hasStatus) != specPart(old, hasStatus: type.hasStatus) {
            var metadata = new["metadata"]?.objectValue ?? [:]
            metadata["generation"] = .integer((oldMeta["generation"]?.intValue ?? 0) + 1)
            new["metadata"] = .object(metadata)
        }
        let now = now()
        if !isApply {
            let explicit = candidate["metadata"]?["managedFields"]
            if explicit != nil, explicit != oldMeta["managedFields"], subresource == .main {
                // The client set managedFields itself (e.g. kubectl's client-side-apply upgrade): keep them.
                if explicit?.arrayValue?.isEmpty == true { new = ManagedFields.setting([], on: new) }
            } else {
                new = ManagedFields.setting(ManagedFields.entries(of: old), on: new)
                new = ManagedFields.recordUpdate(old: old, new: new, manager: manager, apiVersion: type.apiVersion(version),
                                                 subresource: subresource.rawValue, time: now, schema: type.schemas[version])
            }
        }
        if type.storageKey == ResourceRegistry.customResourceDefinitions.storageKey {
            new["status"] = crdStatus(new, now: now)
        }
        if isNoOpWrite(new, over: old) { return .unchanged }
        let finalizers = new["metadata"]?["finalizers"]?.arrayValue ?? []
        if new["metadata"]?["deletionTimestamp"] != nil, finalizers.isEmpty { return .remove(new) }
        return .store(new)
    }

    /// Everything but metadata (and status, when it is a subresource): what `generation` tracks.
    static func specPart(_ object: JSONValue, hasStatus: Bool) -> JSONValue {
        var members = object.objectValue ?? [:]
        members["metadata"] = nil
        members["apiVersion"] = nil
        members["kind"] = nil
        if hasStatus { members["status"] = nil }
        return .object(members)
    }

    /// Whether storing `new` over `old` changes nothing but the resourceVersion and
    /// managedFields timestamps. Most writes change something else, which the
    /// first comparison finds without reducing managedFields.
    static func isNoOpWrite(_ new: JSONValue, over old: JSONValue) -> Bool {
        func withoutManagedFields(_ object: JSONValue) -> JSONValue {
            var object = object
            var metadata = object["metadata"]?.objectValue ?? [:]
            metadata["resourceVersion"] = nil
            metadata["managedFields"] = nil
            object["metadata"] = .object(metadata)
            return object
        }
        guard withoutManagedFields(new) == withoutManagedFields(old) else { return false }
        return withoutVolatileMetadata(new) == withoutVolatileMetadata(old)
    }

    /// The object without its resourceVersion and with managedFields reduced to who owns
    /// what (timestamps dropped): two objects equal in this form make a no-op write.
    static func withoutVolatileMetadata(_ object: JSONValue) -> JSONValue {
        var object = object
        var metadata = object["metadata"]?.objectValue ?? [:]
        metadata["resourceVersion"] = nil
        metadata["managedFields"] = .array(ManagedFields.entries(of: object).map { entry in
            [.string(entry.manager), .string(entry.operation), .string(entry.subresource),
             .array(entry.fields.map { .string($0.joined(separator: "\u{0}")) }.sorted { $0.stringValue ?? "" < $1.stringValue ?? "" })]
        })
        object["metadata"] = .object(metadata)
        return object
    }

    /// A CRD's status: accepted names, stored versions, and `NamesAccepted` / `Established`
    /// conditions (kept since they first became true).
    static func crdStatus(_ crd: JSONValue, now: String) -> JSONValue {
        var names = crd["spec"]?["names"]?.objectValue ?? [:]
        if names["singular"] == nil { names["singular"] = .string((names["kind"]?.stringValue ?? "").lowercased()) }
        if names["listKind"] == nil { names["listKind"] = .string((names["kind"]?.stringValue ?? "") + "List") }
        let storage = (crd["spec"]?["versions"]?.arrayValue ?? []).first { $0["storage"]?.boolValue == true }?["name"] ?? "v1"
        var stored = crd["status"]?["storedVersions"]?.arrayValue ?? []
        if !stored.contains(storage) { stored.append(storage) }
        let previous = crd["status"]?["conditions"]?.arrayValue ?? []
        func since(_ type: String) -> JSONValue {
            previous.first { $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True" }?["lastTransitionTime"] ?? .string(now)
        }
        return ["acceptedNames": .object(names), "storedVersions": .array(stored), "conditions": [
            ["type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": since("NamesAccepted")],
            ["type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": since("Established")],
        ]]
    }

    // MARK: Delete

    /// `409` unless the `DeleteOptions` preconditions (`uid`, `resourceVersion`) hold for `old`.
    static func checkPreconditions(_ options: JSONValue?, of old: JSONValue, type: ResourceType) throws(APIError) {
        let name = old["metadata"]?["name"]?.stringValue ?? ""
        if let uid = options?["preconditions"]?["uid"]?.stringValue, uid != old["metadata"]?["uid"]?.stringValue {
            throw APIError(code: 409, reason: "Conflict", message: "Precondition failed: UID in precondition: \(uid), UID in object meta: \(old["metadata"]?["uid"]?.stringValue ?? "")",
                           details: APIError.details(type, name: name))
        }
        if let rv = options?["preconditions"]?["resourceVersion"]?.stringValue, rv != old["metadata"]?["resourceVersion"]?.stringValue {
            throw APIError(code: 409, reason: "Conflict", message: "Precondition failed: ResourceVersion in precondition: \(rv), ResourceVersion in object meta: \(old["metadata"]?["resourceVersion"]?.stringValue ?? "")",
                           details: APIError.details(type, name: name))
        }
    }

    /// What deleting an object does.
    enum Deletion: Equatable {
        /// Remove it now (`200`).
        case remove
        /// It has finalizers: mark it with ``markedForDeletion(_:type:now:)`` and keep it (`202`).
        case markForDeletion
        /// It has finalizers and is being deleted already: nothing changes (`202`).
        case alreadyPending
    }

    /// Whether deleting `old` removes it or waits for its finalizers (`honourFinalizers`
    /// false: a CRD, whose objects are removed with it).
    static func deletion(of old: JSONValue, honourFinalizers: Bool = true) -> Deletion {
        let finalizers = old["metadata"]?["finalizers"]?.arrayValue ?? []
        guard honourFinalizers, !finalizers.isEmpty else { return .remove }
        return old["metadata"]?["deletionTimestamp"] != nil ? .alreadyPending : .markForDeletion
    }

    /// `old` with its deletion started: `deletionTimestamp` set and, where it is tracked, generation bumped.
    static func markedForDeletion(_ old: JSONValue, type: ResourceType, now: String) -> JSONValue {
        var new = old
        var metadata = old["metadata"]?.objectValue ?? [:]
        metadata["deletionTimestamp"] = .string(now)
        metadata["deletionGracePeriodSeconds"] = 0
        if type.tracksGeneration { metadata["generation"] = .integer((metadata["generation"]?.intValue ?? 0) + 1) }
        new["metadata"] = .object(metadata)
        return new
    }

    /// A namespace whose deletion started: `Terminating` until its content is gone.
    static func terminating(namespace: JSONValue, now: String) -> JSONValue {
        var terminating = namespace
        var metadata = namespace["metadata"]?.objectValue ?? [:]
        metadata["deletionTimestamp"] = .string(now)
        metadata["deletionGracePeriodSeconds"] = 0
        terminating["metadata"] = .object(metadata)
        terminating["status"] = ["phase": "Terminating"]
        return terminating
    }
}
