@testable import ControlPlane
import Foundation
import JSONSchemaKit
import Testing

@Suite("API semantics over HTTP", .timeLimit(.minutes(3)))
struct APISemanticsTests {
    @Test("requests without the bearer token get 401; health endpoints stay open")
    func authentication() async throws {
        try await withPlane { plane, client in
            var anonymous = client
            anonymous.token = nil
            let denied = try await anonymous.get("/api/v1/namespaces")
            #expect(denied.status == 401)
            #expect(denied.json["kind"] == "Status")
            #expect(denied.json["reason"] == "Unauthorized")
            var wrong = client
            wrong.token = "not-the-token"
            #expect(try await wrong.get("/api").status == 401)
            #expect(try await anonymous.get("/healthz").status == 200)
            #expect(try await client.get("/api/v1/namespaces").status == 200)
        }
    }

    @Test("discovery serves built-in groups and the resources a CRD defines")
    func discovery() async throws {
        try await withPlane { _, client in
            let api = try await client.get("/api").json
            #expect(api["kind"] == "APIVersions")
            #expect(api["versions"] == ["v1"])
            let core = try await client.get("/api/v1").json
            let coreNames = core["resources"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(Set(["namespaces", "configmaps", "secrets", "namespaces/status"]).isSubset(of: coreNames))
            var groups = try await client.get("/apis").json["groups"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(Set(["apiextensions.k8s.io", "coordination.k8s.io", "events.k8s.io"]).isSubset(of: groups))
            #expect(!groups.contains("tinyflow.dev"))
            #expect(try await client.get("/apis/tinyflow.dev/v1alpha1").status == 404)

            try await client.installTinyNodeCRD()
            groups = try await client.get("/apis").json["groups"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(groups.contains("tinyflow.dev"))
            let list = try await client.get("/apis/tinyflow.dev/v1alpha1").json
            let tinynodes = list["resources"]?.arrayValue?.first { $0["name"] == "tinynodes" }
            #expect(tinynodes?["shortNames"] == ["tn"])
            #expect(tinynodes?["categories"] == ["tinyflow"])
            #expect(tinynodes?["namespaced"] == true)
            #expect(list["resources"]?.arrayValue?.contains { $0["name"] == "tinynodes/status" } == true)
            let crd = try await client.get(Fixtures.crds + "/tinynodes.tinyflow.dev").json
            #expect(crd["status"]?["conditions"]?.arrayValue?.contains { $0["type"] == "Established" && $0["status"] == "True" } == true)

            let openapi = try await client.get("/openapi/v3").json
            #expect(openapi["paths"]?["apis/tinyflow.dev/v1alpha1"]?["serverRelativeURL"] != nil)
        }
    }

    @Test("a stale resourceVersion update returns 409")
    func staleUpdate() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            let created = try await client.create(Fixtures.node("a"))
            var first = created
            first["spec"]?["component"] = "debug"
            let ok = try await client.send("PUT", Fixtures.nodes + "/a", json: first)
            #expect(ok.status == 200)
            #expect(ok.json.resourceVersion != created.resourceVersion)
            var stale = created
            stale["spec"]?["component"] = "transform"
            let conflict = try await client.send("PUT", Fixtures.nodes + "/a", json: stale)
            #expect(conflict.status == 409)
            #expect(conflict.json["reason"] == "Conflict")
            #expect(try await client.get(Fixtures.nodes + "/a").json["spec"]?["component"] == "debug")
            // Custom resources need a resourceVersion on update.
            var unconditional = created
            unconditional["metadata"]?["resourceVersion"] = nil
            #expect(try await client.send("PUT", Fixtures.nodes + "/a", json: unconditional).status == 422)
        }
    }

    @Test("resourceVersions increase globally across kinds and no-op writes keep them")
    func globalResourceVersion() async throws {
        try await withPlane { _, client in
            let cm = try await client.create(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "c"], "data": ["k": "v"]],
                                             at: "/api/v1/namespaces/default/configmaps")
            let secret = try await client.create(["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "s"], "stringData": ["k": "v"]],
                                                 at: "/api/v1/namespaces/default/secrets")
            #expect(Int(secret.resourceVersion) ?? 0 > Int(cm.resourceVersion) ?? 0)
            #expect(secret["data"]?["k"] == "dg==")
            #expect(secret["type"] == "Opaque")
            let same = try await client.send("PUT", "/api/v1/namespaces/default/configmaps/c", json: cm)
            #expect(same.status == 200)
            #expect(same.json.resourceVersion == cm.resourceVersion)
        }
    }

    @Test("metadata.generation changes only with the spec; status goes through /status")
    func generationAndStatus() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            let created = try await client.create(Fixtures.node("g"))
            #expect(created.generation == 1)
            var labelled = created
            labelled["metadata"]?["labels"] = ["x": "y"]
            labelled["status"] = ["error": "ignored on the main resource"]
            let afterLabel = try await client.send("PUT", Fixtures.nodes + "/g", json: labelled).json
            #expect(afterLabel.generation == 1)
            #expect(afterLabel["status"] == nil)
            var status = afterLabel
            status["status"] = ["observedGeneration": 1, "conditions": [["type": "Ready", "status": "True", "reason": "Running", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"]]]
            status["spec"]?["module"] = "ignored-on-status"
            let afterStatus = try await client.send("PUT", Fixtures.nodes + "/g/status", json: status).json
            #expect(afterStatus.generation == 1)
            #expect(afterStatus["status"]?["observedGeneration"] == 1)
            #expect(afterStatus["spec"]?["module"] == "common")
            let afterSpec = try await client.send("PATCH", Fixtures.nodes + "/g", json: ["spec": ["module": "http"]],
                                                  contentType: "application/merge-patch+json").json
            #expect(afterSpec.generation == 2)
            #expect(afterSpec["status"]?["observedGeneration"] == 1)
        }
    }

    @Test("admission validates against the structural schema, defaults and prunes")
    func schemaAdmission() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            var missing = Fixtures.node("bad")
            missing["spec"]?["module"] = nil
            let invalid = try await client.send("POST", Fixtures.nodes, json: missing)
            #expect(invalid.status == 422)
            #expect(invalid.json["reason"] == "Invalid")
            #expect(invalid.json["message"]?.stringValue?.contains("spec.module: Required value") == true)
            var wrongType = Fixtures.node("bad")
            wrongType["spec"]?["module"] = 3
            #expect(try await client.send("POST", Fixtures.nodes, json: wrongType).status == 422)

            var node = Fixtures.node("ok")
            node["spec"]?["edges"] = [["id": "e", "port": "out", "to": "b:in", "retryPolicy": ["timeout": "5s"]]]
            node["spec"]?["unknownField"] = "dropped"
            let created = try await client.create(node)
            #expect(created["spec"]?["unknownField"] == nil)
            #expect(created["spec"]?["edges"]?[0]?["retryPolicy"]?["maxAttempts"] == 3)
            #expect(created["spec"]?["edges"]?[0]?["retryPolicy"]?["initialDelay"] == "1s")

            var strict = Fixtures.node("strict")
            strict["spec"]?["unknownField"] = "x"
            let rejected = try await client.send("POST", Fixtures.nodes + "?fieldValidation=Strict", json: strict)
            #expect(rejected.status == 400)
            #expect(rejected.json["message"]?.stringValue?.contains("unknown field \"spec.unknownField\"") == true)
        }
    }

    @Test("a finalizer keeps a deleted object terminating until it is removed with a JSON patch")
    func finalizers() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            var node = Fixtures.node("f")
            node["metadata"]?["finalizers"] = ["tinyflow.dev/cleanup"]
            let created = try await client.create(node)
            let deleted = try await client.send("DELETE", Fixtures.nodes + "/f")
            #expect(deleted.status == 202)
            let terminating = try await client.get(Fixtures.nodes + "/f").json
            #expect(terminating["metadata"]?["deletionTimestamp"] != nil)
            #expect(terminating.generation == created.generation + 1)
            // No new finalizers on a terminating object.
            let add = try await client.send("PATCH", Fixtures.nodes + "/f", json: [["op": "add", "path": "/metadata/finalizers/-", "value": "other"]],
                                            contentType: "application/json-patch+json")
            #expect(add.status == 422)
            // A failing test op leaves the object alone.
            let wrongTest = try await client.send("PATCH", Fixtures.nodes + "/f", json: [
                ["op": "test", "path": "/metadata/finalizers/0", "value": "someone-else"],
                ["op": "remove", "path": "/metadata/finalizers/0"],
            ], contentType: "application/json-patch+json")
            #expect(wrongTest.status == 422)
            #expect(try await client.get(Fixtures.nodes + "/f").status == 200)
            let removed = try await client.send("PATCH", Fixtures.nodes + "/f", json: [
                ["op": "test", "path": "/metadata/finalizers/0", "value": "tinyflow.dev/cleanup"],
                ["op": "remove", "path": "/metadata/finalizers/0"],
            ], contentType: "application/json-patch+json")
            #expect(removed.status == 200)
            #expect(try await client.get(Fixtures.nodes + "/f").status == 404)
        }
    }

    @Test("label selectors and metadata.name field selectors filter lists")
    func selectors() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            _ = try await client.create(Fixtures.node("a", labels: ["app": "x", "tier": "1"]))
            _ = try await client.create(Fixtures.node("b", labels: ["app": "y"]))
            _ = try await client.create(Fixtures.node("c", labels: ["app": "x"]))
            func names(_ query: String) async throws -> [String] {
                try await client.get(Fixtures.nodes + "?" + query).json["items"]?.arrayValue?.compactMap { $0["metadata"]?["name"]?.stringValue } ?? []
            }
            #expect(try await names("labelSelector=app%3Dx") == ["a", "c"])
            #expect(try await names("labelSelector=app%21%3Dx") == ["b"])
            #expect(try await names("labelSelector=app%20in%20(x,y),!tier") == ["b", "c"])
            #expect(try await names("labelSelector=tier") == ["a"])
            #expect(try await names("fieldSelector=metadata.name%3Db") == ["b"])
            #expect(try await names("fieldSelector=metadata.name!%3Db") == ["a", "c"])
            #expect(try await client.get(Fixtures.nodes + "?fieldSelector=spec.module%3Dx").status == 400)
            // All namespaces.
            #expect(try await client.get("/apis/tinyflow.dev/v1alpha1/tinynodes").json["items"]?.arrayValue?.count == 3)
        }
    }

    @Test("limit and continue page through a consistent snapshot; an expired token gets 410")
    func pagination() async throws {
        try await withPlane { plane, client in
            try await client.installTinyNodeCRD()
            for name in ["p1", "p2", "p3", "p4", "p5"] { _ = try await client.create(Fixtures.node(name)) }
            let first = try await client.get(Fixtures.nodes + "?limit=2").json
            #expect(first["items"]?.arrayValue?.compactMap { $0["metadata"]?["name"]?.stringValue } == ["p1", "p2"])
            #expect(first["metadata"]?["remainingItemCount"] == 3)
            let token = try #require(first["metadata"]?["continue"]?.stringValue)
            // Changes after the first page do not leak into later pages.
            #expect(try await client.send("DELETE", Fixtures.nodes + "/p3").status == 200)
            _ = try await client.create(Fixtures.node("p6"))
            let second = try await client.get(Fixtures.nodes + "?limit=2&continue=\(token)").json
            #expect(second["items"]?.arrayValue?.compactMap { $0["metadata"]?["name"]?.stringValue } == ["p3", "p4"])
            #expect(second["metadata"]?["resourceVersion"] == first["metadata"]?["resourceVersion"])
            let token2 = try #require(second["metadata"]?["continue"]?.stringValue)
            let third = try await client.get(Fixtures.nodes + "?limit=2&continue=\(token2)").json
            #expect(third["items"]?.arrayValue?.compactMap { $0["metadata"]?["name"]?.stringValue } == ["p5"])
            #expect(third["metadata"]?["continue"] == nil)
            await plane.faults.compactHistory()
            let expired = try await client.get(Fixtures.nodes + "?limit=2&continue=\(token)")
            #expect(expired.status == 410)
            #expect(expired.json["reason"] == "Expired")
        }
    }

    @Test("server-side apply tracks field managers and conflicts unless forced")
    func serverSideApply() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            let apply = "application/apply-patch+yaml"
            let config: JSONValue = ["apiVersion": "tinyflow.dev/v1alpha1", "kind": "TinyNode", "metadata": ["name": "s"],
                                     "spec": ["module": "common", "component": "ticker"]]
            let created = try await client.send("PATCH", Fixtures.nodes + "/s?fieldManager=alice", json: config, contentType: apply)
            #expect(created.status == 201)
            let managers = created.json["metadata"]?["managedFields"]?.arrayValue ?? []
            #expect(managers.first?["manager"] == "alice")
            #expect(managers.first?["operation"] == "Apply")
            #expect(managers.first?["fieldsV1"]?["f:spec"]?["f:module"] == [:])

            var bobs = config
            bobs["spec"]?["component"] = "debug"
            let conflict = try await client.send("PATCH", Fixtures.nodes + "/s?fieldManager=bob", json: bobs, contentType: apply)
            #expect(conflict.status == 409)
            #expect(conflict.json["message"]?.stringValue?.contains("conflict with \"alice\"") == true)
            #expect(conflict.json["details"]?["causes"]?[0]?["field"] == ".spec.component")
            // Same value: shared ownership, no conflict.
            #expect(try await client.send("PATCH", Fixtures.nodes + "/s?fieldManager=carol", json: config, contentType: apply).status == 200)
            let forced = try await client.send("PATCH", Fixtures.nodes + "/s?fieldManager=bob&force=true", json: bobs, contentType: apply)
            #expect(forced.status == 200)
            #expect(forced.json["spec"]?["component"] == "debug")
            #expect(forced.json.generation == 2)
            // alice no longer owns spec.component, so her next apply without it does not remove it.
            let aliceAgain: JSONValue = ["apiVersion": "tinyflow.dev/v1alpha1", "kind": "TinyNode", "metadata": ["name": "s"],
                                         "spec": ["module": "common", "component": "debug", "flow": "f"]]
            let merged = try await client.send("PATCH", Fixtures.nodes + "/s?fieldManager=alice", json: aliceAgain, contentType: apply)
            #expect(merged.status == 200)
            #expect(merged.json["spec"]?["flow"] == "f")
            // A field an applier stops sending (and nobody else owns) is removed.
            let dropFlow = try await client.send("PATCH", Fixtures.nodes + "/s?fieldManager=alice", json: config, contentType: apply)
            #expect(dropFlow.json["spec"]?["flow"] == nil)
            // Applying without a field manager is a bad request.
            #expect(try await client.send("PATCH", Fixtures.nodes + "/s", json: config, contentType: apply).status == 400)
        }
    }

    @Test("unimplemented paths and methods answer with a Kubernetes Status")
    func unimplemented() async throws {
        try await withPlane { _, client in
            let missing = try await client.get("/api/v1/pods")
            #expect(missing.status == 404)
            #expect(missing.json["kind"] == "Status")
            let method = try await client.send("POST", "/api/v1")
            #expect(method.status == 405)
            #expect(method.json["kind"] == "Status")
            let notFound = try await client.get("/api/v1/namespaces/default/configmaps/none")
            #expect(notFound.status == 404)
            #expect(notFound.json["reason"] == "NotFound")
            let mismatch = try await client.send("POST", "/api/v1/namespaces/default/configmaps",
                                                 json: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "x", "namespace": "other"]])
            #expect(mismatch.status == 400)
        }
    }

    @Test("objects cannot be created in a missing namespace")
    func missingNamespace() async throws {
        try await withPlane { _, client in
            let response = try await client.send("POST", "/api/v1/namespaces/nowhere/configmaps",
                                                 json: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "x"]])
            #expect(response.status == 404)
            #expect(response.json["details"]?["kind"] == "namespaces")
        }
    }

    @Test("Table output carries the CRD's printer columns")
    func table() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            _ = try await client.create(Fixtures.node("t"))
            let table = try await client.send("GET", Fixtures.nodes, headers: ["Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"]).json
            #expect(table["kind"] == "Table")
            #expect(table["columnDefinitions"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["Name", "Module", "Component", "Ready", "Age"])
            let cells = table["rows"]?[0]?["cells"]?.arrayValue ?? []
            #expect(cells.prefix(4) == ["t", "common", "ticker", .null])
            #expect(table["rows"]?[0]?["object"]?["kind"] == "PartialObjectMetadata")
        }
    }
}
