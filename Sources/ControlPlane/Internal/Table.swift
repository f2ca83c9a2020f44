import Foundation
import JSONSchemaKit

/// Renders objects as a `meta.k8s.io/v1` `Table`, the form `kubectl get` prints.
enum TableRenderer {
    static func columns(for type: ResourceType, version: String) -> [PrinterColumn] {
        var columns = [PrinterColumn(name: "Name", type: "string", format: "name", description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated.", priority: 0, jsonPath: ".metadata.name")]
        let declared = type.printerColumns[version] ?? []
        if type.storageKey == "/configmaps" || type.storageKey == "/secrets" {
            columns += declared
            columns.append(PrinterColumn(name: "Data", type: "integer", format: "", description: "Number of entries in data.", priority: 0, jsonPath: "#data-count"))
            columns.append(age)
        } else if type.isCustom {
            columns += declared.isEmpty ? [age] : declared
        } else if type.storageKey == ResourceRegistry.customResourceDefinitions.storageKey {
            columns += declared
        } else {
            columns += declared
            columns.append(age)
        }
        return columns
    }

    static let age = PrinterColumn(name: "Age", type: "date", format: "", description: "CreationTimestamp is a timestamp representing the server time when this object was created.", priority: 0, jsonPath: ".metadata.creationTimestamp")

    static func table(type: ResourceType, version: String, objects: [JSONValue], resourceVersion: String?, continueToken: String?, includeObject: String, includeHeaders: Bool = true, now: Date = Date()) -> JSONValue {
        let columns = columns(for: type, version: version)
        let definitions: [JSONValue] = columns.map {
            ["name": .string($0.name), "type": .string($0.type), "format": .string($0.format),
             "description": .string($0.description), "priority": .integer($0.priority)]
        }
        let rows: [JSONValue] = objects.map { object in
            var row: [String: JSONValue] = ["cells": .array(columns.map { cell($0, object, now: now) })]
            switch includeObject {
            case "None": break
            case "Object": row["object"] = object
            default:
                row["object"] = ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"] ?? [:]]
            }
            return .object(row)
        }
        var metadata: [String: JSONValue] = [:]
        if let resourceVersion { metadata["resourceVersion"] = .string(resourceVersion) }
        if let continueToken { metadata["continue"] = .string(continueToken) }
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": .object(metadata),
                "columnDefinitions": includeHeaders ? .array(definitions) : .array([]), "rows": .array(rows)]
    }

    static func cell(_ column: PrinterColumn, _ object: JSONValue, now: Date) -> JSONValue {
        if column.jsonPath == "#data-count" {
            return .integer((object["data"]?.objectValue?.count ?? 0) + (object["binaryData"]?.objectValue?.count ?? 0))
        }
        let results = evaluateJSONPath(column.jsonPath, on: object)
        guard let first = results.first else { return column.type == "date" ? "<unknown>" : .null }
        if column.type == "date" {
            guard let text = first.stringValue, let date = parseTimestamp(text) else { return "<unknown>" }
            return .string(humanDuration(now.timeIntervalSince(date)))
        }
        switch first {
        case .string, .integer, .number, .bool: return first
        case .null: return .null
        default: return .string(first.jsonString)
        }
    }

    /// The short age format kubectl uses ("5s", "3m2s", "4h", "2d3h", "400d").
    static func humanDuration(_ interval: TimeInterval) -> String {
        if interval < -1 { return "<invalid>" }
        let seconds = max(0, Int(interval))
        let minutes = seconds / 60, hours = seconds / 3600, days = hours / 24, years = days / 365
        if seconds < 120 { return "\(seconds)s" }
        if minutes < 10 { return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s" }
        if minutes < 180 { return "\(minutes)m" }
        if hours < 8 { return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m" }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 { return hours % 24 == 0 ? "\(days)d" : "\(days)d\(hours % 24)h" }
        if days < 365 * 2 { return "\(days)d" }
        if days < 365 * 8 { return days % 365 == 0 ? "\(years)y" : "\(years)y\(days % 365)d" }
        return "\(years)y"
    }
}

/// Kubernetes timestamps: RFC 3339, UTC, whole seconds.
func timestamp(_ date: Date = Date()) -> String {
    date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC") ?? .current))
}

func parseTimestamp(_ text: String) -> Date? {
    try? Date(text, strategy: Date.ISO8601FormatStyle())
}
