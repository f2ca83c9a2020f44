import Foundation
import JSONSchemaKit

/// How the control plane reads a request, as the fuzz target `FuzzControlPlaneRequests`
/// (Fuzz/Targets) drives it: package access, not API. Everything here runs before a request
/// reaches the store (route, query, options, body, patches), so none of it may crash, hang or
/// allocate in proportion to anything but the request's size.
package enum RequestFuzzing {
    /// Reads `input` as `METHOD\nPATH[?QUERY]\nCONTENT-TYPE\nBODY` (missing parts are empty)
    /// and runs it through route and option parsing, body decoding and, when the body
    /// decodes, every patch kind and server-side apply against a small live object. Checks
    /// that a merge patch is idempotent (RFC 7386).
    package static func parse(_ input: UnsafeRawBufferPointer) {
        var lines: [Slice<UnsafeRawBufferPointer>] = []
        var rest = input[...]
        while lines.count < 3, let newline = rest.firstIndex(of: 0x0A) {
            lines.append(rest[rest.startIndex..<newline])
            rest = rest[(newline + 1)...]
        }
        func text(_ index: Int) -> String { index < lines.count ? String(decoding: lines[index], as: UTF8.self) : "" }
        let method = text(0)
        let target = text(1)
        let contentType = text(2)
        let body = lines.count == 3 ? Data(rest) : Data()

        let path: String, queryText: String
        if let mark = target.firstIndex(of: "?") {
            path = String(target[..<mark])
            queryText = String(target[target.index(after: mark)...])
        } else {
            path = target
            queryText = ""
        }
        let query = HTTPGateway.parseQuery(queryText)
        _ = ResponseFormat(accept: contentType)
        if let route = try? RouteParser.parse(method: method, path: path, query: query), case .resource(let resource) = route.target {
            _ = try? RouteParser.options(query, for: resource, verb: route.verb)
            for verb in [APIRoute.Verb.list, .watch, .get, .patch] {
                _ = try? RouteParser.options(query, for: resource, verb: verb)
            }
        }

        let request = APIRequest(method: method, path: path, query: query, contentType: contentType, accept: contentType,
                                 userAgent: "fuzz", body: body)
        _ = request.oversizedObject(limit: 1024)
        _ = try? request.deleteOptions()
        guard let document = try? request.decodedBody() else { return }
        _ = ObjectSize.exceeds(document, 1 << 20)

        let merged = applyMergePatch(live, document)
        if !containsNaN(document) {
            precondition(applyMergePatch(merged, document) == merged, "a merge patch is not idempotent: \(document.jsonString)")
        }
        _ = applyStrategicMergePatch(live, document)
        _ = try? applyJSONPatch(live, document)
        _ = ManagedFields.entries(of: document)
        for force in [false, true] {
            _ = try? ManagedFields.apply(config: document, live: live, manager: "fuzz", apiVersion: "v1", subresource: "",
                                         force: force, time: time, schema: schema)
            _ = try? ManagedFields.apply(config: live, live: document, manager: "kubectl", apiVersion: "v1", subresource: "status",
                                         force: force, time: time, schema: schema)
        }
        _ = try? ManagedFields.applyUpgradingClientSideApply(config: document, live: live, manager: "kubectl", apiVersion: "v1",
                                                             subresource: "", force: false, time: time, schema: schema)
    }

    private static let time = "2025-01-01T00:00:00Z"

    /// A structural schema with a map list, a set list and an atomic list.
    private static let schema: JSONValue = ["type": "object", "properties": [
        "spec": ["type": "object", "properties": [
            "ports": ["type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name", "protocol"],
                      "items": ["type": "object"]],
            "tags": ["type": "array", "x-kubernetes-list-type": "set", "items": ["type": "string"]],
            "args": ["type": "array", "items": ["type": "string"]],
            "labels": ["type": "object", "additionalProperties": ["type": "string"]],
        ]],
    ]]

    /// The object being patched: owned in part by two other managers, one of them a
    /// client-side `kubectl apply`.
    private static let live: JSONValue = [
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": [
            "name": "target", "namespace": "default", "resourceVersion": "7", "labels": ["app": "demo"],
            "finalizers": ["a/b"],
            "annotations": ["kubectl.kubernetes.io/last-applied-configuration": #"{"data":{"key":"old"},"spec":{"args":["x"]}}"#],
            "managedFields": [
                ["manager": "kubectl", "operation": "Update", "apiVersion": "v1", "time": "2025-01-01T00:00:00Z",
                 "fieldsType": "FieldsV1",
                 "fieldsV1": ["f:data": ["f:key": [:]], "f:spec": ["f:args": [:]]]],
                ["manager": "controller", "operation": "Apply", "apiVersion": "v1", "time": "2025-01-01T00:00:00Z",
                 "fieldsType": "FieldsV1",
                 "fieldsV1": ["f:spec": ["f:ports": [#"k:{"name":"http","protocol":"TCP"}"#: ["f:port": [:], ".": [:]]],
                                         "f:tags": ["v:\"blue\"": [:]]]]],
            ],
        ],
        "data": ["key": "old", "other": "x"],
        "spec": [
            "ports": [["name": "http", "protocol": "TCP", "port": 80], ["name": "dns", "protocol": "UDP", "port": 53]],
            "tags": ["blue", "green"], "args": ["x"], "labels": ["a": "b"],
        ],
        "status": ["phase": "Ready", "conditions": [["type": "Ready", "status": "True"]]],
    ]

    private static func containsNaN(_ value: JSONValue) -> Bool {
        switch value {
        case .number(let number): return number.isNaN
        case .array(let elements): return elements.contains(where: containsNaN)
        case .object(let members): return members.values.contains(where: containsNaN)
        default: return false
        }
    }
}
