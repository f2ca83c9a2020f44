@testable import ControlPlane
import Foundation
import JSONSchemaKit
import Testing

/// The requests the Tinyflow operator makes (DESIGN §4), beyond the basics.
@Suite("Operator request paths", .timeLimit(.minutes(3)))
struct OperatorPathTests {
    @Test("server-side apply to /status sets status only, keeps generation and records a status-subresource manager")
    func applyStatus() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            let created = try await client.create(Fixtures.node("op"))
            let status: JSONValue = ["apiVersion": "tinyflow.dev/v1alpha1", "kind": "TinyNode", "metadata": ["name": "op"],
                                     "spec": ["module": "ignored", "component": "ignored"],
                                     "status": ["observedGeneration": 1, "conditions": [["type": "Ready", "status": "True", "reason": "Running",
                                                                                          "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"]]]]
            let response = try await client.send("PATCH", Fixtures.nodes + "/op/status?fieldManager=tinyflow-operator&force=true",
                                                 json: status, contentType: "application/apply-patch+yaml")
            #expect(response.status == 200)
            #expect(response.json["spec"] == created["spec"])
            #expect(response.json.generation == 1)
            #expect(response.json["status"]?["conditions"]?[0]?["status"] == "True")
            let entry = response.json["metadata"]?["managedFields"]?.arrayValue?.first { $0["manager"] == "tinyflow-operator" }
            #expect(entry?["subresource"] == "status")
            #expect(entry?["operation"] == "Apply")
            #expect(entry?["fieldsV1"]?["f:status"] != nil)
            #expect(entry?["fieldsV1"]?["f:spec"] == nil)
            // Applying the same status again is a no-op: the resourceVersion stays.
            let again = try await client.send("PATCH", Fixtures.nodes + "/op/status?fieldManager=tinyflow-operator&force=true",
                                              json: status, contentType: "application/apply-patch+yaml")
            #expect(again.json.resourceVersion == response.json.resourceVersion)
        }
    }

    @Test("a watch with sendInitialEvents=true sends the current state, then a bookmark marking its end")
    func watchList() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            _ = try await client.create(Fixtures.node("i1"))
            _ = try await client.create(Fixtures.node("i2"))
            let watch = WatchRecorder(client.stream(Fixtures.nodes + "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan"))
            let events = try await watch.waitForEvents(3)
            #expect(events.prefix(2).map { $0["type"] } == ["ADDED", "ADDED"])
            #expect(events[2]["type"] == "BOOKMARK")
            #expect(events[2]["object"]?["metadata"]?["annotations"]?["k8s.io/initial-events-end"] == "true")
            _ = try await client.create(Fixtures.node("i3"))
            let later = try await watch.waitForEvents(4)
            #expect(later[3]["object"]?["metadata"]?["name"] == "i3")
            await watch.cancel()
        }
    }

    @Test("a list with resourceVersionMatch=Exact serves the state at that resourceVersion")
    func exactList() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            let first = try await client.create(Fixtures.node("e1"))
            _ = try await client.create(Fixtures.node("e2"))
            let exact = try await client.get(Fixtures.nodes + "?resourceVersion=\(first.resourceVersion)&resourceVersionMatch=Exact").json
            #expect(exact["items"]?.arrayValue?.compactMap { $0["metadata"]?["name"]?.stringValue } == ["e1"])
            #expect(exact["metadata"]?["resourceVersion"] == .string(first.resourceVersion))
        }
    }

    @Test("watching a single object by name sees only that object")
    func singleObjectWatch() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            _ = try await client.create(Fixtures.node("one"))
            _ = try await client.create(Fixtures.node("two"))
            let watch = WatchRecorder(client.stream(Fixtures.nodes + "/one?watch=true"))
            let events = try await watch.waitForEvents(1)
            #expect(events[0]["object"]?["metadata"]?["name"] == "one")
            _ = try await client.send("PATCH", Fixtures.nodes + "/two", json: ["spec": ["component": "x"]], contentType: "application/merge-patch+json")
            _ = try await client.send("PATCH", Fixtures.nodes + "/one", json: ["spec": ["component": "y"]], contentType: "application/merge-patch+json")
            let more = try await watch.waitForEvents(2)
            #expect(more[1]["object"]?["metadata"]?["name"] == "one")
            #expect(more[1]["type"] == "MODIFIED")
            #expect(await watch.events.count == 2)
            await watch.cancel()
        }
    }
}

@Suite("Server-side apply of keyed lists", .timeLimit(.minutes(3)))
struct KeyedListApplyTests {
    static func conditions(_ items: [(String, String)]) -> JSONValue {
        ["apiVersion": "tinyflow.dev/v1alpha1", "kind": "TinyNode", "metadata": ["name": "k"],
         "status": ["conditions": .array(items.map { ["type": .string($0.0), "status": .string($0.1), "reason": "R", "message": "",
                                                     "lastTransitionTime": "2026-01-01T00:00:00Z"] })]]
    }

    @Test("conditions (x-kubernetes-list-type: map) are owned per element by each applier")
    func conditionsPerElement() async throws {
        try await withPlane { _, client in
            try await client.installTinyNodeCRD()
            _ = try await client.create(Fixtures.node("k"))
            let apply = "application/apply-patch+yaml"
            let path = Fixtures.nodes + "/k/status?fieldManager="
            #expect(try await client.send("PATCH", path + "operator", json: Self.conditions([("Ready", "True")]), contentType: apply).status == 200)
            let both = try await client.send("PATCH", path + "scheduler", json: Self.conditions([("Scheduled", "True")]), contentType: apply).json
            #expect(Set(both["status"]?["conditions"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []) == ["Ready", "Scheduled"])
            let operatorEntry = both["metadata"]?["managedFields"]?.arrayValue?.first { $0["manager"] == "operator" }
            #expect(operatorEntry?["fieldsV1"]?["f:status"]?["f:conditions"]?[#"k:{"type":"Ready"}"#]?["f:status"] == [:])

            let conflict = try await client.send("PATCH", path + "scheduler", json: Self.conditions([("Scheduled", "True"), ("Ready", "False")]), contentType: apply)
            #expect(conflict.status == 409)
            #expect(conflict.json["details"]?["causes"]?.arrayValue?.contains { $0["field"] == #".status.conditions[type="Ready"].status"# } == true)

            // The operator stops applying Ready: it goes, Scheduled (the scheduler's) stays.
            var observed = Self.conditions([])
            observed["status"] = ["observedGeneration": 1]
            let droppedResponse = try await client.send("PATCH", path + "operator", json: observed, contentType: apply)
            #expect(droppedResponse.status == 200, "\(droppedResponse.json)")
            let dropped = droppedResponse.json
            #expect(dropped["status"]?["observedGeneration"] == 1)
            #expect(dropped["status"]?["conditions"]?.arrayValue?.compactMap { $0["type"]?.stringValue } == ["Scheduled"])
        }
    }
}
