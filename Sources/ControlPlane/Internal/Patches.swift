import Foundation
import JSONSchemaKit

/// RFC 7386 JSON merge patch.
func applyMergePatch(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
    guard case .object(let patchMembers) = patch else { return patch }
    var result = target.objectValue ?? [:]
    for (key, value) in patchMembers {
        if value.isNull {
            result[key] = nil
        } else {
            result[key] = applyMergePatch(result[key] ?? .null, value)
        }
    }
    return .object(result)
}

/// A strategic merge patch treated as a merge patch, with its `$`-directives removed.
/// Most built-in types served here (ConfigMap, Secret, Lease, Namespace, Event) have no
/// merge-keyed lists a client would patch, so this gives the same result; a Service's
/// `ports` and an Endpoints' `subsets` are replaced whole (docs/control-plane.md).
func applyStrategicMergePatch(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
    func strip(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            var out: [String: JSONValue] = [:]
            for (key, member) in members where !key.hasPrefix("$") { out[key] = strip(member) }
            return .object(out)
        case .array(let elements): return .array(elements.map(strip))
        default: return value
        }
    }
    return applyMergePatch(target, strip(patch))
}

/// An RFC 6902 JSON patch failed to apply; the message follows the Kubernetes wording.
struct JSONPatchError: Error { var message: String }

/// The most operations one JSON patch may have (kube-apiserver's limit).
let maximumJSONPatchOperations = 10_000
/// The most bytes the `copy` operations of one JSON patch may copy in all.
let maximumJSONPatchCopyBytes = 3 * 1024 * 1024

/// RFC 6902 JSON patch, including `test`. As kube-apiserver bounds them: at most
/// ``maximumJSONPatchOperations`` operations, and `copy` operations together may copy at
/// most `copyLimit` bytes (a chain of copies would otherwise double a document per
/// operation from a tiny body).
func applyJSONPatch(_ target: JSONValue, _ patch: JSONValue, copyLimit: Int = maximumJSONPatchCopyBytes) throws(JSONPatchError) -> JSONValue {
    guard let operations = patch.arrayValue else { throw JSONPatchError(message: "json: cannot unmarshal object into Go value of type jsonpatch.Patch") }
    guard operations.count <= maximumJSONPatchOperations else {
        throw JSONPatchError(message: "the allowed maximum operations in a JSON patch is \(maximumJSONPatchOperations), but found \(operations.count)")
    }
    var document = target
    var copied = 0
    for operation in operations {
        guard let op = operation["op"]?.stringValue else { throw JSONPatchError(message: "Unexpected kind: missing op") }
        guard let path = operation["path"]?.stringValue else { throw JSONPatchError(message: "missing path in \(op) operation") }
        let tokens = try pointerTokens(path)
        switch op {
        case "add":
            guard let value = operation["value"] else { throw JSONPatchError(message: "missing value in add operation") }
            document = try insert(document, tokens[...], value, replacing: false, path: path)
        case "replace":
            guard let value = operation["value"] else { throw JSONPatchError(message: "missing value in replace operation") }
            guard resolve(document, tokens[...]) != nil else { throw JSONPatchError(message: "replace operation does not apply: doc is missing key: \(path)") }
            document = try insert(document, tokens[...], value, replacing: true, path: path)
        case "remove":
            document = try remove(document, tokens[...], path: path)
        case "test":
            let expected = operation["value"] ?? .null
            guard let actual = resolve(document, tokens[...]), actual == expected else {
                throw JSONPatchError(message: "testing value \(path) failed: test failed")
            }
        case "move", "copy":
            guard let from = operation["from"]?.stringValue else { throw JSONPatchError(message: "missing from in \(op) operation") }
            let fromTokens = try pointerTokens(from)
            guard let value = resolve(document, fromTokens[...]) else { throw JSONPatchError(message: "\(op) operation does not apply: doc is missing from path: \(from)") }
            if op == "copy" {
                copied += value.minimumEncodedSize(stoppingAbove: copyLimit)
                guard copied <= copyLimit else {
                    throw JSONPatchError(message: "the JSON patch copies more than \(copyLimit) bytes in all (copy operations)")
                }
            }
            if op == "move" { document = try remove(document, fromTokens[...], path: from) }
            document = try insert(document, tokens[...], value, replacing: false, path: path)
        default:
            throw JSONPatchError(message: "Unexpected kind: \(op)")
        }
    }
    return document
}

func pointerTokens(_ pointer: String) throws(JSONPatchError) -> [String] {
    if pointer.isEmpty { return [] }
    guard pointer.hasPrefix("/") else { throw JSONPatchError(message: "invalid JSON pointer \(pointer)") }
    return pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
        $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
    }
}

func resolve(_ value: JSONValue, _ tokens: ArraySlice<String>) -> JSONValue? {
    guard let first = tokens.first else { return value }
    switch value {
    case .object(let members): return members[first].flatMap { resolve($0, tokens.dropFirst()) }
    case .array(let elements):
        guard let index = Int(first), elements.indices.contains(index) else { return nil }
        return resolve(elements[index], tokens.dropFirst())
    default: return nil
    }
}

private func insert(_ value: JSONValue, _ tokens: ArraySlice<String>, _ newValue: JSONValue, replacing: Bool, path: String) throws(JSONPatchError) -> JSONValue {
    guard let first = tokens.first else { return newValue }
    let rest = tokens.dropFirst()
    switch value {
    case .object(var members):
        if rest.isEmpty {
            members[first] = newValue
        } else {
            guard let child = members[first] else { throw JSONPatchError(message: "add operation does not apply: doc is missing path: \"\(path)\": missing value") }
            members[first] = try insert(child, rest, newValue, replacing: replacing, path: path)
        }
        return .object(members)
    case .array(var elements):
        if rest.isEmpty {
            if first == "-" && !replacing { elements.append(newValue); return .array(elements) }
            guard let index = Int(first), index >= 0, index <= elements.count, !(replacing && index == elements.count) else {
                throw JSONPatchError(message: "add operation does not apply: doc is missing path: \"\(path)\": missing value")
            }
            if replacing { elements[index] = newValue } else { elements.insert(newValue, at: index) }
            return .array(elements)
        }
        guard let index = Int(first), elements.indices.contains(index) else { throw JSONPatchError(message: "add operation does not apply: doc is missing path: \"\(path)\": missing value") }
        elements[index] = try insert(elements[index], rest, newValue, replacing: replacing, path: path)
        return .array(elements)
    default:
        throw JSONPatchError(message: "add operation does not apply: doc is missing path: \"\(path)\": missing value")
    }
}

private func remove(_ value: JSONValue, _ tokens: ArraySlice<String>, path: String) throws(JSONPatchError) -> JSONValue {
    guard let first = tokens.first else { throw JSONPatchError(message: "remove operation does not apply: doc is missing path: \"\(path)\"") }
    let rest = tokens.dropFirst()
    switch value {
    case .object(var members):
        guard let child = members[first] else { throw JSONPatchError(message: "remove operation does not apply: doc is missing path: \"\(path)\": missing value") }
        if rest.isEmpty {
            members.removeValue(forKey: first)
        } else {
            members[first] = try remove(child, rest, path: path)
        }
        return .object(members)
    case .array(var elements):
        guard let index = Int(first), elements.indices.contains(index) else { throw JSONPatchError(message: "remove operation does not apply: doc is missing path: \"\(path)\": missing value") }
        if rest.isEmpty { elements.remove(at: index) } else { elements[index] = try remove(elements[index], rest, path: path) }
        return .array(elements)
    default:
        throw JSONPatchError(message: "remove operation does not apply: doc is missing path: \"\(path)\": missing value")
    }
}
