import Foundation
import JSONSchemaKit

/// Evaluates the Kubernetes JSONPath subset printer columns use:
/// `.a.b`, `[0]`, `[*]`, `['key']` and filters `[?(@.type=="Ready")]`.
/// Returns every matched value in document order.
func evaluateJSONPath(_ expression: String, on root: JSONValue) -> [JSONValue] {
    var path = expression.trimmingCharacters(in: .whitespaces)
    if path.hasPrefix("{") && path.hasSuffix("}") { path = String(path.dropFirst().dropLast()) }
    if path.hasPrefix("$") { path.removeFirst() }
    var current: [JSONValue] = [root]
    var index = path.startIndex
    while index < path.endIndex {
        let character = path[index]
        if character == "." {
            index = path.index(after: index)
            var end = index
            while end < path.endIndex, path[end] != ".", path[end] != "[" { end = path.index(after: end) }
            let key = String(path[index..<end])
            index = end
            if key.isEmpty { continue }
            if key == "*" {
                current = current.flatMap { value -> [JSONValue] in
                    if let o = value.objectValue { return o.keys.sorted().compactMap { o[$0] } }
                    return value.arrayValue ?? []
                }
            } else {
                current = current.compactMap { $0[key] }
            }
        } else if character == "[" {
            guard let close = matchingBracket(path, from: index) else { return [] }
            let inner = String(path[path.index(after: index)..<close]).trimmingCharacters(in: .whitespaces)
            index = path.index(after: close)
            if inner == "*" {
                current = current.flatMap { $0.arrayValue ?? [] }
            } else if let n = Int(inner) {
                current = current.compactMap { value in
                    guard let a = value.arrayValue else { return nil }
                    let i = n < 0 ? a.count + n : n
                    return a.indices.contains(i) ? a[i] : nil
                }
            } else if inner.hasPrefix("'") || inner.hasPrefix("\"") {
                let key = String(inner.dropFirst().dropLast())
                current = current.compactMap { $0[key] }
            } else if inner.hasPrefix("?(") && inner.hasSuffix(")") {
                let filter = String(inner.dropFirst(2).dropLast())
                current = current.flatMap { value in (value.arrayValue ?? []).filter { matchesFilter(filter, $0) } }
            } else {
                return []
            }
        } else {
            // A bare leading key, as in `spec.module`.
            var end = index
            while end < path.endIndex, path[end] != ".", path[end] != "[" { end = path.index(after: end) }
            let key = String(path[index..<end])
            index = end
            current = current.compactMap { $0[key] }
        }
    }
    return current
}

private func matchingBracket(_ text: String, from start: String.Index) -> String.Index? {
    var depth = 0
    var quote: Character?
    var index = start
    while index < text.endIndex {
        let c = text[index]
        if let q = quote {
            if c == q { quote = nil }
        } else if c == "'" || c == "\"" {
            quote = c
        } else if c == "[" {
            depth += 1
        } else if c == "]" {
            depth -= 1
            if depth == 0 { return index }
        }
        index = text.index(after: index)
    }
    return nil
}

private func matchesFilter(_ filter: String, _ element: JSONValue) -> Bool {
    for op in ["==", "!="] {
        if let range = filter.range(of: op) {
            let lhs = filter[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
            var rhs = filter[range.upperBound...].trimmingCharacters(in: .whitespaces)
            guard lhs.hasPrefix("@") else { return false }
            let values = evaluateJSONPath(String(lhs.dropFirst()), on: element)
            let expected: JSONValue
            if (rhs.hasPrefix("\"") && rhs.hasSuffix("\"")) || (rhs.hasPrefix("'") && rhs.hasSuffix("'")) {
                rhs = String(rhs.dropFirst().dropLast())
                expected = .string(rhs)
            } else if let n = Int(rhs) {
                expected = .integer(n)
            } else if rhs == "true" || rhs == "false" {
                expected = .bool(rhs == "true")
            } else {
                expected = .string(rhs)
            }
            let equal = values.contains { $0 == expected || ($0.doubleValue != nil && $0.doubleValue == expected.doubleValue) }
            return op == "==" ? equal : !equal
        }
    }
    let trimmed = filter.trimmingCharacters(in: .whitespaces)
    guard trimmed.hasPrefix("@") else { return false }
    return !evaluateJSONPath(String(trimmed.dropFirst()), on: element).isEmpty
}
