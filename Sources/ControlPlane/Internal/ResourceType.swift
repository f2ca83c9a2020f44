import Foundation
import JSONSchemaKit

/// One `additionalPrinterColumns` entry: a column `kubectl get` shows.
struct PrinterColumn: Sendable, Hashable {
    var name: String
    var type: String
    var format: String
    var description: String
    var priority: Int
    var jsonPath: String
}

/// A subresource discovery lists besides `status`, e.g. `services/proxy`.
struct ExtraSubresource: Sendable {
    /// The part after the slash, e.g. `proxy`.
    var name: String
    /// The kind discovery names for it, e.g. `ServiceProxyOptions`.
    var kind: String
    var verbs: [String]
}

/// A kind of object the control plane serves: a built-in or one defined by a CRD.
struct ResourceType: Sendable {
    var group: String
    /// Served versions, preferred first.
    var versions: [String]
    var plural: String
    var singular: String
    var kind: String
    var shortNames: [String] = []
    var categories: [String] = []
    var namespaced: Bool
    var hasStatus: Bool = false
    var tracksGeneration: Bool = false
    var allowUnconditionalUpdate: Bool = true
    var returnsDeletedObject: Bool = false
    /// `openAPIV3Schema` per version (custom resources only).
    var schemas: [String: JSONValue] = [:]
    var printerColumns: [String: [PrinterColumn]] = [:]
    var isCustom: Bool = false
    /// Subresources other than `status` (served by their own code, listed by discovery).
    var extraSubresources: [ExtraSubresource] = []

    var listKind: String { kind + "List" }
    var storageKey: String { group + "/" + plural }
    var groupResource: String { group.isEmpty ? plural : plural + "." + group }
    var qualifiedKind: String { group.isEmpty ? kind : kind + "." + group }
    func apiVersion(_ version: String) -> String { group.isEmpty ? version : group + "/" + version }
    var preferredVersion: String { versions.first ?? "v1" }
    var verbs: [String] { ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"] }
}

/// The resource types served right now: the built-ins plus those of established CRDs.
struct ResourceRegistry: Sendable {
    private(set) var types: [String: ResourceType] = [:]

    static let namespaces = ResourceType(
        group: "", versions: ["v1"], plural: "namespaces", singular: "namespace", kind: "Namespace",
        shortNames: ["ns"], namespaced: false, hasStatus: true, printerColumns: ["v1": [
            PrinterColumn(name: "Status", type: "string", format: "", description: "The phase of the namespace.", priority: 0, jsonPath: ".status.phase"),
        ]])
    static let configMaps = ResourceType(
        group: "", versions: ["v1"], plural: "configmaps", singular: "configmap", kind: "ConfigMap",
        shortNames: ["cm"], namespaced: true)
    /// Core v1 Services: only what the service proxy (`services/NAME[:PORT]/proxy/…`) reads is
    /// checked (`spec.ports`); there are no cluster IPs, no kube-proxy and no load balancers.
    static let services = ResourceType(
        group: "", versions: ["v1"], plural: "services", singular: "service", kind: "Service",
        shortNames: ["svc"], namespaced: true,
        extraSubresources: [ExtraSubresource(name: "proxy", kind: "ServiceProxyOptions", verbs: ["create", "delete", "get", "patch", "update"])])
    /// Core v1 Endpoints: the addresses the service proxy forwards to. Written by whoever runs
    /// the service (`tinyflow up` for the operator); no controller fills them from Pods here.
    static let endpoints = ResourceType(
        group: "", versions: ["v1"], plural: "endpoints", singular: "endpoints", kind: "Endpoints",
        shortNames: ["ep"], namespaced: true)
    static let secrets = ResourceType(
        group: "", versions: ["v1"], plural: "secrets", singular: "secret", kind: "Secret", namespaced: true,
        printerColumns: ["v1": [
            PrinterColumn(name: "Type", type: "string", format: "", description: "The type of the secret.", priority: 0, jsonPath: ".type"),
        ]])
    static let leases = ResourceType(
        group: "coordination.k8s.io", versions: ["v1"], plural: "leases", singular: "lease", kind: "Lease",
        namespaced: true, printerColumns: ["v1": [
            PrinterColumn(name: "Holder", type: "string", format: "", description: "The holder of the lease.", priority: 0, jsonPath: ".spec.holderIdentity"),
        ]])
    static let events = ResourceType(
        group: "events.k8s.io", versions: ["v1"], plural: "events", singular: "event", kind: "Event",
        shortNames: ["ev"], namespaced: true, printerColumns: ["v1": [
            PrinterColumn(name: "Type", type: "string", format: "", description: "The event type.", priority: 0, jsonPath: ".type"),
            PrinterColumn(name: "Reason", type: "string", format: "", description: "The event reason.", priority: 0, jsonPath: ".reason"),
            PrinterColumn(name: "Object", type: "string", format: "", description: "The object regarded.", priority: 0, jsonPath: ".regarding.name"),
            PrinterColumn(name: "Message", type: "string", format: "", description: "The event message.", priority: 0, jsonPath: ".note"),
        ]])
    static let customResourceDefinitions = ResourceType(
        group: "apiextensions.k8s.io", versions: ["v1"], plural: "customresourcedefinitions",
        singular: "customresourcedefinition", kind: "CustomResourceDefinition", shortNames: ["crd", "crds"],
        categories: ["api-extensions"], namespaced: false, hasStatus: true, tracksGeneration: true,
        returnsDeletedObject: true, printerColumns: ["v1": [
            PrinterColumn(name: "Created At", type: "date", format: "", description: "", priority: 0, jsonPath: ".metadata.creationTimestamp"),
        ]])

    init() {
        for type in [Self.namespaces, Self.configMaps, Self.services, Self.endpoints, Self.secrets, Self.leases, Self.events, Self.customResourceDefinitions] {
            types[type.storageKey] = type
        }
    }

    /// The type served at `group`/`version` under `plural`, if any.
    func lookup(group: String, version: String, plural: String) -> ResourceType? {
        guard let type = types[group + "/" + plural], type.versions.contains(version) else { return nil }
        return type
    }

    /// Every served group name with its versions, core group excluded, in a stable order
    /// (built-in groups first, then custom groups by name).
    var groups: [(name: String, versions: [String])] {
        var seen: [String: [String]] = [:]
        for type in types.values where !type.group.isEmpty {
            var versions = seen[type.group] ?? []
            for version in type.versions where !versions.contains(version) { versions.append(version) }
            seen[type.group] = versions
        }
        let builtin = ["apiextensions.k8s.io", "coordination.k8s.io", "events.k8s.io"]
        return seen.keys.sorted { lhs, rhs in
            let l = builtin.firstIndex(of: lhs) ?? Int.max, r = builtin.firstIndex(of: rhs) ?? Int.max
            return l != r ? l < r : lhs < rhs
        }.map { ($0, seen[$0] ?? []) }
    }

    /// The types served in `group`/`version`, sorted by plural.
    func types(group: String, version: String) -> [ResourceType] {
        types.values.filter { $0.group == group && $0.versions.contains(version) }.sorted { $0.plural < $1.plural }
    }

    /// Adds or replaces the type a CRD defines.
    mutating func register(_ type: ResourceType) { types[type.storageKey] = type }

    /// Stops serving a custom type.
    mutating func unregister(storageKey: String) {
        if types[storageKey]?.isCustom == true { types[storageKey] = nil }
    }

    /// The type a CRD object defines, or `nil` if it serves no version.
    static func resourceType(fromCRD crd: JSONValue) -> ResourceType? {
        guard let spec = crd["spec"], let group = spec["group"]?.stringValue,
              let names = spec["names"], let plural = names["plural"]?.stringValue,
              let kind = names["kind"]?.stringValue
        else { return nil }
        var served: [String] = []
        var schemas: [String: JSONValue] = [:]
        var columns: [String: [PrinterColumn]] = [:]
        var hasStatus = false
        var storageFirst: [String] = []
        for version in spec["versions"]?.arrayValue ?? [] {
            guard let name = version["name"]?.stringValue, version["served"]?.boolValue ?? true else { continue }
            if version["storage"]?.boolValue == true { storageFirst.insert(name, at: 0) } else { storageFirst.append(name) }
            served.append(name)
            if let schema = version["schema"]?["openAPIV3Schema"] { schemas[name] = schema }
            if version["subresources"]?["status"] != nil { hasStatus = true }
            columns[name] = (version["additionalPrinterColumns"]?.arrayValue ?? []).compactMap { column in
                guard let name = column["name"]?.stringValue, let path = column["jsonPath"]?.stringValue else { return nil }
                return PrinterColumn(
                    name: name, type: column["type"]?.stringValue ?? "string",
                    format: column["format"]?.stringValue ?? "", description: column["description"]?.stringValue ?? "",
                    priority: column["priority"]?.intValue ?? 0, jsonPath: path)
            }
        }
        guard !served.isEmpty else { return nil }
        // Discovery prefers the highest-priority version (Kubernetes version ordering); keep it simple: storage first.
        return ResourceType(
            group: group, versions: storageFirst, plural: plural,
            singular: names["singular"]?.stringValue ?? kind.lowercased(), kind: kind,
            shortNames: names["shortNames"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            categories: names["categories"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            namespaced: spec["scope"]?.stringValue != "Cluster", hasStatus: hasStatus, tracksGeneration: true,
            allowUnconditionalUpdate: false, returnsDeletedObject: true, schemas: schemas,
            printerColumns: columns, isCustom: true)
    }
}
