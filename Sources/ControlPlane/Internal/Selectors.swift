import Foundation
import JSONSchemaKit

/// A parsed label selector (`a=b,c!=d,e in (f,g),h notin (i),j,!k`).
struct LabelSelector: Sendable, Equatable {
    enum Requirement: Sendable, Equatable {
        case equals(String, String)
        case notEquals(String, String)
        case isIn(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case doesNotExist(String)
    }
    var requirements: [Requirement] = []

    init(parsing text: String) throws(APIError) {
        var rest = Substring(text)
        while true {
            rest = rest.drop { $0 == " " || $0 == "," }
            if rest.isEmpty { break }
            if rest.hasPrefix("!") {
                let key = rest.dropFirst().prefix { $0 != "," }.trimmingCharacters(in: .whitespaces)
                rest = rest.dropFirst().drop { $0 != "," }
                try Self.checkKey(key)
                requirements.append(.doesNotExist(key))
                continue
            }
            let key = rest.prefix { !"=!, ".contains($0) }.trimmingCharacters(in: .whitespaces)
            try Self.checkKey(key)
            rest = rest.dropFirst(key.count).drop { $0 == " " }
            if rest.hasPrefix("!=") || rest.hasPrefix("==") || rest.hasPrefix("=") {
                let negate = rest.hasPrefix("!=")
                rest = rest.dropFirst(rest.hasPrefix("=") && !rest.hasPrefix("==") ? 1 : 2)
                let value = rest.prefix { $0 != "," }.trimmingCharacters(in: .whitespaces)
                rest = rest.drop { $0 != "," }
                requirements.append(negate ? .notEquals(key, value) : .equals(key, value))
            } else if rest.hasPrefix("in ") || rest.hasPrefix("in(") || rest.hasPrefix("notin ") || rest.hasPrefix("notin(") {
                let negate = rest.hasPrefix("notin")
                rest = rest.dropFirst(negate ? 5 : 2).drop { $0 == " " }
                guard rest.hasPrefix("("), let close = rest.firstIndex(of: ")") else {
                    throw APIError.badRequest("unable to parse requirement: found '\(rest)', expected: '('")
                }
                let values = Set(rest[rest.index(after: rest.startIndex)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                rest = rest[rest.index(after: close)...]
                requirements.append(negate ? .notIn(key, values) : .isIn(key, values))
            } else if rest.isEmpty || rest.hasPrefix(",") {
                requirements.append(.exists(key))
            } else {
                throw APIError.badRequest("unable to parse requirement: found '\(rest)'")
            }
        }
    }

    private static func checkKey(_ key: String) throws(APIError) {
        guard !key.isEmpty, key.count <= 317, key.allSatisfy({ $0.isLetter || $0.isNumber || "-_./".contains($0) }) else {
            throw APIError.badRequest("unable to parse requirement: invalid label key \"\(key)\"")
        }
    }

    func matches(_ labels: [String: JSONValue]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let k, let v): labels[k]?.stringValue == v
            case .notEquals(let k, let v): labels[k]?.stringValue != v
            case .isIn(let k, let vs): labels[k]?.stringValue.map(vs.contains) ?? false
            case .notIn(let k, let vs): !(labels[k]?.stringValue.map(vs.contains) ?? false)
            case .exists(let k): labels[k] != nil
            case .doesNotExist(let k): labels[k] == nil
            }
        }
    }
}

/// A parsed field selector; only `metadata.name` and `metadata.namespace` are supported, as for custom resources.
struct FieldSelector: Sendable, Equatable {
    /// `field=value` (`equal`) or `field!=value`.
    struct Requirement: Sendable, Equatable {
        var field: String
        var value: String
        var equal: Bool
    }

    var requirements: [Requirement] = []

    init(parsing text: String) throws(APIError) {
        for part in text.split(separator: ",") {
            let term = part.trimmingCharacters(in: .whitespaces)
            let equal: Bool
            let pieces: [String]
            if let r = term.range(of: "!=") {
                equal = false; pieces = [String(term[..<r.lowerBound]), String(term[r.upperBound...])]
            } else if let r = term.range(of: "==") {
                equal = true; pieces = [String(term[..<r.lowerBound]), String(term[r.upperBound...])]
            } else if let r = term.range(of: "=") {
                equal = true; pieces = [String(term[..<r.lowerBound]), String(term[r.upperBound...])]
            } else {
                throw APIError.badRequest("invalid selector: '\(text)'; can't understand '\(term)'")
            }
            let field = pieces[0].trimmingCharacters(in: .whitespaces)
            guard field == "metadata.name" || field == "metadata.namespace" else {
                throw APIError.badRequest("field label not supported: \(field)")
            }
            requirements.append(Requirement(field: field, value: pieces[1].trimmingCharacters(in: .whitespaces), equal: equal))
        }
    }

    func matches(_ object: JSONValue) -> Bool {
        requirements.allSatisfy { requirement in
            let actual = requirement.field == "metadata.name" ? object["metadata"]?["name"]?.stringValue ?? ""
                : object["metadata"]?["namespace"]?.stringValue ?? ""
            return (actual == requirement.value) == requirement.equal
        }
    }
}

/// The namespace and both selectors of a list or watch request.
struct ObjectFilter: Sendable, Equatable {
    var namespace: String?
    var labels: LabelSelector?
    var fields: FieldSelector?

    func matches(_ object: JSONValue) -> Bool {
        if let namespace, object["metadata"]?["namespace"]?.stringValue != namespace { return false }
        if let labels, !labels.matches(object["metadata"]?["labels"]?.objectValue ?? [:]) { return false }
        if let fields, !fields.matches(object) { return false }
        return true
    }
}
