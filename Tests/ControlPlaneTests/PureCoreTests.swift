@testable import ControlPlane
import Foundation
import JSONSchemaKit
import Testing

@Suite("Pure pieces: JSONPath, selectors, patches, field ownership, schema")
struct PureCoreTests {
    static let node: JSONValue = [
        "metadata": ["name": "n", "creationTimestamp": "2026-01-01T00:00:00Z"],
        "spec": ["module": "common", "ports": [["port": "a"], ["port": "b"]]],
        "status": ["conditions": [["type": "Scheduled", "status": "True"], ["type": "Ready", "status": "False"]]],
    ]

    @Test("printer-column JSONPath evaluates fields, indexes, wildcards and filters", arguments: [
        (".spec.module", ["common"]),
        (".status.conditions[?(@.type==\"Ready\")].status", ["False"]),
        (".spec.ports[1].port", ["b"]),
        (".spec.ports[*].port", ["a", "b"]),
        (".spec.missing", []),
    ] as [(String, [JSONValue])])
    func jsonPath(expression: String, expected: [JSONValue]) {
        #expect(evaluateJSONPath(expression, on: Self.node) == expected)
    }

    @Test("label selectors parse equality, set and existence requirements")
    func labelSelectors() throws {
        let labels: [String: JSONValue] = ["app": "x", "tier": "web"]
        #expect(try LabelSelector(parsing: "app=x,tier!=db").matches(labels))
        #expect(try LabelSelector(parsing: "app in (x, y), !missing").matches(labels))
        #expect(try !LabelSelector(parsing: "app notin (x)").matches(labels))
        #expect(try !LabelSelector(parsing: "missing").matches(labels))
        #expect(throws: APIError.self) { try LabelSelector(parsing: "app in x") }
    }

    @Test("merge patch removes nulls and merges maps; JSON patch honours test")
    func patches() throws {
        let target: JSONValue = ["a": ["b": 1, "c": 2], "d": [1, 2]]
        #expect(applyMergePatch(target, ["a": ["b": nil, "e": 3], "d": [3]]) == ["a": ["c": 2, "e": 3], "d": [3]])
        let patched = try applyJSONPatch(target, [["op": "test", "path": "/a/b", "value": 1], ["op": "add", "path": "/d/-", "value": 3],
                                                  ["op": "remove", "path": "/a/c"], ["op": "move", "from": "/a/b", "path": "/f"]])
        #expect(patched == ["a": [:], "d": [1, 2, 3], "f": 1])
        #expect(throws: JSONPatchError.self) { try applyJSONPatch(target, [["op": "test", "path": "/a/b", "value": 2]]) }
        #expect(throws: JSONPatchError.self) { try applyJSONPatch(target, [["op": "replace", "path": "/zz", "value": 2]]) }
    }

    @Test("fieldsV1 round-trips field sets")
    func fieldsV1() {
        let paths: Set<FieldPath> = [["spec", "module"], ["spec", "ports"], ["metadata", "labels", "app"]]
        let encoded = ManagedFields.fieldsV1(paths)
        #expect(encoded["f:spec"]?["f:module"] == [:])
        #expect(ManagedFields.paths(fromFieldsV1: encoded) == paths)
    }

    @Test("an update takes ownership of the fields it changed from other managers")
    func updateOwnership() throws {
        let old = try ManagedFields.apply(config: ["spec": ["a": 1, "b": 2]], live: nil, manager: "applier", apiVersion: "v1",
                                          subresource: "", force: false, time: "t")
        var changed = old
        changed["spec"]?["a"] = 5
        let new = ManagedFields.recordUpdate(old: old, new: changed, manager: "editor", apiVersion: "v1", subresource: "", time: "t")
        let entries = ManagedFields.entries(of: new)
        #expect(entries.first { $0.manager == "applier" }?.fields == [["spec", "b"]])
        #expect(entries.first { $0.manager == "editor" }?.fields == [["spec", "a"]])
        // Now the applier's next apply of a=1 conflicts with the editor.
        #expect(throws: ApplyConflict.self) {
            try ManagedFields.apply(config: ["spec": ["a": 1, "b": 2]], live: new, manager: "applier", apiVersion: "v1",
                                    subresource: "", force: false, time: "t")
        }
    }

    @Test("structural schema validation reports Kubernetes-style causes")
    func schemaValidation() {
        let schema: JSONValue = ["type": "object", "properties": ["spec": [
            "type": "object", "required": ["name"],
            "properties": ["name": ["type": "string", "maxLength": 3], "count": ["type": "integer", "minimum": 1],
                           "mode": ["type": "string", "enum": ["a", "b"]]],
        ]]]
        let causes = StructuralSchema.validate(["spec": ["count": 0, "mode": "c"]], schema: schema, isRoot: true)
        #expect(causes.map(\.field).sorted() == ["spec.count", "spec.mode", "spec.name"])
        #expect(causes.contains { $0.type == "FieldValueRequired" })
        #expect(StructuralSchema.validate(["spec": ["name": "abc", "count": 2]], schema: schema, isRoot: true).isEmpty)
    }

    @Test("ages print the way kubectl prints them", arguments: [(5.0, "5s"), (150.0, "2m30s"), (3600.0 * 5, "5h"), (86400.0 * 3 + 7200, "3d2h")])
    func ages(seconds: Double, expected: String) {
        #expect(TableRenderer.humanDuration(seconds) == expected)
    }
}

@Suite("Field ownership at scale: one pass instead of a walk per path")
struct ManagedFieldsIndexTests {
    static let schema: JSONValue = ["type": "object", "properties": [
        "spec": ["type": "object", "properties": [
            "edges": ["type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"], "items": ["type": "object"]],
            "tags": ["type": "array", "x-kubernetes-list-type": "set", "items": ["type": "string"]],
        ]],
    ]]
    static let object: JSONValue = [
        "metadata": ["name": "n", "labels": ["a": "b"], "finalizers": ["x", "y"]],
        "spec": [
            "edges": [["id": "e1", "to": "b:in", "mapping": ["k": 1]], ["id": "e2", "to": "c:in"], ["id": "e1", "to": "dup"], ["to": "no-id"]],
            "tags": ["t1", "t2"], "ports": [["port": "p", "configuration": ["interval": 5]]], "empty": [:],
        ],
        "status": ["revisions": [["number": 1, "nodes": [["name": "a"]]]]],
    ]

    @Test("the index answers every path as a walk from the root does")
    func indexMatchesWalk() {
        let index = ValueIndex(Self.object, schema: Self.schema)
        let all = ManagedFields.paths(of: Self.object, subresource: "", schema: Self.schema)
            .union(ManagedFields.paths(of: Self.object, subresource: "status", schema: Self.schema))
        #expect(all.count > 10)
        for path in all {
            #expect(index[path] == ManagedFields.value(at: path, in: Self.object), "\(path)")
            for length in 1..<path.count + 1 {
                let prefix = Array(path.prefix(length))
                #expect(index[prefix] == ManagedFields.value(at: prefix, in: Self.object), "\(prefix)")
            }
        }
        #expect(index[["spec", "nope"]] == nil)
    }

    @Test("the fields kept clear of taken ones are those no taken path clashes with, pair by pair")
    func clearOfMatchesPairs() {
        let owned = ManagedFields.paths(of: Self.object, subresource: "", schema: Self.schema)
            .union([["spec"], ["spec", "edges"], ["spec", "edges", #"k:{"id":"e1"}"#], ["spec", "other"]])
        let takenSets: [Set<FieldPath>] = [
            [["spec", "edges", #"k:{"id":"e1"}"#]], [["spec", "edges", #"k:{"id":"e1"}"#, "to"]], [["spec"]], [["metadata", "labels", "a"]],
            [["spec", "tags", #"v:"t1""#], ["spec", "ports"]], [],
        ]
        for taken in takenSets {
            let pairwise = owned.filter { field in !taken.contains { ManagedFields.clashes($0, field) } }
            #expect(ManagedFields.fields(owned, clearOf: taken) == pairwise, "\(taken)")
        }
    }
}

@Suite("Protobuf bodies from kubectl's typed commands")
struct ProtobufBodyTests {
    @Test("a protobuf ConfigMap in the k8s envelope decodes to its JSON form")
    func configMap() throws {
        var object = ProtobufWriter()
        object.message(1) { meta in
            meta.string(1, "settings")
            meta.string(3, "default")
            meta.message(11) { $0.string(1, "app"); $0.string(2, "x") }
        }
        object.message(2) { $0.string(1, "a"); $0.string(2, "b") }
        var body = KubernetesProtobuf.magic
        var unknown = ProtobufWriter()
        unknown.message(1) { $0.string(1, "v1"); $0.string(2, "ConfigMap") }
        unknown.bytesField(2, object.bytes)
        body += unknown.bytes
        let decoded = try KubernetesProtobuf.decode(Data(body))
        #expect(decoded == ["apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": ["name": "settings", "namespace": "default", "labels": ["app": "x"]],
                            "data": ["a": "b"]])
    }

    /// Found by the FuzzControlPlaneRequests fuzz target's harness (its input is
    /// Fuzz/Corpus/FuzzControlPlaneRequests/regression-protobuf-length-past-int-max): the
    /// length went through `Int(_:)` unchecked, which traps for lengths past `Int.max`.
    @Test("a length-delimited field whose length does not fit in Int is a 400, not a crash", arguments: [
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // 2^64 - 1
        [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],  // 2^63
        [0xFF, 0xFF, 0xFF, 0xFF, 0x0F],  // 2^32 - 1: fits, but longer than the body
    ] as [[UInt8]])
    func hugeLength(length: [UInt8]) {
        let body = KubernetesProtobuf.magic + [0x0A] + length
        #expect(throws: APIError.self) { try KubernetesProtobuf.decode(Data(body)) }
        let request = APIRequest(method: "POST", path: "/api/v1/namespaces/default/configmaps", query: [:],
                                 contentType: "application/vnd.kubernetes.protobuf", accept: "application/json",
                                 userAgent: "kubectl", body: Data(body))
        #expect(request.oversizedObject(limit: 1) != nil)
    }

    @Test("other kinds are refused with 415")
    func otherKinds() {
        var unknown = ProtobufWriter()
        unknown.message(1) { $0.string(1, "v1"); $0.string(2, "Pod") }
        #expect(throws: APIError.self) { try KubernetesProtobuf.decode(Data(KubernetesProtobuf.magic + unknown.bytes)) }
    }
}

@Suite("Field ownership of metadata")
struct MetadataOwnershipTests {
    @Test("finalizers are a set: two appliers each own their own finalizer")
    func finalizersAreASet() throws {
        let user = try ManagedFields.apply(config: ["metadata": ["name": "n", "finalizers": ["user/x"]], "spec": ["a": 1]], live: nil,
                                           manager: "user", apiVersion: "v1", subresource: "", force: false, time: "t")
        let both = try ManagedFields.apply(config: ["metadata": ["name": "n", "finalizers": ["tinyflow.dev/cleanup"]]], live: user,
                                           manager: "operator", apiVersion: "v1", subresource: "", force: false, time: "t")
        #expect(both["metadata"]?["finalizers"] == ["user/x", "tinyflow.dev/cleanup"])
        // The operator stops applying its finalizer: only that one goes.
        let released = try ManagedFields.apply(config: ["metadata": ["name": "n"]], live: both,
                                               manager: "operator", apiVersion: "v1", subresource: "", force: false, time: "t")
        #expect(released["metadata"]?["finalizers"] == ["user/x"])
    }
}
