import CRDModels
import Foundation
import JSONSchemaKit
import KubernetesClient
import KubernetesModels
import Testing

@Suite("The request layer builds requests without I/O")
struct RequestTests {
    let configMaps = ResourceRequests<ConfigMap>(namespace: "default")
    let nodes = ResourceRequests<TinyNode>(namespace: "flows")

    @Test("paths for core, grouped, namespaced and cluster-scoped kinds")
    func paths() {
        #expect(configMaps.get("a").path == "/api/v1/namespaces/default/configmaps/a")
        #expect(nodes.get("n").path == "/apis/tinyflow.dev/v1alpha1/namespaces/flows/tinynodes/n")
        #expect(ResourceRequests<TinyNode>(namespace: nil).list().path == "/apis/tinyflow.dev/v1alpha1/tinynodes")
        #expect(ResourceRequests<CustomResourceDefinition>(namespace: "ignored").get("x").path
            == "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x")
        #expect(nodes.get("n", subresource: "status").path == "/apis/tinyflow.dev/v1alpha1/namespaces/flows/tinynodes/n/status")
        #expect(nodes.get("n").resource == "tinynodes \"n\" in namespace \"flows\"")
    }

    @Test("list carries limit, continue and selectors, percent-encoded")
    func listQuery() {
        let request = configMaps.list(ListParameters(labelSelector: "app in (a,b),tier!=db", limit: 50, continue: "tok/en=="))
        #expect(request.method == "GET")
        #expect(request.verb == .list)
        #expect(request.pathAndQuery == "/api/v1/namespaces/default/configmaps?labelSelector=app%20in%20%28a%2Cb%29%2Ctier%21%3Ddb&limit=50&continue=tok%2Fen%3D%3D")
        #expect(request.isIdempotent)
    }

    @Test("watch asks for bookmarks from a resourceVersion with a timeout")
    func watchQuery() {
        let request = nodes.watch(WatchParameters(timeoutSeconds: 60), resourceVersion: "1234")
        #expect(request.pathAndQuery == "/apis/tinyflow.dev/v1alpha1/namespaces/flows/tinynodes?watch=true&resourceVersion=1234&allowWatchBookmarks=true&timeoutSeconds=60")
        #expect(request.verb == .watch)
    }

    @Test("create posts JSON; replace puts it; neither is retried on 5xx unless idempotent")
    func createAndReplace() throws {
        var object = ConfigMap(metadata: ObjectMeta(name: "a"), data: ["k": "v"])
        let create = try configMaps.create(object, PostParameters(fieldManager: "tinyflow-operator", dryRun: true))
        #expect(create.method == "POST")
        #expect(create.contentType == "application/json")
        #expect(create.pathAndQuery == "/api/v1/namespaces/default/configmaps?dryRun=All&fieldManager=tinyflow-operator")
        #expect(!create.isIdempotent)
        let body = try JSONValue(parsing: try #require(create.body))
        #expect(body["data"]?["k"] == "v")
        #expect(body["kind"] == "ConfigMap")
        object.metadata.resourceVersion = "7"
        let replace = try configMaps.replace("a", object)
        #expect(replace.method == "PUT")
        #expect(replace.isIdempotent)
        #expect(try JSONValue(parsing: try #require(replace.body))["metadata"]?["resourceVersion"] == "7")
    }

    @Test("server-side apply sends apply-patch+yaml with fieldManager and force")
    func apply() throws {
        let request = try nodes.patch("n", .apply(["apiVersion": "tinyflow.dev/v1alpha1", "kind": "TinyNode"]), .apply("tinyflow-operator"))
        #expect(request.method == "PATCH")
        #expect(request.contentType == "application/apply-patch+yaml")
        #expect(request.queryValue("fieldManager") == "tinyflow-operator")
        #expect(request.queryValue("force") == "true")
        #expect(request.isIdempotent)
    }

    @Test("merge and JSON patches have their content types; JSON patch keeps test operations")
    func patches() throws {
        let merge = try nodes.patch("n", .merge(["spec": ["module": "http"]]), subresource: "status")
        #expect(merge.contentType == "application/merge-patch+json")
        #expect(merge.path.hasSuffix("/tinynodes/n/status"))
        #expect(merge.queryValue("force") == nil)
        #expect(!merge.isIdempotent)
        let json = try nodes.patch("n", .json([.test("/metadata/finalizers/0", "a"), .remove("/metadata/finalizers/0")]))
        #expect(json.contentType == "application/json-patch+json")
        let operations = try JSONValue(parsing: try #require(json.body))
        #expect(operations == [["op": "test", "path": "/metadata/finalizers/0", "value": "a"], ["op": "remove", "path": "/metadata/finalizers/0"]])
        #expect(JSONPatchOperation.escape("tinyflow.dev/cleanup~x") == "tinyflow.dev~1cleanup~0x")
    }

    @Test("delete sends DeleteOptions with propagation policy and preconditions")
    func delete() throws {
        let request = try configMaps.delete("a", DeleteOptions(
            propagationPolicy: .foreground, preconditions: .init(uid: "u-1", resourceVersion: "9")))
        #expect(request.method == "DELETE")
        let body = try JSONValue(parsing: try #require(request.body))
        #expect(body == ["apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground",
                         "preconditions": ["uid": "u-1", "resourceVersion": "9"]])
    }
}

@Suite("Watch framing and decoding", .timeLimit(.minutes(2)))
struct WatchDecodingTests {
    @Test("lines split across chunks are reassembled; blank lines are skipped")
    func lineSplitting() {
        var splitter = LineSplitter()
        #expect(splitter.append(Array("{\"a\":".utf8)).isEmpty)
        let lines = splitter.append(Array("1}\n\n{\"b\":2}\n{\"c\"".utf8))
        #expect(lines.map { String(decoding: $0, as: UTF8.self) } == ["{\"a\":1}", "{\"b\":2}"])
        #expect(splitter.finish().map { String(decoding: $0, as: UTF8.self) } == "{\"c\"")
        #expect(splitter.finish() == nil)
    }

    @Test("events decode by type; ERROR carries the Status; BOOKMARK its resourceVersion")
    func decoding() throws {
        let added = try WatchEvent<ConfigMap>(line: Data(#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"5"}}}"#.utf8))
        guard case .added(let object) = added else { Issue.record("expected ADDED"); return }
        #expect(object.metadata.name == "a")
        #expect(added.resourceVersion == "5")
        let bookmark = try WatchEvent<ConfigMap>(line: Data(#"{"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"9"}}}"#.utf8))
        #expect(bookmark.resourceVersion == "9")
        let error = try WatchEvent<ConfigMap>(line: Data(#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}"#.utf8))
        guard case .error(let status) = error else { Issue.record("expected ERROR"); return }
        #expect(status.isGone)
        #expect(status.code == 410)
    }

    @Test("a watch stream yields events as lines arrive and throws 410 ERROR events as gone")
    func streamGone() async throws {
        let body = ResponseBody(AsyncThrowingStream<[UInt8], any Error> { continuation in
            continuation.yield(Array(#"{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"5"}}}"#.utf8))
            continuation.yield(Array("\n{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\"}}\n".utf8))
            continuation.finish()
        }, transform: { $0 })
        var seen: [String] = []
        do {
            for try await event in WatchStreamProbe.stream(body) { seen.append(event.resourceVersion ?? "") }
            Issue.record("expected a 410")
        } catch let error as KubernetesError {
            #expect(error.isGone)
            #expect(error.verb == .watch)
        }
        #expect(seen == ["5"])
    }
}

/// Builds a watch stream over a canned body through a fake transport.
enum WatchStreamProbe {
    static func stream(_ body: ResponseBody) -> AsyncThrowingStream<WatchEvent<ConfigMap>, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let client = try KubernetesClient(
                        configuration: ClientConfiguration(server: URL(string: "http://fake") ?? URL(fileURLWithPath: "/")),
                        transport: BodyTransport(body: body))
                    let stream = try await client.api(ConfigMap.self).watch(resourceVersion: "1")
                    for try await event in stream { continuation.yield(event) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

struct BodyTransport: HTTPTransport {
    let body: ResponseBody
    func execute(_ request: TransportRequest) async throws -> TransportResponse {
        TransportResponse(status: 200, headers: [], body: body)
    }
    func shutdown() async throws {}
}
