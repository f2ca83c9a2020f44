import Foundation
import JSONSchemaKit

/// A field path inside an object, e.g. `["spec", "module"]`. Lists are atomic:
/// a path ends at a list.
typealias FieldPath = [String]

/// One `metadata.managedFields` entry: what a manager last set, and how.
struct ManagedFieldsEntry: Equatable {
    var manager: String
    var operation: String
    var apiVersion: String
    var time: String
    var subresource: String
    var fields: Set<FieldPath>

    init(manager: String, operation: String, apiVersion: String, time: String, subresource: String, fields: Set<FieldPath>) {
        self.manager = manager
        self.operation = operation
        self.apiVersion = apiVersion
        self.time = time
        self.subresource = subresource
        self.fields = fields
    }

    init?(json: JSONValue) {
        guard let manager = json["manager"]?.stringValue else { return nil }
        self.manager = manager
        operation = json["operation"]?.stringValue ?? "Update"
        apiVersion = json["apiVersion"]?.stringValue ?? ""
        time = json["time"]?.stringValue ?? ""
        subresource = json["subresource"]?.stringValue ?? ""
        fields = ManagedFields.paths(fromFieldsV1: json["fieldsV1"] ?? [:])
    }

    var json: JSONValue {
        var object: [String: JSONValue] = [
            "manager": .string(manager), "operation": .string(operation), "apiVersion": .string(apiVersion),
            "time": .string(time), "fieldsType": "FieldsV1", "fieldsV1": ManagedFields.fieldsV1(fields),
        ]
        if !subresource.isEmpty { object["subresource"] = .string(subresource) }
        return .object(object)
    }

    func sameOwner(_ other: ManagedFieldsEntry) -> Bool {
        manager == other.manager && operation == other.operation && subresource == other.subresource
    }
}

/// A server-side apply request was refused because other managers own fields it changes.
struct ApplyConflict: Error {
    var conflicts: [(manager: String, apiVersion: String, path: FieldPath)]
}

/// Field ownership (`managedFields`) and server-side apply, with atomic lists.
enum ManagedFields {
    static let ignoredMetadata: Set<String> = [
        "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink", "generateName",
    ]

    /// Every leaf path set in `object`, excluding identity and system metadata. With a
    /// structural `schema`, lists marked `x-kubernetes-list-type: map` are owned per element
    /// (`k:{"key":"value"}` components, plus one path for the element itself) and `set`
    /// lists per value (`v:<json>`); other lists are atomic.
    static func paths(of object: JSONValue, subresource: String, schema: JSONValue? = nil) -> Set<FieldPath> {
        var result: Set<FieldPath> = []
        guard let members = object.objectValue else { return result }
        for (key, value) in members {
            switch key {
            case "apiVersion", "kind": continue
            case "status" where subresource != "status": continue
            case "metadata":
                if subresource == "status" { continue }
                for (metaKey, metaValue) in value.objectValue ?? [:] where !ignoredMetadata.contains(metaKey) {
                    collect(metaValue, prefix: ["metadata", metaKey], schema: childSchema(metadataSchema, metaKey), into: &result)
                }
            default:
                if subresource == "status" && key != "status" { continue }
                collect(value, prefix: [key], schema: childSchema(schema, key), into: &result)
            }
        }
        return result
    }

    /// ObjectMeta's list semantics: finalizers are a set, owner references are keyed by uid.
    static let metadataSchema: JSONValue = ["type": "object", "properties": [
        "finalizers": ["type": "array", "x-kubernetes-list-type": "set", "items": ["type": "string"]],
        "ownerReferences": ["type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"], "items": ["type": "object"]],
    ]]

    /// `schema` (or an empty one) with `metadata` described by ``metadataSchema``.
    static func withMetadata(_ schema: JSONValue?) -> JSONValue {
        var root = schema ?? ["type": "object"]
        var properties = root["properties"]?.objectValue ?? [:]
        properties["metadata"] = metadataSchema
        root["properties"] = .object(properties)
        return root
    }

    static func childSchema(_ schema: JSONValue?, _ key: String) -> JSONValue? {
        guard let schema else { return nil }
        if let property = schema["properties"]?[key] { return property }
        if let additional = schema["additionalProperties"], additional.objectValue != nil { return additional }
        return nil
    }

    /// `("map", keys)`, `("set", [])` or `("atomic", [])` for a list's schema.
    static func listType(_ schema: JSONValue?) -> (type: String, keys: [String]) {
        switch schema?["x-kubernetes-list-type"]?.stringValue {
        case "map":
            let keys = schema?["x-kubernetes-list-map-keys"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return keys.isEmpty ? ("atomic", []) : ("map", keys)
        case "set": return ("set", [])
        default: return ("atomic", [])
        }
    }

    /// The `k:{...}` component naming a map-list element by its keys.
    static func elementComponent(_ element: JSONValue, keys: [String]) -> String? {
        var identity: [String: JSONValue] = [:]
        for key in keys {
            guard let value = element[key] else { return nil }
            identity[key] = value
        }
        return "k:" + JSONValue.object(identity).jsonString
    }

    static func isElement(_ component: String) -> Bool { component.hasPrefix("k:") || component.hasPrefix("v:") }

    private static func matches(_ element: JSONValue, _ component: String) -> Bool {
        if component.hasPrefix("v:") { return element.jsonString == String(component.dropFirst(2)) }
        guard let identity = try? JSONValue(parsing: Data(component.dropFirst(2).utf8)).objectValue else { return false }
        return identity.allSatisfy { element[$0.key] == $0.value }
    }

    private static func collect(_ value: JSONValue, prefix: FieldPath, schema: JSONValue?, into result: inout Set<FieldPath>) {
        switch value {
        case .object(let members) where !members.isEmpty:
            for (key, member) in members { collect(member, prefix: prefix + [key], schema: childSchema(schema, key), into: &result) }
        case .array(let elements) where elements.isEmpty && listType(schema).type != "atomic":
            break  // An empty keyed list claims no element.
        case .array(let elements) where listType(schema).type == "map":
            let keys = listType(schema).keys
            let items = schema?["items"]
            for element in elements {
                guard let component = elementComponent(element, keys: keys) else { result.insert(prefix); continue }
                let path = prefix + [component]
                result.insert(path)
                for (key, member) in element.objectValue ?? [:] {
                    collect(member, prefix: path + [key], schema: childSchema(items, key), into: &result)
                }
            }
        case .array(let elements) where listType(schema).type == "set":
            for element in elements { result.insert(prefix + ["v:" + element.jsonString]) }
        default:
            result.insert(prefix)
        }
    }

    static func value(at path: FieldPath, in object: JSONValue) -> JSONValue? {
        var current = object
        for key in path {
            if isElement(key), case .array(let elements) = current {
                guard let match = elements.first(where: { matches($0, key) }) else { return nil }
                current = match
            } else {
                guard let next = current[key] else { return nil }
                current = next
            }
        }
        return current
    }

    static func removing(_ path: FieldPath, from object: JSONValue) -> JSONValue {
        guard let first = path.first else { return object }
        if isElement(first), case .array(var elements) = object {
            guard let index = elements.firstIndex(where: { matches($0, first) }) else { return object }
            if path.count == 1 { elements.remove(at: index) } else { elements[index] = removing(Array(path.dropFirst()), from: elements[index]) }
            return .array(elements)
        }
        guard case .object(var members) = object else { return object }
        if path.count == 1 {
            members[first] = nil
        } else if let child = members[first] {
            let updated = removing(Array(path.dropFirst()), from: child)
            // Drop maps emptied by the removal, as structured-merge-diff does.
            if case .object(let m) = updated, m.isEmpty { members[first] = nil } else { members[first] = updated }
        }
        return .object(members)
    }

    /// Whether owning `a` and `b` clash: the same field, or one inside the other, except that
    /// owning a list element itself (`k:`/`v:`) does not own the element's fields.
    static func clashes(_ a: FieldPath, _ b: FieldPath) -> Bool {
        let (short, long) = a.count <= b.count ? (a, b) : (b, a)
        guard Array(long.prefix(short.count)) == short else { return false }
        return short.count == long.count || !(short.last.map(isElement) ?? false)
    }

    /// The paths of `owned` that no path of `taken` ``clashes(_:_:)`` with, found through the
    /// prefixes of the paths rather than by comparing every pair.
    static func fields(_ owned: Set<FieldPath>, clearOf taken: Set<FieldPath>) -> Set<FieldPath> {
        guard !taken.isEmpty else { return owned }
        var shorterThanTaken: Set<FieldPath> = []
        for path in taken where path.count > 1 {
            for length in 1..<path.count { shorterThanTaken.insert(Array(path.prefix(length))) }
        }
        return owned.filter { field in
            if taken.contains(field) { return false }
            // Owning a field owns what is inside it, unless it names a list element.
            if shorterThanTaken.contains(field), !(field.last.map(isElement) ?? false) { return false }
            guard field.count > 1 else { return true }
            for length in 1..<field.count {
                let prefix = Array(field.prefix(length))
                if taken.contains(prefix), !(prefix.last.map(isElement) ?? false) { return false }
            }
            return true
        }
    }

    static func overlaps(_ a: FieldPath, _ b: FieldPath) -> Bool {
        a.count <= b.count ? Array(b.prefix(a.count)) == a : Array(a.prefix(b.count)) == b
    }

    static func fieldsV1(_ paths: Set<FieldPath>) -> JSONValue {
        var root: [String: JSONValue] = [:]
        func insert(_ path: ArraySlice<String>, into node: inout [String: JSONValue]) {
            guard let first = path.first else { return }
            let key = isElement(first) ? first : "f:" + first
            var child = node[key]?.objectValue ?? [:]
            if path.count == 1 {
                if !child.isEmpty { child["."] = [:] }
            } else {
                if node[key] != nil && child.isEmpty { child["."] = [:] }
                insert(path.dropFirst(), into: &child)
            }
            node[key] = .object(child)
        }
        for path in paths.sorted(by: { $0.lexicographicallyPrecedes($1) }) { insert(path[...], into: &root) }
        return .object(root)
    }

    static func paths(fromFieldsV1 tree: JSONValue) -> Set<FieldPath> {
        var result: Set<FieldPath> = []
        func walk(_ node: JSONValue, _ prefix: FieldPath) {
            let members = node.objectValue ?? [:]
            if members.isEmpty || members["."] != nil, !prefix.isEmpty { result.insert(prefix) }
            for (key, child) in members where key != "." {
                let name = key.hasPrefix("f:") ? String(key.dropFirst(2)) : key
                walk(child, prefix + [name])
            }
        }
        walk(tree, [])
        return result
    }

    static func entries(of object: JSONValue) -> [ManagedFieldsEntry] {
        (object["metadata"]?["managedFields"]?.arrayValue ?? []).compactMap(ManagedFieldsEntry.init(json:))
    }

    static func setting(_ entries: [ManagedFieldsEntry], on object: JSONValue) -> JSONValue {
        var object = object
        var metadata = object["metadata"]?.objectValue ?? [:]
        let kept = entries.filter { !$0.fields.isEmpty }
        if kept.isEmpty {
            metadata.removeValue(forKey: "managedFields")
        } else {
            metadata["managedFields"] = .array(kept.map(\.json))
        }
        object["metadata"] = .object(metadata)
        return object
    }

    /// Records an update (create, PUT, non-apply PATCH) by `manager`: it gains every
    /// changed field; other managers lose the fields it changed or removed.
    static func recordUpdate(old: JSONValue?, new: JSONValue, manager: String, apiVersion: String, subresource: String, time: String,
                             schema: JSONValue? = nil) -> JSONValue {
        var entries = old.map(Self.entries(of:)) ?? []
        let oldPaths = old.map { paths(of: $0, subresource: subresource, schema: schema) } ?? []
        let newPaths = paths(of: new, subresource: subresource, schema: schema)
        // One pass over each object instead of a walk from the root per path: a TinyFlow's
        // revisions hold every node of the flow, tens of thousands of paths.
        let (oldValues, newValues) = (old.map { ValueIndex($0, schema: schema) }, ValueIndex(new, schema: schema))
        var changed: Set<FieldPath> = []
        for path in newPaths where oldValues?[path] != newValues[path] { changed.insert(path) }
        let removed = oldPaths.subtracting(newPaths).filter { newValues[$0] == nil }
        guard !changed.isEmpty || !removed.isEmpty else { return ManagedFields.setting(entries, on: new) }
        let taken = changed.union(removed)
        for index in entries.indices {
            entries[index].fields = fields(entries[index].fields, clearOf: taken)
        }
        let mine = ManagedFieldsEntry(manager: manager, operation: "Update", apiVersion: apiVersion, time: time, subresource: subresource, fields: [])
        if let index = entries.firstIndex(where: { $0.sameOwner(mine) }) {
            entries[index].fields.formUnion(changed)
            entries[index].time = time
            entries[index].apiVersion = apiVersion
        } else {
            var entry = mine
            entry.fields = changed
            entries.append(entry)
        }
        return ManagedFields.setting(entries, on: new)
    }

    /// Server-side apply of `config` by `manager` onto `live` (nil when creating).
    static func apply(config: JSONValue, live: JSONValue?, manager: String, apiVersion: String, subresource: String, force: Bool, time: String,
                      schema: JSONValue? = nil) throws(ApplyConflict) -> JSONValue {
        let base: JSONValue = live ?? .object([:])
        var entries = entries(of: base)
        let configPaths = paths(of: config, subresource: subresource, schema: schema)
        let me = ManagedFieldsEntry(manager: manager, operation: "Apply", apiVersion: apiVersion, time: time, subresource: subresource, fields: configPaths)
        let previous = entries.first(where: { $0.sameOwner(me) })?.fields ?? []

        var conflicts: [(manager: String, apiVersion: String, path: FieldPath)] = []
        for (index, entry) in entries.enumerated() where !entry.sameOwner(me) && entry.subresource == subresource {
            var lost: Set<FieldPath> = []
            for owned in entry.fields {
                for path in configPaths where clashes(path, owned) && !(path.last.map(isElement) ?? false) {
                    if value(at: path, in: config) != value(at: path, in: base) {
                        lost.insert(owned)
                        conflicts.append((entry.manager, entry.apiVersion, path))
                    }
                }
            }
            if force { entries[index].fields.subtract(lost) }
        }
        if !conflicts.isEmpty && !force {
            var seen = Set<String>()
            conflicts = conflicts.filter { seen.insert($0.manager + "\u{0}" + $0.path.joined(separator: ".")).inserted }
            throw ApplyConflict(conflicts: conflicts)
        }

        var result = base
        let ownedByOthers = entries.filter { !$0.sameOwner(me) }.flatMap(\.fields)
        for path in previous.subtracting(configPaths).sorted(by: { $0.count < $1.count })
        where !ownedByOthers.contains(where: { overlaps($0, path) }) {
            result = removing(path, from: result)
        }
        result = merge(result, config, schema: withMetadata(schema))
        if let index = entries.firstIndex(where: { $0.sameOwner(me) }) {
            entries[index] = me
        } else {
            entries.append(me)
        }
        return setting(entries, on: result)
    }

    /// `apply`, plus the API server's upgrade path from client-side apply: when the applier is
    /// `kubectl` (server-side) and every conflict is on a field recorded in the object's
    /// `kubectl.kubernetes.io/last-applied-configuration`, the apply goes through as forced,
    /// so `kubectl apply --server-side` takes over objects `kubectl apply` created.
    static func applyUpgradingClientSideApply(config: JSONValue, live: JSONValue, manager: String, apiVersion: String, subresource: String,
                                              force: Bool, time: String, schema: JSONValue?) throws(ApplyConflict) -> JSONValue {
        do {
            return try apply(config: config, live: live, manager: manager, apiVersion: apiVersion, subresource: subresource,
                             force: force, time: time, schema: schema)
        } catch {
            guard manager == "kubectl",
                  let annotation = live["metadata"]?["annotations"]?["kubectl.kubernetes.io/last-applied-configuration"]?.stringValue,
                  let lastApplied = try? JSONValue(parsing: Data(annotation.utf8))
            else { throw error }
            let allowed = paths(of: lastApplied, subresource: subresource, schema: schema)
            guard error.conflicts.allSatisfy({ conflict in allowed.contains { clashes($0, conflict.path) } }) else { throw error }
            return try apply(config: config, live: live, manager: manager, apiVersion: apiVersion, subresource: subresource,
                             force: true, time: time, schema: schema)
        }
    }

    /// Deep merge: maps merge, map-lists merge by key, set-lists unite, everything else replaces.
    static func merge(_ base: JSONValue, _ overlay: JSONValue, schema: JSONValue? = nil) -> JSONValue {
        switch (base, overlay) {
        case (.object(var members), .object(let overlayMembers)):
            for (key, value) in overlayMembers where key != "managedFields" {
                let child = schema.flatMap { _ in childSchema(schema, key) }
                members[key] = members[key].map { merge($0, value, schema: child) } ?? value
            }
            return .object(members)
        case (.array(var elements), .array(let overlayElements)):
            let list = listType(schema)
            switch list.type {
            case "map":
                for element in overlayElements {
                    if let component = elementComponent(element, keys: list.keys),
                       let index = elements.firstIndex(where: { elementComponent($0, keys: list.keys) == component }) {
                        elements[index] = merge(elements[index], element, schema: schema?["items"])
                    } else {
                        elements.append(element)
                    }
                }
                return .array(elements)
            case "set":
                for element in overlayElements where !elements.contains(element) { elements.append(element) }
                return .array(elements)
            default:
                return overlay
            }
        default:
            return overlay
        }
    }

    /// A path as structured-merge-diff prints it: `.status.conditions[type="Ready"].status`.
    static func render(_ path: FieldPath) -> String {
        path.map { component -> String in
            if component.hasPrefix("k:"), let identity = try? JSONValue(parsing: Data(component.dropFirst(2).utf8)).objectValue {
                return "[" + identity.keys.sorted().map { "\($0)=\(identity[$0]?.jsonString ?? "")" }.joined(separator: ",") + "]"
            }
            if component.hasPrefix("v:") { return "[=\(component.dropFirst(2))]" }
            return "." + component
        }.joined()
    }

    static func conflictMessage(_ conflict: ApplyConflict) -> (String, [JSONValue]) {
        let causes: [JSONValue] = conflict.conflicts.map {
            ["reason": "FieldManagerConflict", "message": .string("conflict with \"\($0.manager)\" using \($0.apiVersion)"),
             "field": .string(render($0.path))]
        }
        let count = conflict.conflicts.count
        var message = "Apply failed with \(count) conflict\(count == 1 ? "" : "s"): "
        var byManager: [(String, String, [String])] = []
        for item in conflict.conflicts {
            let field = render(item.path)
            if let index = byManager.firstIndex(where: { $0.0 == item.manager }) { byManager[index].2.append(field) } else { byManager.append((item.manager, item.apiVersion, [field])) }
        }
        message += byManager.map { manager, version, fields in
            fields.count == 1 ? "conflict with \"\(manager)\" using \(version): \(fields[0])"
                : "conflicts with \"\(manager)\" using \(version):\n" + fields.map { "- " + $0 }.joined(separator: "\n")
        }.joined(separator: "\n")
        return (message, causes)
    }
}

/// The value at every path of an object that ``ManagedFields/paths(of:subresource:schema:)``
/// yields, and at every path leading there: what ``ManagedFields/value(at:in:)`` answers,
/// from one pass over the object. Map-list elements are found by their `k:` component
/// (the first of equals), set-list elements by their `v:` one.
struct ValueIndex {
    private var values: [FieldPath: JSONValue] = [:]

    init(_ object: JSONValue, schema: JSONValue?) {
        for (key, value) in object.objectValue ?? [:] {
            let childSchema = key == "metadata" ? ManagedFields.metadataSchema : ManagedFields.childSchema(schema, key)
            record(value, at: [key], schema: childSchema)
        }
    }

    subscript(path: FieldPath) -> JSONValue? { values[path] }

    private mutating func record(_ value: JSONValue, at path: FieldPath, schema: JSONValue?) {
        guard values[path] == nil else { return }
        values[path] = value
        switch value {
        case .object(let members):
            for (key, member) in members { record(member, at: path + [key], schema: ManagedFields.childSchema(schema, key)) }
        case .array(let elements):
            let list = ManagedFields.listType(schema)
            switch list.type {
            case "map":
                let items = schema?["items"]
                for element in elements {
                    guard let component = ManagedFields.elementComponent(element, keys: list.keys) else { continue }
                    record(element, at: path + [component], schema: items)
                }
            case "set":
                for element in elements where values[path + ["v:" + element.jsonString]] == nil {
                    values[path + ["v:" + element.jsonString]] = element
                }
            default:
                break
            }
        default:
            break
        }
    }
}
