@testable import ControlPlane
import Foundation
import JSONSchemaKit
import Testing

@Suite("Admission: what create, update and delete store, as functions over values")
struct AdmissionTests {
    static let crd: JSONValue = [
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": ["name": "widgets.example.com"],
        "spec": [
            "group": "example.com", "scope": "Namespaced", "names": ["plural": "widgets", "kind": "Widget"],
            "versions": [[
                "name": "v1", "served": true, "storage": true, "subresources": ["status": [:]],
                "schema": ["openAPIV3Schema": ["type": "object", "properties": [
                    "apiVersion": ["type": "string"], "kind": ["type": "string"], "metadata": ["type": "object"],
                    "spec": ["type": "object", "required": ["size"], "properties": [
                        "size": ["type": "integer", "minimum": 1], "mode": ["type": "string", "default": "fast"],
                    ]],
                    "status": ["type": "object", "properties": ["phase": ["type": "string"]]],
                ]]],
            ]],
        ],
    ]

    static var widgets: ResourceType {
        get throws { try #require(ResourceRegistry.resourceType(fromCRD: crd)) }
    }

    static let now = "2026-01-01T00:00:00Z"

    static func namespace(_ name: String, terminating: Bool = false) -> JSONValue {
        var metadata: [String: JSONValue] = ["name": .string(name)]
        if terminating { metadata["deletionTimestamp"] = .string(now) }
        return ["apiVersion": "v1", "kind": "Namespace", "metadata": .object(metadata)]
    }

    /// A store with namespaces `ns` and `gone` (terminating) and a widget `taken` in `ns`.
    static let store = ObjectStore(historyCapacity: 10, objects: [
        ResourceRegistry.namespaces.storageKey: ["/ns": namespace("ns"), "/gone": namespace("gone", terminating: true)],
        "example.com/widgets": ["ns/taken": widget("taken")],
    ])

    static func widget(_ name: String, size: JSONValue = 2, extra: [String: JSONValue] = [:]) -> JSONValue {
        var object: [String: JSONValue] = ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": .string(name)], "spec": ["size": size]]
        for (key, value) in extra { object[key] = value }
        return .object(object)
    }

    static func create(_ body: JSONValue, type: ResourceType? = nil, namespace: String? = "ns", fieldValidation: String = "") throws -> JSONValue {
        try Admission.create(body, type: type ?? widgets, version: "v1", namespace: namespace, manager: "tester", fieldValidation: fieldValidation,
                             applyManager: false, store: store, uid: { "uid-1" }, now: { now }, nameSuffix: { "xyz12" })
    }

    /// A widget as stored: created, then given a resourceVersion.
    static func stored(_ name: String = "w", rv: String = "7", extra: [String: JSONValue] = [:]) throws -> JSONValue {
        var object = try create(widget(name, extra: extra))
        object["metadata"]?["resourceVersion"] = .string(rv)
        return object
    }

    static func update(_ candidate: JSONValue, of old: JSONValue, subresource: Subresource = .main, requireVersion: Bool = false) throws -> Admission.UpdateOutcome {
        try Admission.update(candidate, of: old, type: widgets, version: "v1", subresource: subresource, manager: "editor",
                             fieldValidation: "", isApply: false, requireVersion: requireVersion, now: { now })
    }

    static func stored(_ outcome: Admission.UpdateOutcome) -> JSONValue? {
        if case .store(let object) = outcome { return object }
        return nil
    }

    // MARK: Create

    @Test("a create fills in what the server owns: uid, creation time, namespace, generation, defaults and managedFields")
    func createFillsIn() throws {
        let created = try Self.create(Self.widget("w"))
        let metadata = try #require(created["metadata"])
        #expect(metadata["uid"] == "uid-1")
        #expect(metadata["creationTimestamp"] == .string(Self.now))
        #expect(metadata["namespace"] == "ns")
        #expect(metadata["generation"] == 1)
        #expect(created["spec"]?["mode"] == "fast")
        let entries = ManagedFields.entries(of: created)
        #expect(entries.map(\.manager) == ["tester"])
        #expect(entries.first?.operation == "Update")
        #expect(entries.first?.fields.contains(["spec", "size"]) == true)
    }

    @Test("generateName gets a suffix; status sent to a custom resource with a status subresource is dropped")
    func generateNameAndStatus() throws {
        let created = try Self.create(["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["generateName": "w-"],
                                       "spec": ["size": 1], "status": ["phase": "Made up"]])
        #expect(created["metadata"]?["name"] == "w-xyz12")
        #expect(created["status"] == nil)
    }

    @Test("a create is refused as kube-apiserver refuses it", arguments: [
        ("missing namespace", widget("w"), "nowhere", 404, "NotFound"),
        ("terminating namespace", widget("w"), "gone", 403, "Forbidden"),
        ("name taken", widget("taken"), "ns", 409, "AlreadyExists"),
        ("no name", ["apiVersion": "example.com/v1", "kind": "Widget", "spec": ["size": 1]], "ns", 422, "Invalid"),
        ("invalid name", widget("Not_A_Name"), "ns", 422, "Invalid"),
        ("resourceVersion set", ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w", "resourceVersion": "3"], "spec": ["size": 1]],
         "ns", 400, "BadRequest"),
        ("other kind", ["apiVersion": "example.com/v1", "kind": "Gadget", "metadata": ["name": "w"]], "ns", 400, "BadRequest"),
        ("other namespace in the body", ["apiVersion": "example.com/v1", "kind": "Widget", "metadata": ["name": "w", "namespace": "x"], "spec": ["size": 1]],
         "ns", 400, "BadRequest"),
        ("schema violated", widget("w", size: 0), "ns", 422, "Invalid"),
    ] as [(String, JSONValue, String, Int, String)])
    func createRefused(_ case: String, body: JSONValue, namespace: String, code: Int, reason: String) {
        let error = #expect(throws: APIError.self, "\(`case`)") { try Self.create(body, namespace: namespace) }
        #expect(error?.code == code, "\(`case`)")
        #expect(error?.reason == reason, "\(`case`)")
    }

    @Test("unknown fields are pruned, or refused with fieldValidation=Strict")
    func unknownFields() throws {
        let body = Self.widget("w", extra: ["spec": ["size": 1, "colour": "red"]])
        #expect(try Self.create(body)["spec"]?["colour"] == nil)
        let error = #expect(throws: APIError.self) { try Self.create(body, fieldValidation: "Strict") }
        #expect(error?.code == 400)
        #expect(error?.message.contains("unknown field \"spec.colour\"") == true)
    }

    @Test("schema violations are 422 with one cause per field")
    func schemaCauses() {
        let error = #expect(throws: APIError.self) { try Self.create(Self.widget("w", size: 0)) }
        #expect(error?.details?["causes"]?.arrayValue?.compactMap { $0["field"]?.stringValue } == ["spec.size"])
    }

    @Test("a Secret's stringData is folded into base64 data, and its type defaults to Opaque")
    func secrets() throws {
        let created = try Self.create(["metadata": ["name": "s"], "stringData": ["password": "hunter2"]], type: ResourceRegistry.secrets)
        #expect(created["data"]?["password"] == .string(Data("hunter2".utf8).base64EncodedString()))
        #expect(created["stringData"] == nil)
        #expect(created["type"] == "Opaque")
    }

    // MARK: Update

    @Test("a stale resourceVersion is 409; a PUT of a custom resource without one is 422, a patch without one is fine")
    func resourceVersionPreconditions() throws {
        let old = try Self.stored()
        var candidate = old
        candidate["spec"]?["size"] = 3
        candidate["metadata"]?["resourceVersion"] = "6"
        #expect((#expect(throws: APIError.self) { try Self.update(candidate, of: old) })?.code == 409)
        candidate["metadata"]?["resourceVersion"] = nil
        #expect((#expect(throws: APIError.self) { try Self.update(candidate, of: old, requireVersion: true) })?.code == 422)
        #expect(Self.stored(try Self.update(candidate, of: old))?["spec"]?["size"] == 3)
    }

    @Test("generation changes with the spec, not with metadata or status")
    func generation() throws {
        let old = try Self.stored()
        var labelled = old
        labelled["metadata"]?["labels"] = ["app": "x"]
        #expect(Self.stored(try Self.update(labelled, of: old))?["metadata"]?["generation"] == 1)
        var resized = old
        resized["spec"]?["size"] = 5
        #expect(Self.stored(try Self.update(resized, of: old))?["metadata"]?["generation"] == 2)
    }

    @Test("a write to /status changes only status; a write to the object leaves status alone")
    func statusSubresource() throws {
        let old = try Self.stored()
        var candidate = old
        candidate["spec"]?["size"] = 9
        candidate["status"] = ["phase": "Ready"]
        let status = try #require(Self.stored(try Self.update(candidate, of: old, subresource: .status)))
        #expect(status["status"]?["phase"] == "Ready")
        #expect(status["spec"]?["size"] == 2)
        #expect(ManagedFields.entries(of: status).contains { $0.manager == "editor" && $0.subresource == "status" })
        let main = try #require(Self.stored(try Self.update(candidate, of: old)))
        #expect(main["status"] == nil)
        #expect(main["spec"]?["size"] == 9)
    }

    @Test("a write that changes nothing is a no-op")
    func noOp() throws {
        let old = try Self.stored()
        guard case .unchanged = try Self.update(old, of: old) else {
            Issue.record("expected a no-op")
            return
        }
    }

    @Test("while an object is being deleted no finalizer may be added; removing the last one removes the object")
    func finalizersWhileDeleting() throws {
        let live = try Self.stored(extra: ["metadata": ["name": "w", "finalizers": ["example.com/a"]]])
        let deleting = Admission.markedForDeletion(live, type: try Self.widgets, now: Self.now)
        var added = deleting
        added["metadata"]?["finalizers"] = ["example.com/a", "example.com/b"]
        let error = #expect(throws: APIError.self) { try Self.update(added, of: deleting) }
        #expect(error?.code == 422)
        #expect(error?.details?["causes"]?[0]?["field"] == "metadata.finalizers")
        var released = deleting
        released["metadata"]?["finalizers"] = []
        guard case .remove(let final) = try Self.update(released, of: deleting) else {
            Issue.record("expected the object to be removed")
            return
        }
        #expect(final["metadata"]?["deletionTimestamp"] == .string(Self.now))
    }

    // MARK: Delete

    @Test("an object with finalizers is marked for deletion once, then waits; one without is removed")
    func deletion() throws {
        let plain = try Self.stored()
        #expect(Admission.deletion(of: plain) == .remove)
        let finalized = try Self.stored(extra: ["metadata": ["name": "w", "finalizers": ["example.com/a"]]])
        #expect(Admission.deletion(of: finalized) == .markForDeletion)
        #expect(Admission.deletion(of: finalized, honourFinalizers: false) == .remove)
        let marked = Admission.markedForDeletion(finalized, type: try Self.widgets, now: Self.now)
        #expect(marked["metadata"]?["deletionTimestamp"] == .string(Self.now))
        #expect(marked["metadata"]?["deletionGracePeriodSeconds"] == 0)
        #expect(marked["metadata"]?["generation"] == 2)
        #expect(Admission.deletion(of: marked) == .alreadyPending)
    }

    @Test("delete preconditions on uid and resourceVersion are 409 when they do not hold")
    func preconditions() throws {
        let old = try Self.stored()
        try Admission.checkPreconditions(["preconditions": ["uid": "uid-1", "resourceVersion": "7"]], of: old, type: try Self.widgets)
        try Admission.checkPreconditions(nil, of: old, type: try Self.widgets)
        for options in [["preconditions": ["uid": "other"]], ["preconditions": ["resourceVersion": "6"]]] as [JSONValue] {
            let error = #expect(throws: APIError.self) { try Admission.checkPreconditions(options, of: old, type: try Self.widgets) }
            #expect(error?.code == 409)
        }
    }

    @Test("a namespace being deleted is Terminating")
    func terminatingNamespace() {
        let terminating = Admission.terminating(namespace: Self.namespace("ns"), now: Self.now)
        #expect(terminating["status"]?["phase"] == "Terminating")
        #expect(terminating["metadata"]?["deletionTimestamp"] == .string(Self.now))
    }
}
