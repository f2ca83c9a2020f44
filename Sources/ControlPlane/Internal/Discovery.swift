import Foundation
import JSONSchemaKit

/// Discovery documents (`/version`, `/api`, `/apis`, resource lists) and the OpenAPI
/// v3 documents clients read to learn that the server validates fields itself.
enum Discovery {
    static let kubernetesMinor = "33"

    static let version: JSONValue = [
        "major": "1", "minor": .string(kubernetesMinor), "gitVersion": .string("v1.\(kubernetesMinor).0-tinyflow"),
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "swift6", "compiler": "swift", "platform": "linux/amd64",
    ]

    static func coreVersions(serverAddress: String) -> JSONValue {
        ["kind": "APIVersions", "versions": ["v1"],
         "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress)]]]
    }

    static func groupVersion(_ group: String, _ version: String) -> JSONValue {
        ["groupVersion": .string(group + "/" + version), "version": .string(version)]
    }

    static func group(name: String, versions: [String]) -> JSONValue {
        ["kind": "APIGroup", "apiVersion": "v1", "name": .string(name),
         "versions": .array(versions.map { groupVersion(name, $0) }),
         "preferredVersion": groupVersion(name, versions.first ?? "v1")]
    }

    static func groupList(registry: ResourceRegistry) -> JSONValue {
        let groups: [JSONValue] = registry.groups.map { entry in
            var g = group(name: entry.name, versions: entry.versions)
            g["kind"] = nil
            g["apiVersion"] = nil
            return g
        }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups)]
    }

    static func resourceList(group: String, version: String, registry: ResourceRegistry) -> JSONValue {
        var resources: [JSONValue] = []
        for type in registry.types(group: group, version: version) {
            var entry: [String: JSONValue] = [
                "name": .string(type.plural), "singularName": .string(type.singular), "namespaced": .bool(type.namespaced),
                "kind": .string(type.kind), "verbs": .array(type.verbs.map(JSONValue.string)),
                "storageVersionHash": .string(String(UInt32(truncatingIfNeeded: (type.storageKey + version).hashValueStable), radix: 36)),
            ]
            if !type.shortNames.isEmpty { entry["shortNames"] = .array(type.shortNames.map(JSONValue.string)) }
            if !type.categories.isEmpty { entry["categories"] = .array(type.categories.map(JSONValue.string)) }
            resources.append(.object(entry))
            if type.hasStatus {
                resources.append(["name": .string(type.plural + "/status"), "singularName": "", "namespaced": .bool(type.namespaced),
                                  "kind": .string(type.kind), "verbs": ["get", "patch", "update"]])
            }
            for subresource in type.extraSubresources {
                resources.append(["name": .string(type.plural + "/" + subresource.name), "singularName": "",
                                  "namespaced": .bool(type.namespaced), "kind": .string(subresource.kind),
                                  "verbs": .array(subresource.verbs.map(JSONValue.string))])
            }
        }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(group.isEmpty ? version : group + "/" + version),
                "resources": .array(resources)]
    }

    // MARK: OpenAPI

    static func openAPI(_ segments: [String], registry: ResourceRegistry, accept: String, revision: Int) throws -> APIResponse {
        guard let first = segments.first else { throw APIError.notFoundPath("/openapi") }
        if first == "v2" && segments.count == 1 {
            if accept.contains("protobuf") {
                return .raw(status: 200, contentType: OpenAPIv2Protobuf.contentType,
                            OpenAPIv2Protobuf.document(registry: registry, version: "v1.\(kubernetesMinor).0"))
            }
            return .json(status: 200, ["swagger": "2.0", "info": ["title": "Kubernetes", "version": .string("v1.\(kubernetesMinor).0")],
                                       "paths": [:], "definitions": [:]])
        }
        guard first == "v3" else { throw APIError.notFoundPath("/openapi/" + segments.joined(separator: "/")) }
        if segments.count == 1 {
            var paths: [String: JSONValue] = [
                "api/v1": ["serverRelativeURL": .string("/openapi/v3/api/v1?hash=\(revision)")],
            ]
            for group in registry.groups {
                for version in group.versions {
                    paths["apis/\(group.name)/\(version)"] = ["serverRelativeURL": .string("/openapi/v3/apis/\(group.name)/\(version)?hash=\(revision)")]
                }
            }
            return .json(status: 200, ["paths": .object(paths)])
        }
        let rest = Array(segments.dropFirst())
        let group: String, version: String
        if rest.count == 2 && rest[0] == "api" {
            group = ""; version = rest[1]
        } else if rest.count == 3 && rest[0] == "apis" {
            group = rest[1]; version = rest[2]
        } else {
            throw APIError.notFoundPath("/openapi/" + segments.joined(separator: "/"))
        }
        let types = registry.types(group: group, version: version)
        guard !types.isEmpty else { throw APIError.notFoundPath("/openapi/" + segments.joined(separator: "/")) }
        return .json(status: 200, groupVersionDocument(group: group, version: version, types: types))
    }

    static func schemaName(_ type: ResourceType, _ version: String) -> String {
        let reversed = type.group.isEmpty ? "io.k8s.api.core" : type.group.split(separator: ".").reversed().joined(separator: ".")
        return "\(reversed).\(version).\(type.kind)"
    }

    static func groupVersionDocument(group: String, version: String, types: [ResourceType]) -> JSONValue {
        var paths: [String: JSONValue] = [:]
        var schemas: [String: JSONValue] = [:]
        let prefix = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        let writeParameters: [JSONValue] = ["dryRun", "fieldManager", "fieldValidation", "force"].map {
            ["name": .string($0), "in": "query", "schema": ["type": "string", "uniqueItems": true]]
        }
        for type in types {
            let gvk: JSONValue = ["group": .string(group), "version": .string(version), "kind": .string(type.kind)]
            let ref: JSONValue = ["$ref": .string("#/components/schemas/\(schemaName(type, version))")]
            let body: JSONValue = ["content": ["application/json": ["schema": ref]]]
            let responses: JSONValue = ["200": ["description": "OK", "content": ["application/json": ["schema": ref]]]]
            func operation(_ action: String, _ id: String, parameters: [JSONValue] = [], requestBody: Bool = false) -> JSONValue {
                var op: [String: JSONValue] = ["operationId": .string(id), "x-kubernetes-action": .string(action),
                                               "x-kubernetes-group-version-kind": gvk, "responses": responses,
                                               "parameters": .array(parameters)]
                if requestBody { op["requestBody"] = body }
                return .object(op)
            }
            let namespacePart = type.namespaced ? "/namespaces/{namespace}" : ""
            let item = "\(prefix)\(namespacePart)/\(type.plural)/{name}"
            let collection = "\(prefix)\(namespacePart)/\(type.plural)"
            let kind = type.kind
            paths[item] = [
                "get": operation("get", "read\(kind)"),
                "put": operation("put", "replace\(kind)", parameters: writeParameters, requestBody: true),
                "patch": operation("patch", "patch\(kind)", parameters: writeParameters, requestBody: true),
                "delete": operation("delete", "delete\(kind)"),
            ]
            paths[collection] = [
                "get": operation("list", "list\(kind)"),
                "post": operation("post", "create\(kind)", parameters: writeParameters, requestBody: true),
            ]
            if type.hasStatus {
                paths[item + "/status"] = [
                    "get": operation("get", "read\(kind)Status"),
                    "put": operation("put", "replace\(kind)Status", parameters: writeParameters, requestBody: true),
                    "patch": operation("patch", "patch\(kind)Status", parameters: writeParameters, requestBody: true),
                ]
            }
            var schema = type.schemas[version]?.objectValue ?? ["type": "object", "x-kubernetes-preserve-unknown-fields": true]
            schema["x-kubernetes-group-version-kind"] = [gvk]
            schemas[schemaName(type, version)] = .object(schema)
        }
        return ["openapi": "3.0.0", "info": ["title": "Kubernetes", "version": .string("v1.\(kubernetesMinor).0")],
                "paths": .object(paths), "components": ["schemas": .object(schemas)]]
    }
}

extension String {
    /// FNV-1a: a hash that is the same in every process (unlike `hashValue`).
    var hashValueStable: UInt64 {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        return hash
    }
}
