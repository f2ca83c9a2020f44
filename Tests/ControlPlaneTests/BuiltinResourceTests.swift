@testable import ControlPlane
import Foundation
import JSONSchemaKit
import Testing

@Suite("Built-in resources and lifecycles", .timeLimit(.minutes(3)))
struct BuiltinResourceTests {
    @Test("Leases support the leader-election read-modify-write cycle")
    func leases() async throws {
        try await withPlane { _, client in
            let path = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
            let lease = try await client.create(["apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": ["name": "tinyflow-operator"],
                                                 "spec": ["holderIdentity": "a", "leaseDurationSeconds": 15, "acquireTime": "2026-01-01T00:00:00.000000Z",
                                                          "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 0]], at: path)
            var renewed = lease
            renewed["spec"]?["renewTime"] = "2026-01-01T00:00:02.000000Z"
            let afterRenew = try await client.send("PUT", path + "/tinyflow-operator", json: renewed)
            #expect(afterRenew.status == 200)
            // A second candidate holding the old copy cannot take over.
            var takeover = lease
            takeover["spec"]?["holderIdentity"] = "b"
            #expect(try await client.send("PUT", path + "/tinyflow-operator", json: takeover).status == 409)
            #expect(try await client.get(path + "/tinyflow-operator").json["spec"]?["holderIdentity"] == "a")
            #expect(afterRenew.json["metadata"]?["generation"] == nil)
        }
    }

    @Test("events.k8s.io/v1 Events can be recorded and listed")
    func events() async throws {
        try await withPlane { _, client in
            let path = "/apis/events.k8s.io/v1/namespaces/default/events"
            _ = try await client.create(["apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": ["generateName": "ticker."],
                                         "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "tinyflow.dev/operator",
                                         "reportingInstance": "operator-0", "action": "Reconcile", "reason": "NodeReady", "type": "Normal",
                                         "regarding": ["kind": "TinyNode", "name": "ticker", "namespace": "default"], "note": "ready"], at: path)
            let list = try await client.get(path).json
            let items = list["items"]?.arrayValue ?? []
            #expect(items.count == 1)
            #expect(items.first?["metadata"]?["name"]?.stringValue?.hasPrefix("ticker.") == true)
            #expect(list["kind"] == "EventList")
        }
    }

    @Test("deleting a namespace deletes its contents; finalizers keep it Terminating")
    func namespaceDeletion() async throws {
        try await withPlane { _, client in
            _ = try await client.create(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "team"]], at: "/api/v1/namespaces")
            _ = try await client.create(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "plain"]], at: "/api/v1/namespaces/team/configmaps")
            _ = try await client.create(["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "held", "finalizers": ["x/y"]]],
                                        at: "/api/v1/namespaces/team/configmaps")
            #expect(try await client.send("DELETE", "/api/v1/namespaces/team").status == 202)
            let ns = try await client.get("/api/v1/namespaces/team").json
            #expect(ns["status"]?["phase"] == "Terminating")
            #expect(try await client.get("/api/v1/namespaces/team/configmaps/plain").status == 404)
            let refused = try await client.send("POST", "/api/v1/namespaces/team/configmaps", json: ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "new"]])
            #expect(refused.status == 403)
            _ = try await client.send("PATCH", "/api/v1/namespaces/team/configmaps/held", json: ["metadata": ["finalizers": nil]],
                                      contentType: "application/merge-patch+json")
            #expect(try await client.get("/api/v1/namespaces/team").status == 404)
        }
    }

    @Test("deleting a CRD deletes its objects and stops serving its resources")
    func crdDeletion() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            _ = try await client.create(Fixtures.node("gone"))
            #expect(try await client.send("DELETE", Fixtures.crds + "/tinynodes.tinyflow.dev").status == 200)
            #expect(try await client.get(Fixtures.nodes).status == 404)
            try await client.installTinyNodeCRD()
            #expect(try await client.get(Fixtures.nodes).json["items"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test("dryRun=All validates and answers without storing")
    func dryRun() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            let before = try await client.get(Fixtures.nodes).json["metadata"]?["resourceVersion"]
            let response = try await client.send("POST", Fixtures.nodes + "?dryRun=All", json: Fixtures.node("dry"))
            #expect(response.status == 201)
            #expect(try await client.get(Fixtures.nodes + "/dry").status == 404)
            #expect(try await client.get(Fixtures.nodes).json["metadata"]?["resourceVersion"] == before)
        }
    }
}
