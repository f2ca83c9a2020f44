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

    /// Every leaf path set in `object`, excluding identity and system metadata.
    static func paths(of object: JSONValue, subresource: String) -> Set<FieldPath> {
        var result: Set<FieldPath> = []
        guard let members = object.objectValue else { return result }
        for (key, value) in members {
            switch key {
            case "apiVersion", "kind": continue
            case "status" where subresource != "status": continue
            case "metadata":
                if subresource == "status" { continue }
                for (metaKey, metaValue) in value.objectValue ?? [:] where !ignoredMetadata.contains(metaKey) {
                    collect(metaValue, prefix: ["metadata", metaKey], into: &result)
                }
            default:
                if subresource == "status" && key != "status" { continue }
                collect(value, prefix: [key], into: &result)
            }
        }
        return result
    }

    private static func collect(_ value: JSONValue, prefix: FieldPath, into result: inout Set<FieldPath>) {
        if case .object(let members) = value, !members.isEmpty {
            for (key, member) in members { collect(member, prefix: prefix + [key], into: &result) }
        } else {
            result.insert(prefix)
        }
    }

    static func value(at path: FieldPath, in object: JSONValue) -> JSONValue? {
        var current = object
        for key in path {
            guard let next = current[key] else { return nil }
            current = next
        }
        return current
    }

    static func removing(_ path: FieldPath, from object: JSONValue) -> JSONValue {
        guard let first = path.first, case .object(var members) = object else { return object }
        if path.count == 1 {
            members[first] = nil
        } else if let child = members[first] {
            let updated = removing(Array(path.dropFirst()), from: child)
            // Drop maps emptied by the removal, as structured-merge-diff does.
            if case .object(let m) = updated, m.isEmpty { members[first] = nil } else { members[first] = updated }
        }
        return .object(members)
    }

    static func overlaps(_ a: FieldPath, _ b: FieldPath) -> Bool {
        a.count <= b.count ? Array(b.prefix(a.count)) == a : Array(a.prefix(b.count)) == b
    }

    static func fieldsV1(_ paths: Set<FieldPath>) -> JSONValue {
        var root: [String: JSONValue] = [:]
        func insert(_ path: ArraySlice<String>, into node: inout [String: JSONValue]) {
            guard let first = path.first else { return }
            let key = "f:" + first
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
    static func recordUpdate(old: JSONValue?, new: JSONValue, manager: String, apiVersion: String, subresource: String, time: String) -> JSONValue {
        var entries = old.map(Self.entries(of:)) ?? []
        let oldPaths = old.map { paths(of: $0, subresource: subresource) } ?? []
        let newPaths = paths(of: new, subresource: subresource)
        var changed: Set<FieldPath> = []
        for path in newPaths where old.flatMap({ value(at: path, in: $0) }) != value(at: path, in: new) { changed.insert(path) }
        let removed = oldPaths.subtracting(newPaths).filter { value(at: $0, in: new) == nil }
        guard !changed.isEmpty || !removed.isEmpty else { return ManagedFields.setting(entries, on: new) }
        for index in entries.indices {
            entries[index].fields = entries[index].fields.filter { owned in
                !changed.contains(where: { overlaps($0, owned) }) && !removed.contains(where: { overlaps($0, owned) })
            }
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
    static func apply(config: JSONValue, live: JSONValue?, manager: String, apiVersion: String, subresource: String, force: Bool, time: String) throws(ApplyConflict) -> JSONValue {
        let base: JSONValue = live ?? .object([:])
        var entries = entries(of: base)
        let configPaths = paths(of: config, subresource: subresource)
        let me = ManagedFieldsEntry(manager: manager, operation: "Apply", apiVersion: apiVersion, time: time, subresource: subresource, fields: configPaths)
        let previous = entries.first(where: { $0.sameOwner(me) })?.fields ?? []

        var conflicts: [(manager: String, apiVersion: String, path: FieldPath)] = []
        for (index, entry) in entries.enumerated() where !entry.sameOwner(me) && entry.subresource == subresource {
            var lost: Set<FieldPath> = []
            for owned in entry.fields {
                for path in configPaths where overlaps(path, owned) {
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
        for path in previous.subtracting(configPaths) where !ownedByOthers.contains(where: { overlaps($0, path) }) {
            result = removing(path, from: result)
        }
        result = merge(result, config)
        if let index = entries.firstIndex(where: { $0.sameOwner(me) }) {
            entries[index] = me
        } else {
            entries.append(me)
        }
        return setting(entries, on: result)
    }

    /// Deep merge where maps merge and everything else (lists included) replaces.
    static func merge(_ base: JSONValue, _ overlay: JSONValue) -> JSONValue {
        guard case .object(var members) = base, case .object(let overlayMembers) = overlay else { return overlay }
        for (key, value) in overlayMembers {
            if key == "managedFields" { continue }
            members[key] = members[key].map { merge($0, value) } ?? value
        }
        return .object(members)
    }

    static func conflictMessage(_ conflict: ApplyConflict) -> (String, [JSONValue]) {
        let causes: [JSONValue] = conflict.conflicts.map {
            ["reason": "FieldManagerConflict", "message": .string("conflict with \"\($0.manager)\" using \($0.apiVersion)"),
             "field": .string("." + $0.path.joined(separator: "."))]
        }
        let count = conflict.conflicts.count
        var message = "Apply failed with \(count) conflict\(count == 1 ? "" : "s"): "
        var byManager: [(String, String, [String])] = []
        for item in conflict.conflicts {
            let field = "." + item.path.joined(separator: ".")
            if let index = byManager.firstIndex(where: { $0.0 == item.manager }) { byManager[index].2.append(field) } else { byManager.append((item.manager, item.apiVersion, [field])) }
        }
        message += byManager.map { manager, version, fields in
            fields.count == 1 ? "conflict with \"\(manager)\" using \(version): \(fields[0])"
                : "conflicts with \"\(manager)\" using \(version):\n" + fields.map { "- " + $0 }.joined(separator: "\n")
        }.joined(separator: "\n")
        return (message, causes)
    }
}
